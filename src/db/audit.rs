//! `audit_log`: who changed what, who read whose contact details, what retention erased.
//! Append-only — the database refuses UPDATE, DELETE and TRUNCATE (migration 000010) — so this
//! module only inserts and reads.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use super::schema::audit_log;
use crate::auth::AuthUser;
use crate::domain::account::Role;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<Role>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<String>,
    pub report_id: Option<Uuid>,
    pub subject_user_id: Option<Uuid>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
}

/// Who did it: a signed-in user, or the system itself (a background job).
#[derive(Debug, Clone, Copy)]
pub enum Actor {
    User { id: Uuid, role: Role },
    System,
}

impl From<&AuthUser> for Actor {
    fn from(u: &AuthUser) -> Self {
        Actor::User {
            id: u.id,
            role: u.role,
        }
    }
}

/// One line of the log, before it is written. `action` is `<entity>.<verb>`
/// (`category.update`, `contact.read`, `retention.anonymise`).
#[derive(Debug, Clone)]
pub struct Change {
    pub actor: Actor,
    pub action: &'static str,
    pub entity_type: &'static str,
    pub entity_id: Option<String>,
    pub report_id: Option<Uuid>,
    pub subject_user_id: Option<Uuid>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl Change {
    /// An admin change of `entity_type` `id`: what it was and what it became (either may be
    /// absent: a creation has no before, a deletion no after).
    pub fn of<B: Serialize, A: Serialize>(
        actor: impl Into<Actor>,
        action: &'static str,
        entity_type: &'static str,
        entity_id: impl ToString,
        before: Option<&B>,
        after: Option<&A>,
    ) -> Change {
        Change {
            actor: actor.into(),
            action,
            entity_type,
            entity_id: Some(entity_id.to_string()),
            report_id: None,
            subject_user_id: None,
            before: before.and_then(|b| serde_json::to_value(b).ok()),
            after: after.and_then(|a| serde_json::to_value(a).ok()),
        }
    }
}

/// Writes one line. Call it in the same transaction as the change, so a change is never
/// without its line nor a line without its change.
pub async fn record(conn: &mut AsyncPgConnection, change: Change) -> QueryResult<Uuid> {
    let (actor_id, actor_role) = match change.actor {
        Actor::User { id, role } => (Some(id), Some(role)),
        Actor::System => (None, None),
    };
    let id = Uuid::now_v7();
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::id.eq(id),
            audit_log::actor_id.eq(actor_id),
            audit_log::actor_role.eq(actor_role),
            audit_log::action.eq(change.action),
            audit_log::entity_type.eq(change.entity_type),
            audit_log::entity_id.eq(change.entity_id),
            audit_log::report_id.eq(change.report_id),
            audit_log::subject_user_id.eq(change.subject_user_id),
            audit_log::before.eq(change.before),
            audit_log::after.eq(change.after),
            audit_log::request_id.eq(crate::http_context::request_id()),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// What `GET /admin/audit` may filter on.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub report_id: Option<Uuid>,
    pub subject_user_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Keyset cursor: entries strictly older than this one.
    pub before: Option<(DateTime<Utc>, Uuid)>,
}

/// Newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: &AuditFilter,
    limit: i64,
) -> QueryResult<Vec<AuditEntry>> {
    let mut q = audit_log::table
        .select(AuditEntry::as_select())
        .order((audit_log::at.desc(), audit_log::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(a) = filter.actor_id {
        q = q.filter(audit_log::actor_id.eq(a));
    }
    if let Some(a) = &filter.action {
        q = q.filter(audit_log::action.eq(a.clone()));
    }
    if let Some(t) = &filter.entity_type {
        q = q.filter(audit_log::entity_type.eq(t.clone()));
    }
    if let Some(e) = &filter.entity_id {
        q = q.filter(audit_log::entity_id.eq(e.clone()));
    }
    if let Some(r) = filter.report_id {
        q = q.filter(audit_log::report_id.eq(r));
    }
    if let Some(s) = filter.subject_user_id {
        q = q.filter(audit_log::subject_user_id.eq(s));
    }
    if let Some(f) = filter.from {
        q = q.filter(audit_log::at.ge(f));
    }
    if let Some(t) = filter.to {
        q = q.filter(audit_log::at.lt(t));
    }
    if let Some((at, id)) = filter.before {
        q = q.filter(
            audit_log::at
                .lt(at)
                .or(audit_log::at.eq(at).and(audit_log::id.lt(id))),
        );
    }
    q.load(conn).await
}
