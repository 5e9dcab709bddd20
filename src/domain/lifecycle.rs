//! The report lifecycle as a pure function: (state, action, actor) → new state, or a typed
//! refusal (product.md, "Lifecycle of a report"; api.md, "Tickets"). Handlers and jobs only
//! apply what this decides, so the rules live in one place the tests can walk exhaustively.
//!
//! ```text
//! new ──accept──▶ accepted ──start──▶ in_progress ──resolve──▶ resolved ──(7 days)──▶ closed
//!  │                 │  ▲                 │  ▲                    │
//!  │                 │  └──── resume ─────┼──┘ on_hold ◀── hold ──┘(from accepted, in_progress, reopened)
//!  │                 │                    │                       └──reopen (reporter)──▶ reopened
//!  └─reject / mark_duplicate (from new, accepted, reopened) ──▶ rejected / duplicate
//! transfer (manager): any open state ──▶ new, in the other department; extend: any open state, unchanged
//! ```

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::report::ReportStatus;

/// What someone does to a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Staff take the report on (acknowledgement).
    Accept,
    /// Work starts.
    Start,
    /// Waiting on a third party (reason required).
    Hold,
    /// The third party answered.
    Resume,
    /// Done (public note required; "after" photos optional).
    Resolve,
    /// Not a field report, spam, or another channel's business (public reason required).
    Reject,
    /// To another department (manager); the deadline stays.
    Transfer,
    /// The same problem as another report, which its reporter now follows.
    MarkDuplicate,
    /// A longer deadline, once (manager, reason required).
    Extend,
    /// The reporter says it was not really fixed (within 7 days of resolution).
    Reopen,
    /// Seven days after resolution without a reopen (the system).
    Close,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Action::Accept,
        Action::Start,
        Action::Hold,
        Action::Resume,
        Action::Resolve,
        Action::Reject,
        Action::Transfer,
        Action::MarkDuplicate,
        Action::Extend,
        Action::Reopen,
        Action::Close,
    ];

    /// The wire and timeline name (`mark_duplicate`), as serde spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Start => "start",
            Action::Hold => "hold",
            Action::Resume => "resume",
            Action::Resolve => "resolve",
            Action::Reject => "reject",
            Action::Transfer => "transfer",
            Action::MarkDuplicate => "mark_duplicate",
            Action::Extend => "extend",
            Action::Reopen => "reopen",
            Action::Close => "close",
        }
    }
}

/// Who acts, as far as the lifecycle cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// Staff of the handling department.
    Staff,
    /// A manager of the handling department.
    Manager,
    Admin,
    /// The resident who submitted the report.
    Reporter,
    /// A background job (auto-close).
    System,
}

impl Actor {
    pub const ALL: [Actor; 5] = [
        Actor::Staff,
        Actor::Manager,
        Actor::Admin,
        Actor::Reporter,
        Actor::System,
    ];
}

/// Why an action was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// This actor may never take this action (403).
    #[error("{actor:?} may not {action:?}")]
    NotPermitted { action: Action, actor: Actor },
    /// The action makes no sense in the current state (409 `invalid_transition`).
    #[error("cannot {action:?} a report that is {from:?}")]
    InvalidTransition { action: Action, from: ReportStatus },
}

/// What an action must carry besides itself (checked by the handler, stated here once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    pub public_note: bool,
    /// A reason (internal or public) for hold, extend, reopen.
    pub reason: bool,
    pub department: bool,
    pub duplicate_of: bool,
    pub extend_by: bool,
}

pub fn needs(action: Action) -> Needs {
    let none = Needs::default();
    match action {
        Action::Resolve | Action::Reject => Needs {
            public_note: true,
            ..none
        },
        Action::Hold | Action::Reopen => Needs {
            reason: true,
            ..none
        },
        Action::Transfer => Needs {
            department: true,
            ..none
        },
        Action::MarkDuplicate => Needs {
            duplicate_of: true,
            ..none
        },
        Action::Extend => Needs {
            reason: true,
            extend_by: true,
            ..none
        },
        Action::Accept | Action::Start | Action::Resume | Action::Close => none,
    }
}

fn permitted(action: Action, actor: Actor) -> bool {
    use Action::*;
    use Actor::*;
    match action {
        Accept | Start | Hold | Resume | Resolve | Reject | MarkDuplicate => {
            matches!(actor, Staff | Manager | Admin)
        }
        Transfer | Extend => matches!(actor, Manager | Admin),
        Reopen => actor == Reporter,
        Close => actor == System,
    }
}

/// The state after `action`, or why not.
pub fn transition(
    from: ReportStatus,
    action: Action,
    actor: Actor,
) -> Result<ReportStatus, Refusal> {
    use Action::*;
    use ReportStatus as S;
    if !permitted(action, actor) {
        return Err(Refusal::NotPermitted { action, actor });
    }
    let to = match (action, from) {
        (Accept, S::New | S::Reopened) => S::Accepted,
        (Start, S::Accepted | S::Reopened) => S::InProgress,
        (Hold, S::Accepted | S::InProgress | S::Reopened) => S::OnHold,
        (Resume, S::OnHold) => S::InProgress,
        (Resolve, S::Accepted | S::InProgress | S::Reopened) => S::Resolved,
        (Reject, S::New | S::Accepted | S::Reopened) => S::Rejected,
        (MarkDuplicate, S::New | S::Accepted | S::Reopened) => S::Duplicate,
        // The receiving department starts from the beginning; the deadline is kept elsewhere.
        (Transfer, s) if s.is_open() => S::New,
        (Extend, s) if s.is_open() => s,
        (Reopen, S::Resolved) => S::Reopened,
        (Close, S::Resolved) => S::Closed,
        _ => return Err(Refusal::InvalidTransition { action, from }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use std::collections::{HashSet, VecDeque};

    use super::*;
    use ReportStatus as S;

    const TERMINAL: [ReportStatus; 3] = [S::Closed, S::Rejected, S::Duplicate];

    #[test]
    fn the_happy_path_and_a_reopen() {
        let mut s = S::New;
        for (action, actor) in [
            (Action::Accept, Actor::Staff),
            (Action::Start, Actor::Staff),
            (Action::Resolve, Actor::Staff),
            (Action::Reopen, Actor::Reporter),
            (Action::Start, Actor::Staff),
            (Action::Resolve, Actor::Manager),
            (Action::Close, Actor::System),
        ] {
            s = transition(s, action, actor).unwrap();
        }
        assert_eq!(s, S::Closed);
    }

    #[test]
    fn terminal_states_refuse_everything() {
        for from in TERMINAL {
            for action in Action::ALL {
                for actor in Actor::ALL {
                    assert!(
                        transition(from, action, actor).is_err(),
                        "{from:?} {action:?} {actor:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn who_may_do_what() {
        for from in ReportStatus::ALL {
            for action in Action::ALL {
                for actor in Actor::ALL {
                    let Ok(_) = transition(from, action, actor) else {
                        continue;
                    };
                    match actor {
                        Actor::Reporter => assert_eq!(action, Action::Reopen),
                        Actor::System => assert_eq!(action, Action::Close),
                        Actor::Staff => {
                            assert!(!matches!(
                                action,
                                Action::Transfer | Action::Extend | Action::Reopen | Action::Close
                            ))
                        }
                        Actor::Manager | Actor::Admin => {
                            assert!(!matches!(action, Action::Reopen | Action::Close))
                        }
                    }
                }
            }
        }
        // A refusal for the wrong actor is "not permitted" whatever the state, so a caller learns
        // nothing about a report's state from an action it may never take.
        assert_eq!(
            transition(S::Resolved, Action::Close, Actor::Admin),
            Err(Refusal::NotPermitted {
                action: Action::Close,
                actor: Actor::Admin
            })
        );
    }

    #[test]
    fn only_a_reopen_brings_a_finished_report_back() {
        for from in ReportStatus::ALL.into_iter().filter(|s| !s.is_open()) {
            for action in Action::ALL {
                for actor in Actor::ALL {
                    if let Ok(to) = transition(from, action, actor)
                        && to.is_open()
                    {
                        assert_eq!(
                            (from, action, to),
                            (S::Resolved, Action::Reopen, S::Reopened)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn transfer_restarts_and_extend_keeps_the_state() {
        for from in ReportStatus::OPEN {
            assert_eq!(
                transition(from, Action::Transfer, Actor::Manager),
                Ok(S::New)
            );
            assert_eq!(transition(from, Action::Extend, Actor::Admin), Ok(from));
            assert!(transition(from, Action::Transfer, Actor::Staff).is_err());
        }
        assert!(transition(S::Resolved, Action::Transfer, Actor::Manager).is_err());
    }

    #[test]
    fn every_open_state_can_still_be_finished_by_staff() {
        // Liveness: from any open state, staff alone can reach resolved and a final state.
        for start in ReportStatus::OPEN {
            let mut seen = HashSet::from([start]);
            let mut queue = VecDeque::from([start]);
            while let Some(s) = queue.pop_front() {
                for action in Action::ALL {
                    if let Ok(to) = transition(s, action, Actor::Staff)
                        && seen.insert(to)
                    {
                        queue.push_back(to);
                    }
                }
            }
            assert!(seen.contains(&S::Resolved), "{start:?} cannot be resolved");
            assert!(
                seen.contains(&S::Rejected) || start == S::OnHold || start == S::InProgress,
                "{start:?}"
            );
        }
    }

    #[test]
    fn names_are_the_serde_names() {
        for a in Action::ALL {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
    }

    #[test]
    fn notes_that_actions_require() {
        assert!(needs(Action::Resolve).public_note && needs(Action::Reject).public_note);
        assert!(needs(Action::Hold).reason && needs(Action::Reopen).reason);
        assert!(needs(Action::Extend).reason && needs(Action::Extend).extend_by);
        assert!(needs(Action::Transfer).department && needs(Action::MarkDuplicate).duplicate_of);
        assert_eq!(needs(Action::Accept), Needs::default());
        let json = serde_json::to_string(&Action::MarkDuplicate).unwrap();
        assert_eq!(json, "\"mark_duplicate\"");
    }
}
