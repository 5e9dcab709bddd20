//! Synthetic history for benchmarks (`phananh synth`): reports with realistic places, category
//! mix, seasonal volume and lifecycles, their timelines and their ratings. Pure: the caller
//! loads areas, categories, routes and the calendar, and writes what comes out.
//!
//! Everything is drawn from one seeded generator, so a seed and a moment ("now") always give the
//! same history. How it is drawn:
//! - **When**: a day from the history span weighted by season (more in the rainy season,
//!   May–October), weekday (fewer at weekends), Tết (a dip around the lunar new year) and a slow
//!   growth of use; then a time of day, mostly 06:00–21:00 local time.
//! - **What and where**: a category by base weight (roads, waste, lighting, water most common;
//!   security, forest, disaster rare) adjusted by season; an area by its size; a point uniform
//!   inside its polygon (rejection sampling in its bounding box), or within 2 km of its centroid
//!   when it has no boundary.
//! - **What happened**: the whole lifecycle as it would unfold (acknowledgement after a
//!   lognormal few working hours, resolution around 60 % of the deadline with a tail past it,
//!   some holds, some reopens, rejections, duplicates, the automatic close 7 days after
//!   resolution), then cut at "now": old reports are closed, recent ones still open. The marks
//!   the deadline job would have made (`ack_overdue`, `overdue`) are added where it would have
//!   made them.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use uuid::Uuid;

use super::account::Role;
use super::calendar::{MINUTES_PER_DAY, WorkingCalendar, vietnam};
use super::catalog::DeadlineUnit;
use super::geometry::{Boundary, BoundingBox, Coordinates};
use super::report::{ReportStatus, routing_reason};
use super::tracking_code::TrackingCode;

/// Without a boundary, points fall within this distance of the area's centroid.
pub const CENTROID_RADIUS_M: f64 = 2_000.0;

/// What the history is drawn from, besides the database's reference data.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seed: u64,
    pub reports: usize,
    /// The end of the history (the moment the reports are "seen").
    pub now: DateTime<Utc>,
    pub years: u32,
    pub ack_working_hours: u32,
    pub auto_close_days: u32,
    pub reopen_days: u32,
}

/// An area reports can come from.
#[derive(Debug, Clone)]
pub struct AreaInput {
    pub id: Uuid,
    /// As a sentence uses it ("xã Ka Đô").
    pub label: String,
    pub centroid: Coordinates,
    pub boundary: Option<Boundary>,
}

#[derive(Debug, Clone)]
pub struct CategoryInput {
    pub id: Uuid,
    pub code: String,
    pub name_vi: String,
    pub deadline_amount: i32,
    pub deadline_unit: DeadlineUnit,
}

/// Where reports of one (category, area) pair go, as routing decided.
#[derive(Debug, Clone)]
pub struct RouteInput {
    pub department_id: Uuid,
    pub department_name: String,
    pub rule_id: Option<Uuid>,
    pub rule_number: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct World {
    pub areas: Vec<AreaInput>,
    pub categories: Vec<CategoryInput>,
    /// One per (category, area): index `category * areas.len() + area`.
    pub routes: Vec<RouteInput>,
    /// Residents who submit the reports (none: reports without a reporter).
    pub reporters: Vec<Uuid>,
    pub calendar: WorkingCalendar,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SynthError {
    #[error("no area to put reports in (run `phananh seed` or `phananh areas import` first)")]
    NoAreas,
    #[error("no active category (run `phananh seed` first)")]
    NoCategories,
    #[error("one route per (category, area) pair is needed: {expected} expected, {got} given")]
    Routes { expected: usize, got: usize },
    #[error("the history must span at least one year")]
    NoYears,
}

/// One report as it stands at `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub id: Uuid,
    pub tracking_code: String,
    pub reporter_id: Option<Uuid>,
    pub anonymous: bool,
    pub category_id: Uuid,
    pub area_id: Uuid,
    pub department_id: Uuid,
    pub routing_rule_id: Option<Uuid>,
    pub routing_reason: String,
    pub status: ReportStatus,
    pub description: String,
    pub address: Option<String>,
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    pub consent_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub duplicate_of: Option<Uuid>,
    pub ack_due_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub ack_overdue_at: Option<DateTime<Utc>>,
    pub overdue_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub reopen_count: i32,
    pub ack_working_minutes: Option<i32>,
    pub resolve_working_minutes: Option<i32>,
}

/// One timeline entry, as the handlers and jobs write them.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub report_id: Uuid,
    pub area_id: Uuid,
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<Role>,
    pub action: &'static str,
    pub from_status: Option<ReportStatus>,
    pub to_status: ReportStatus,
    pub public_note: Option<String>,
    pub created_at: DateTime<Utc>,
    /// `mark_duplicate`: the original (the event's `details`).
    pub duplicate_of: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    pub report_id: Uuid,
    /// The report's reopen count when rated: 0 for the first resolution.
    pub cycle: i32,
    pub user_id: Option<Uuid>,
    pub score: i16,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Consecutive reports (in submission order) with their events and ratings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub reports: Vec<Report>,
    pub events: Vec<Event>,
    pub ratings: Vec<Rating>,
}

/// A recent report of a (category, area) pair that a later one can duplicate.
#[derive(Debug, Clone)]
struct Original {
    id: Uuid,
    tracking_code: String,
    created_at: DateTime<Utc>,
}

struct PreparedArea {
    input: AreaInput,
    bbox: Option<BoundingBox>,
}

/// Draws the history batch by batch, in submission order.
pub struct Generator {
    settings: Settings,
    areas: Vec<PreparedArea>,
    categories: Vec<CategoryInput>,
    routes: Vec<RouteInput>,
    /// Routing reason per (category, area) for points inside the area.
    reasons: Vec<String>,
    reporters: Vec<Uuid>,
    calendar: WorkingCalendar,
    rng: StdRng,
    /// Submission moments, ascending; `next` is the next to use.
    times: Vec<DateTime<Utc>>,
    next: usize,
    area_cumulative: Vec<f64>,
    /// Category cumulative weights, dry season and rainy season.
    category_cumulative: [Vec<f64>; 2],
    recent: HashMap<usize, VecDeque<Original>>,
    codes: HashSet<String>,
}

impl Generator {
    /// `taken_codes`: tracking codes already in use (the database's), never generated again.
    pub fn new(
        settings: Settings,
        world: World,
        taken_codes: HashSet<String>,
    ) -> Result<Self, SynthError> {
        if world.areas.is_empty() {
            return Err(SynthError::NoAreas);
        }
        if world.categories.is_empty() {
            return Err(SynthError::NoCategories);
        }
        let expected = world.areas.len() * world.categories.len();
        if world.routes.len() != expected {
            return Err(SynthError::Routes {
                expected,
                got: world.routes.len(),
            });
        }
        if settings.years == 0 {
            return Err(SynthError::NoYears);
        }
        let mut rng = StdRng::seed_from_u64(settings.seed);
        let times = submission_times(&mut rng, settings.reports, settings.now, settings.years);
        let areas: Vec<PreparedArea> = world
            .areas
            .into_iter()
            .map(|a| PreparedArea {
                bbox: a.boundary.as_ref().map(Boundary::bbox),
                input: a,
            })
            .collect();
        // Bigger communes see more reports; one without a boundary counts as a 2 km disc.
        let disc = std::f64::consts::PI * (CENTROID_RADIUS_M / 111_320.0).powi(2);
        let area_cumulative = cumulative(areas.iter().map(|a| {
            a.input
                .boundary
                .as_ref()
                .map_or(disc, Boundary::area_sq_deg)
        }));
        let category_cumulative = [false, true].map(|rainy| {
            cumulative(
                world
                    .categories
                    .iter()
                    .map(|c| category_weight(&c.code, rainy)),
            )
        });
        let mut reasons = Vec::with_capacity(expected);
        for (c, category) in world.categories.iter().enumerate() {
            for (a, area) in areas.iter().enumerate() {
                let r = &world.routes[c * areas.len() + a];
                reasons.push(routing_reason(
                    &category.name_vi,
                    &area.input.label,
                    None,
                    &r.department_name,
                    r.rule_number,
                ));
            }
        }
        Ok(Generator {
            settings,
            areas,
            categories: world.categories,
            routes: world.routes,
            reasons,
            reporters: world.reporters,
            calendar: world.calendar,
            rng,
            times,
            next: 0,
            area_cumulative,
            category_cumulative,
            recent: HashMap::new(),
            codes: taken_codes,
        })
    }

    /// Reports not yet drawn.
    pub fn remaining(&self) -> usize {
        self.times.len() - self.next
    }

    /// The next `max` reports (fewer at the end; none when done).
    pub fn next_batch(&mut self, max: usize) -> Batch {
        let mut batch = Batch::default();
        let end = (self.next + max).min(self.times.len());
        while self.next < end {
            let at = self.times[self.next];
            self.next += 1;
            self.report(at, &mut batch);
        }
        batch
    }

    fn report(&mut self, created_at: DateTime<Utc>, batch: &mut Batch) {
        let local = created_at.with_timezone(&vietnam()).date_naive();
        let rainy = usize::from(is_rainy(local.month()));
        let c = pick(&mut self.rng, &self.category_cumulative[rainy]);
        let a = pick(&mut self.rng, &self.area_cumulative);
        let pair = c * self.areas.len() + a;
        let (at, centroid_distance) = self.point(a);
        let id = uuid_at(&mut self.rng, created_at);
        let tracking_code = loop {
            let code = TrackingCode::generate_with(&mut self.rng);
            if self.codes.insert(code.as_str().to_owned()) {
                break code.as_str().to_owned();
            }
        };
        let reporter_id = (!self.reporters.is_empty()).then(|| {
            // A few residents report a lot, most only now and then.
            let u: f64 = self.rng.random();
            self.reporters[((u * u) * self.reporters.len() as f64) as usize % self.reporters.len()]
        });
        let category = &self.categories[c];
        let area = &self.areas[a].input;
        let route = &self.routes[pair];
        let routing_reason = match centroid_distance {
            None => self.reasons[pair].clone(),
            Some(distance_m) => routing_reason(
                &category.name_vi,
                &area.label,
                super::routing::Placement::NearestCentroid { distance_m }.note(),
                &route.department_name,
                route.rule_number,
            ),
        };
        let description = description(&mut self.rng, &category.code, &category.name_vi);
        let address = (self.rng.random::<f64>() < 0.65).then(|| {
            if self.rng.random::<f64>() < 0.3 {
                let road = ["Quốc lộ 27", "Quốc lộ 27C"][self.rng.random_range(0..2)];
                format!(
                    "Km {}, {road}, {}",
                    self.rng.random_range(150..260),
                    area.label
                )
            } else {
                format!("Thôn {}, {}", self.rng.random_range(1..=14), area.label)
            }
        });
        let accuracy_m = (self.rng.random::<f64>() < 0.9)
            .then(|| (lognormal(&mut self.rng, 8.0, 0.6) * 10.0).round() / 10.0);
        let anonymous = self.rng.random::<f64>() < 0.05;
        let deadline_minutes = match category.deadline_unit {
            DeadlineUnit::WorkingDays => i64::from(category.deadline_amount) * MINUTES_PER_DAY,
            DeadlineUnit::WorkingHours => i64::from(category.deadline_amount) * 60,
        }
        .max(1);
        let due_at = self
            .calendar
            .add_working_minutes(created_at, deadline_minutes);
        let ack_due_at = self
            .calendar
            .add_working_minutes(created_at, i64::from(self.settings.ack_working_hours) * 60);

        // A recent report of the same kind in the same place that this one may repeat.
        let recent = self.recent.entry(pair).or_default();
        while recent
            .front()
            .is_some_and(|o| created_at - o.created_at > Duration::days(14))
        {
            recent.pop_front();
        }
        let original =
            (!recent.is_empty()).then(|| recent[self.rng.random_range(0..recent.len())].clone());

        let mut life = Lifecycle {
            rng: &mut self.rng,
            calendar: &self.calendar,
            settings: &self.settings,
            created_at,
            due_at,
            deadline_minutes,
            steps: Vec::new(),
            ratings: Vec::new(),
        };
        life.unfold(original.as_ref());
        let Lifecycle { steps, ratings, .. } = life;
        let seen = Seen::cut(
            &self.settings,
            steps,
            ratings,
            created_at,
            ack_due_at,
            due_at,
            &mut self.rng,
        );

        let area_id = area.id;
        let reporter_role = reporter_id.map(|_| Role::Citizen);
        let mut last = created_at;
        for (i, e) in seen.events.iter().enumerate() {
            let (actor_id, actor_role) = match e.actor {
                Actor::Reporter => (reporter_id, reporter_role),
                Actor::Staff => (None, Some(Role::Staff)),
                Actor::System => (None, None),
            };
            let public_note = if i == 0 {
                Some(routing_reason.clone())
            } else {
                e.note.clone()
            };
            batch.events.push(Event {
                id: uuid_at(&mut self.rng, e.at),
                report_id: id,
                area_id,
                actor_id,
                actor_role,
                action: e.action,
                from_status: e.from,
                to_status: e.to,
                public_note,
                created_at: e.at,
                duplicate_of: e.duplicate_of,
            });
            last = last.max(e.at);
        }
        for r in &seen.ratings {
            let comment = (self.rng.random::<f64>() < 0.3).then(|| rating_comment(r.score));
            batch.ratings.push(Rating {
                report_id: id,
                cycle: r.cycle,
                user_id: reporter_id,
                score: r.score,
                comment: comment.map(str::to_owned),
                created_at: r.at,
            });
        }
        let working = |to: Option<DateTime<Utc>>| {
            to.map(|t| {
                i32::try_from(self.calendar.working_minutes_between(created_at, t))
                    .unwrap_or(i32::MAX)
            })
        };
        let report = Report {
            id,
            tracking_code: tracking_code.clone(),
            reporter_id,
            anonymous,
            category_id: category.id,
            area_id,
            department_id: route.department_id,
            routing_rule_id: route.rule_id,
            routing_reason,
            status: seen.status,
            description,
            address,
            lat: at.lat,
            lon: at.lon,
            accuracy_m,
            consent_at: created_at,
            due_at,
            version: seen.version,
            created_at,
            updated_at: last,
            duplicate_of: seen.duplicate_of,
            ack_due_at,
            accepted_at: seen.accepted_at,
            ack_overdue_at: seen.ack_overdue_at,
            overdue_at: seen.overdue_at,
            resolved_at: seen.resolved_at,
            closed_at: seen.closed_at,
            reopen_count: seen.reopen_count,
            ack_working_minutes: working(seen.accepted_at),
            resolve_working_minutes: working(seen.resolved_at),
        };
        if seen.duplicate_of.is_none() && !seen.will_be_duplicate {
            let recent = self.recent.entry(pair).or_default();
            recent.push_back(Original {
                id,
                tracking_code,
                created_at,
            });
            if recent.len() > 32 {
                recent.pop_front();
            }
        }
        batch.reports.push(report);
    }

    /// A point in area `a`, and its distance from the centroid when the area has no boundary.
    fn point(&mut self, a: usize) -> (Coordinates, Option<f64>) {
        let area = &self.areas[a];
        if let (Some(shape), Some(b)) = (&area.input.boundary, &area.bbox) {
            for _ in 0..100_000 {
                let lon = round6(b.min_lon + self.rng.random::<f64>() * (b.max_lon - b.min_lon));
                let lat = round6(b.min_lat + self.rng.random::<f64>() * (b.max_lat - b.min_lat));
                let at = Coordinates { lat, lon };
                if shape.contains(at) {
                    return (at, None);
                }
            }
            return (shape.interior_point(), None);
        }
        let c = area.input.centroid;
        let r = CENTROID_RADIUS_M * self.rng.random::<f64>().sqrt();
        let theta = std::f64::consts::TAU * self.rng.random::<f64>();
        let lat = round6(c.lat + r * theta.cos() / 111_320.0);
        let lon = round6(c.lon + r * theta.sin() / (111_320.0 * c.lat.to_radians().cos()));
        let at = Coordinates { lat, lon };
        (at, Some(super::routing::distance_m(c, at)))
    }
}

/// Who took a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Reporter,
    Staff,
    System,
}

#[derive(Debug, Clone)]
struct Step {
    at: DateTime<Utc>,
    action: &'static str,
    from: Option<ReportStatus>,
    to: ReportStatus,
    actor: Actor,
    note: Option<String>,
    duplicate_of: Option<Uuid>,
}

#[derive(Debug, Clone, Copy)]
struct PlannedRating {
    at: DateTime<Utc>,
    cycle: i32,
    score: i16,
}

/// The whole life of one report, as it would unfold, uncut.
struct Lifecycle<'a> {
    rng: &'a mut StdRng,
    calendar: &'a WorkingCalendar,
    settings: &'a Settings,
    created_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
    deadline_minutes: i64,
    steps: Vec<Step>,
    ratings: Vec<PlannedRating>,
}

impl Lifecycle<'_> {
    fn status(&self) -> ReportStatus {
        self.steps.last().map_or(ReportStatus::New, |s| s.to)
    }

    /// Appends a step at `at` (never before the previous one) in the current state's wake.
    fn step(&mut self, at: DateTime<Utc>, action: &'static str, to: ReportStatus, actor: Actor) {
        self.step_with(at, action, to, actor, None, None);
    }

    fn step_with(
        &mut self,
        at: DateTime<Utc>,
        action: &'static str,
        to: ReportStatus,
        actor: Actor,
        note: Option<String>,
        duplicate_of: Option<Uuid>,
    ) {
        let seconds = self.rng.random_range(0..60);
        let mut at = at + Duration::seconds(seconds);
        if let Some(prev) = self.steps.last() {
            at = at.max(prev.at + Duration::seconds(self.rng.random_range(30..300)));
        }
        let from = (!self.steps.is_empty()).then(|| self.status());
        self.steps.push(Step {
            at,
            action,
            from,
            to,
            actor,
            note,
            duplicate_of,
        });
    }

    /// Staff act in working time: `minutes` of it after `from`.
    fn after(&self, from: DateTime<Utc>, minutes: f64) -> DateTime<Utc> {
        self.calendar
            .add_working_minutes(from, minutes.round().max(1.0) as i64)
    }

    fn last_at(&self) -> DateTime<Utc> {
        self.steps.last().map_or(self.created_at, |s| s.at)
    }

    fn unfold(&mut self, original: Option<&Original>) {
        use ReportStatus as S;
        let t0 = self.created_at;
        self.steps.push(Step {
            at: t0,
            action: "created",
            from: None,
            to: S::New,
            actor: Actor::Reporter,
            note: None,
            duplicate_of: None,
        });
        let fate: f64 = self.rng.random();
        if fate < 0.04 {
            // Not a field report: refused with a pointer to the right channel, usually at once.
            let note = Some(pick_str(self.rng, REJECT_NOTES).to_owned());
            if self.rng.random::<f64>() < 0.6 {
                let m = lognormal(self.rng, 90.0, 1.0);
                let at = self.after(t0, m);
                self.step_with(at, "reject", S::Rejected, Actor::Staff, note, None);
            } else {
                let ack = lognormal(self.rng, 150.0, 1.0);
                let at = self.after(t0, ack);
                self.step(at, "accept", S::Accepted, Actor::Staff);
                let m = lognormal(self.rng, 240.0, 0.8);
                let at = self.after(self.last_at(), m);
                self.step_with(at, "reject", S::Rejected, Actor::Staff, note, None);
            }
            return;
        }
        if fate < 0.06
            && let Some(o) = original
        {
            let m = lognormal(self.rng, 60.0, 1.0);
            let at = self.after(t0, m);
            let note = Some(format!("Trùng với phản ánh {}", o.tracking_code));
            self.step_with(
                at,
                "mark_duplicate",
                S::Duplicate,
                Actor::Staff,
                note,
                Some(o.id),
            );
            return;
        }

        // Handled: acknowledged, worked on, resolved; all counted in working minutes from t0.
        // Urgent categories (a day or less) are picked up sooner.
        let d = self.deadline_minutes as f64;
        let ack_median = if d <= 480.0 { 60.0 } else { 150.0 };
        let ack = lognormal(self.rng, ack_median, 1.0).clamp(5.0, 40.0 * 480.0);
        let at = self.after(t0, ack);
        self.step(at, "accept", S::Accepted, Actor::Staff);
        let mut resolve = (d * lognormal(self.rng, 0.55, 0.45)).max(ack + 30.0);
        if self.rng.random::<f64>() < 0.85 {
            let start = ack + (resolve - ack) * self.rng.random_range(0.05..0.4);
            let at = self.after(t0, start);
            self.step(at, "start", S::InProgress, Actor::Staff);
            if self.rng.random::<f64>() < 0.07 {
                let hold = start + (resolve - start) * self.rng.random_range(0.2..0.6);
                let note = Some(pick_str(self.rng, HOLD_NOTES).to_owned());
                let at = self.after(t0, hold);
                self.step_with(at, "hold", S::OnHold, Actor::Staff, note, None);
                let waited = lognormal(self.rng, 900.0, 0.7);
                let at = self.after(t0, hold + waited);
                self.step(at, "resume", S::InProgress, Actor::Staff);
                resolve += waited;
            }
        }
        let note = Some(resolution_note(self.rng));
        let at = self.after(t0, resolve);
        self.step_with(at, "resolve", S::Resolved, Actor::Staff, note, None);
        let mut resolved = self.last_at();
        let late = resolved > self.due_at;

        if self.rng.random::<f64>() < 0.05 {
            // Not really fixed: the reporter reopens within the window, maybe after a low rating.
            let window = i64::from(self.settings.reopen_days.max(1)) * 1440;
            let reopen_at = resolved + Duration::minutes(self.rng.random_range(60..window - 30));
            if self.rng.random::<f64>() < 0.6 {
                let at = resolved + (reopen_at - resolved) * self.rng.random_range(1..9) / 10;
                let low = [1, 1, 1, 2, 2, 3][self.rng.random_range(0..6)];
                self.ratings.push(PlannedRating {
                    at,
                    cycle: 0,
                    score: low,
                });
            }
            let note = Some(pick_str(self.rng, REOPEN_NOTES).to_owned());
            self.step_with(
                reopen_at,
                "reopen",
                S::Reopened,
                Actor::Reporter,
                note,
                None,
            );
            if self.rng.random::<f64>() < 0.7 {
                let m = lognormal(self.rng, 480.0, 0.9);
                let at = self.after(self.last_at(), m);
                self.step(at, "start", S::InProgress, Actor::Staff);
            }
            let m = lognormal(self.rng, 960.0, 0.7);
            let at = self.after(self.last_at(), m);
            let note = Some(resolution_note(self.rng));
            self.step_with(at, "resolve", S::Resolved, Actor::Staff, note, None);
            resolved = self.last_at();
            if self.rng.random::<f64>() < 0.45 {
                let score = score(self.rng, true);
                let h = lognormal(self.rng, 18.0, 1.0);
                let at = resolved + hours(h);
                self.ratings.push(PlannedRating {
                    at,
                    cycle: 1,
                    score,
                });
            }
        } else if self.rng.random::<f64>() < 0.4 {
            let score = score(self.rng, late);
            let h = lognormal(self.rng, 18.0, 1.0);
            let at = resolved + hours(h);
            self.ratings.push(PlannedRating {
                at,
                cycle: 0,
                score,
            });
        }
        // Nobody reopened: the job closes it once the window has passed.
        let close_at = resolved
            + Duration::days(i64::from(self.settings.auto_close_days))
            + Duration::seconds(self.rng.random_range(5..90));
        let note = Some(format!(
            "Tự động đóng sau {} ngày không có yêu cầu mở lại",
            self.settings.auto_close_days
        ));
        self.steps.push(Step {
            at: close_at.max(self.last_at() + Duration::seconds(1)),
            action: "close",
            from: Some(S::Resolved),
            to: S::Closed,
            actor: Actor::System,
            note,
            duplicate_of: None,
        });
    }
}

fn hours(h: f64) -> Duration {
    Duration::seconds((h * 3600.0) as i64)
}

/// A report as seen at `now`: its lifecycle cut there, with the deadline job's marks.
struct Seen {
    status: ReportStatus,
    events: Vec<Step>,
    ratings: Vec<PlannedRating>,
    version: i32,
    accepted_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    ack_overdue_at: Option<DateTime<Utc>>,
    overdue_at: Option<DateTime<Utc>>,
    duplicate_of: Option<Uuid>,
    /// It will be marked a duplicate after `now` (so it is no original for later ones).
    will_be_duplicate: bool,
    reopen_count: i32,
}

impl Seen {
    fn cut(
        settings: &Settings,
        steps: Vec<Step>,
        ratings: Vec<PlannedRating>,
        created_at: DateTime<Utc>,
        ack_due_at: DateTime<Utc>,
        due_at: DateTime<Utc>,
        rng: &mut StdRng,
    ) -> Seen {
        let now = settings.now;
        let will_be_duplicate = steps.iter().any(|s| s.action == "mark_duplicate");
        let mut kept: Vec<Step> = steps.into_iter().filter(|s| s.at <= now).collect();
        let status_at = |kept: &[Step], t: DateTime<Utc>| {
            kept.iter()
                .take_while(|s| s.at <= t)
                .last()
                .map_or(ReportStatus::New, |s| s.to)
        };

        // The deadline job's marks, where it would have made them (it runs every minute or so).
        let mut marks = Vec::new();
        let mut ack_overdue_at = None;
        let ack_mark = ack_due_at + Duration::seconds(rng.random_range(5..90));
        if ack_mark <= now
            && ack_mark > created_at
            && status_at(&kept, ack_mark) == ReportStatus::New
        {
            ack_overdue_at = Some(ack_mark);
            marks.push((ack_mark, "ack_overdue"));
        }
        let mut overdue_at = None;
        let candidates = std::iter::once(due_at).chain(
            kept.iter()
                .filter(|s| s.at > due_at && s.to.is_open())
                .map(|s| s.at),
        );
        let jitter = Duration::seconds(rng.random_range(5..90));
        for c in candidates.collect::<Vec<_>>() {
            let mark = c + jitter;
            if mark > now {
                break;
            }
            if status_at(&kept, c).is_open() && status_at(&kept, mark).is_open() {
                overdue_at = Some(mark);
                marks.push((mark, "overdue"));
                break;
            }
        }
        let transitions = kept.len().saturating_sub(1);
        for (at, action) in marks {
            let s = status_at(&kept, at);
            let i = kept.partition_point(|k| k.at <= at);
            kept.insert(
                i,
                Step {
                    at,
                    action,
                    from: Some(s),
                    to: s,
                    actor: Actor::System,
                    note: None,
                    duplicate_of: None,
                },
            );
        }

        let mut accepted_at = None;
        let mut resolved_at = None;
        let mut closed_at = None;
        let mut duplicate_of = None;
        let mut reopen_count = 0;
        for s in &kept {
            match s.action {
                "accept" => accepted_at = accepted_at.or(Some(s.at)),
                "resolve" => resolved_at = Some(s.at),
                "reopen" => {
                    resolved_at = None;
                    reopen_count += 1;
                }
                "close" => closed_at = Some(s.at),
                "mark_duplicate" => duplicate_of = s.duplicate_of,
                _ => {}
            }
        }
        let ratings = ratings.into_iter().filter(|r| r.at <= now).collect();
        Seen {
            status: kept.last().map_or(ReportStatus::New, |s| s.to),
            events: kept,
            ratings,
            version: 1 + i32::try_from(transitions).unwrap_or(i32::MAX - 1),
            accepted_at,
            resolved_at,
            closed_at,
            ack_overdue_at,
            overdue_at,
            duplicate_of,
            will_be_duplicate,
            reopen_count,
        }
    }
}

/// The name of synthetic resident number `i` (always the same for the same `i`).
pub fn resident_name(i: usize) -> String {
    const FAMILY: [&str; 16] = [
        "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
        "Hồ", "Ngô", "Touneh", "Ya",
    ];
    const MIDDLE: [&str; 8] = ["Văn", "Thị", "Hữu", "Minh", "Thanh", "Ngọc", "Đức", "Quốc"];
    const GIVEN: [&str; 24] = [
        "An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Hương", "Khánh", "Lan",
        "Linh", "Long", "Mai", "Nam", "Phúc", "Quang", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn",
        "Yến",
    ];
    // A multiplicative hash spreads neighbouring numbers over the lists.
    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
    format!(
        "{} {} {}",
        FAMILY[(h % 16) as usize],
        MIDDLE[(h / 16 % 8) as usize],
        GIVEN[(h / 128 % 24) as usize]
    )
}

/// `n` submission moments in the `years` before `now`, ascending.
fn submission_times(
    rng: &mut StdRng,
    n: usize,
    now: DateTime<Utc>,
    years: u32,
) -> Vec<DateTime<Utc>> {
    let tz = vietnam();
    let start = now - Duration::days(365 * i64::from(years));
    let first = start.with_timezone(&tz).date_naive();
    let last = now.with_timezone(&tz).date_naive();
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let span = days.len().max(1) as f64;
    let day_cumulative = cumulative(
        days.iter()
            .enumerate()
            .map(|(i, d)| day_weight(*d) * (0.7 + 0.3 * i as f64 / span)),
    );
    let hour_cumulative = cumulative(HOUR_WEIGHTS.iter().copied());
    let mut times = Vec::with_capacity(n);
    while times.len() < n {
        let day = days[pick(rng, &day_cumulative)];
        let hour = pick(rng, &hour_cumulative) as u32;
        let second = hour * 3600 + rng.random_range(0..3600);
        let time = NaiveTime::from_num_seconds_from_midnight_opt(second, 0).unwrap_or_default();
        let Some(at) = tz.from_local_datetime(&day.and_time(time)).single() else {
            continue;
        };
        let at = at.with_timezone(&Utc);
        if at > start && at <= now {
            times.push(at);
        }
    }
    times.sort_unstable();
    times
}

/// Submissions per local hour (relative): mornings and late afternoons, little at night.
const HOUR_WEIGHTS: [f64; 24] = [
    0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 2.5, 4.5, 5.5, 5.5, 5.0, 4.0, 3.0, 3.0, 4.0, 4.5, 5.0, 5.5, 5.5,
    5.0, 4.0, 2.5, 1.0, 0.5,
];

pub fn is_rainy(month: u32) -> bool {
    (5..=10).contains(&month)
}

/// Relative volume of a day: season, weekday, Tết.
pub fn day_weight(day: NaiveDate) -> f64 {
    let season = if is_rainy(day.month()) { 1.15 } else { 0.9 };
    let weekday = match day.weekday() {
        Weekday::Sat => 0.65,
        Weekday::Sun => 0.55,
        _ => 1.0,
    };
    season * weekday * tet_factor(day)
}

/// Fewer reports in the days around Tết (families at home, offices closed).
fn tet_factor(day: NaiveDate) -> f64 {
    let Some(tet) = super::lunar::tet(day.year()) else {
        return 1.0;
    };
    match (day - tet).num_days() {
        -3..=5 => 0.3,
        -10..=10 => 0.7,
        _ => 1.0,
    }
}

/// Relative frequency of a category, by its code (unknown codes: uncommon).
pub fn category_weight(code: &str, rainy: bool) -> f64 {
    let (base, wet, dry) = match code {
        "road" => (16.0, 1.35, 0.75),
        "waste" => (14.0, 1.0, 1.0),
        "lighting" => (12.0, 0.95, 1.05),
        "water" => (12.0, 1.4, 0.7),
        "pollution" => (6.0, 1.0, 1.0),
        "construction" => (6.0, 0.9, 1.1),
        "land" => (5.0, 1.0, 1.0),
        "traffic_safety" => (5.0, 1.0, 1.0),
        "agriculture" => (4.0, 1.2, 0.8),
        "other" => (5.0, 1.0, 1.0),
        "culture" => (3.0, 1.0, 1.0),
        "health" => (3.0, 1.3, 0.7),
        "food_safety" => (2.0, 1.0, 1.0),
        "education" => (2.0, 1.0, 1.0),
        "social" => (2.0, 1.0, 1.0),
        "security" => (1.5, 1.0, 1.0),
        "forest" => (1.0, 0.7, 1.3),
        "disaster" => (1.0, 2.5, 0.3),
        _ => (2.0, 1.0, 1.0),
    };
    base * if rainy { wet } else { dry }
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut total = 0.0;
    weights
        .map(|w| {
            total += w.max(0.0);
            total
        })
        .collect()
}

/// An index drawn in proportion to the weights behind `cumulative`.
fn pick(rng: &mut StdRng, cumulative: &[f64]) -> usize {
    let total = cumulative.last().copied().unwrap_or(0.0);
    let x = rng.random::<f64>() * total;
    cumulative
        .partition_point(|c| *c <= x)
        .min(cumulative.len().saturating_sub(1))
}

fn pick_str<'s>(rng: &mut StdRng, options: &[&'s str]) -> &'s str {
    options[rng.random_range(0..options.len())]
}

/// Lognormal with the given median (Box–Muller for the normal).
fn lognormal(rng: &mut StdRng, median: f64, sigma: f64) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    median * (sigma * z).exp()
}

/// A UUIDv7 at `at`, like the server's, with random bits from the seeded generator.
fn uuid_at(rng: &mut StdRng, at: DateTime<Utc>) -> Uuid {
    let mut bytes = [0u8; 10];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_unix_timestamp_millis(
        u64::try_from(at.timestamp_millis()).unwrap_or(0),
        &bytes,
    )
    .into_uuid()
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Residents rate on-time work well, late work less so.
fn score(rng: &mut StdRng, late: bool) -> i16 {
    let weights: [f64; 5] = if late {
        [0.15, 0.15, 0.25, 0.25, 0.20]
    } else {
        [0.04, 0.06, 0.13, 0.30, 0.47]
    };
    let cum = cumulative(weights.into_iter());
    pick(rng, &cum) as i16 + 1
}

fn rating_comment(score: i16) -> &'static str {
    match score {
        5 => "Xử lý nhanh, cảm ơn cán bộ.",
        4 => "Hài lòng với kết quả.",
        3 => "Đã xử lý nhưng còn chậm.",
        _ => "Xử lý chưa triệt để.",
    }
}

const REJECT_NOTES: &[&str] = &[
    "Nội dung là khiếu nại, tố cáo: đề nghị gửi đơn theo quy định của Luật Khiếu nại, Luật Tố cáo.",
    "Là câu hỏi về thủ tục hành chính: đề nghị liên hệ Trung tâm Phục vụ hành chính công.",
    "Không đủ thông tin để xác minh (vị trí, hình ảnh).",
    "Nội dung không phải phản ánh hiện trường.",
];

const HOLD_NOTES: &[&str] = &[
    "Chờ đơn vị điện lực phối hợp.",
    "Chờ kinh phí sửa chữa được phê duyệt.",
    "Chờ thời tiết thuận lợi để thi công.",
    "Chờ ý kiến của cơ quan chuyên môn cấp tỉnh.",
];

const REOPEN_NOTES: &[&str] = &[
    "Vấn đề vẫn chưa được khắc phục.",
    "Sửa chữa tạm bợ, nay đã hư hỏng lại.",
    "Mới xử lý một phần, còn tồn đọng.",
];

fn resolution_note(rng: &mut StdRng) -> String {
    pick_str(
        rng,
        &[
            "Đã kiểm tra hiện trường và xử lý xong.",
            "Đã phối hợp với thôn khắc phục; đề nghị người dân tiếp tục theo dõi.",
            "Đã xử lý dứt điểm, cảm ơn người dân đã phản ánh.",
            "Đã giao đơn vị chuyên môn khắc phục, hoàn thành trong ngày.",
        ],
    )
    .to_owned()
}

/// A short Vietnamese description for a category, from templates.
fn description(rng: &mut StdRng, code: &str, name_vi: &str) -> String {
    let templates: &[&str] = match code {
        "road" => &[
            "Mặt đường bị sụt lún, nhiều ổ gà lớn gây nguy hiểm cho người đi xe máy.",
            "Đoạn đường bị sạt lở taluy, đất đá tràn xuống lòng đường.",
            "Cống thoát nước ngang đường bị vỡ, mặt đường xuống cấp nghiêm trọng.",
            "Cầu tạm qua suối bị hư hỏng lan can, đề nghị sửa chữa.",
        ],
        "lighting" => &[
            "Đèn đường không sáng đã nhiều đêm, khu vực rất tối và mất an toàn.",
            "Cột đèn chiếu sáng bị nghiêng, có nguy cơ đổ.",
            "Đèn đường sáng cả ban ngày, gây lãng phí điện.",
        ],
        "water" => &[
            "Mương thoát nước bị tắc, mưa lớn gây ngập úng đường và nhà dân.",
            "Đường ống cấp nước bị vỡ, nước chảy tràn ra đường.",
            "Nước sinh hoạt bị đục, có mùi lạ mấy ngày nay.",
            "Nhiều hộ dân bị mất nước sinh hoạt đã nhiều ngày.",
        ],
        "waste" => &[
            "Rác thải tập kết bừa bãi ven đường, bốc mùi hôi thối.",
            "Xe thu gom rác không đến thu gom đã hơn một tuần.",
            "Có người đổ rác và vỏ chai thuốc bảo vệ thực vật xuống suối.",
        ],
        "pollution" => &[
            "Cơ sở sản xuất xả nước thải chưa qua xử lý ra mương chung.",
            "Khói đốt phụ phẩm nông nghiệp gây ô nhiễm không khí khu dân cư.",
            "Trại chăn nuôi gây mùi hôi nặng ảnh hưởng đến khu dân cư.",
        ],
        "land" => &[
            "Có dấu hiệu lấn chiếm đất công, rào chắn hành lang đường.",
            "Hộ dân san ủi đất, lấn chiếm mương thủy lợi.",
        ],
        "construction" => &[
            "Công trình xây dựng không có biển báo, để vật liệu chiếm lòng đường.",
            "Nhà dân xây dựng lấn ra hành lang an toàn đường bộ.",
            "Nhà màng dựng sát mép đường gây mất an toàn giao thông.",
        ],
        "agriculture" => &[
            "Vỏ bao bì thuốc bảo vệ thực vật vứt bừa bãi trên đồng ruộng.",
            "Nghi có dịch bệnh trên đàn heo, nhiều con chết bất thường.",
            "Cửa hàng bán phân bón không rõ nguồn gốc.",
        ],
        "forest" => &[
            "Phát hiện chặt phá rừng thông trái phép.",
            "Có người khai thác cát, đất trái phép ven suối.",
            "Cháy thực bì ở bìa rừng, cần kiểm tra ngay.",
        ],
        "security" => &[
            "Nhóm thanh niên tụ tập gây mất trật tự vào ban đêm.",
            "Nghi có trộm cắp nông sản trong khu vực.",
        ],
        "traffic_safety" => &[
            "Xe tải chở nông sản chạy tốc độ cao qua khu dân cư.",
            "Biển báo giao thông tại ngã ba bị mất, dễ gây tai nạn.",
            "Cây che khuất tầm nhìn tại khúc cua.",
        ],
        "food_safety" => &[
            "Cơ sở kinh doanh thực phẩm không đảm bảo vệ sinh.",
            "Rau củ bày bán có dấu hiệu tồn dư thuốc bảo vệ thực vật.",
        ],
        "health" => &[
            "Nhiều ca sốt xuất huyết trong xóm, đề nghị phun thuốc diệt muỗi.",
            "Trạm y tế thường đóng cửa, người dân khó khám bệnh.",
        ],
        "education" => &[
            "Đoạn đường trước cổng trường thường ùn tắc giờ tan học.",
            "Nhà vệ sinh của điểm trường xuống cấp.",
        ],
        "culture" => &[
            "Hát karaoke bằng loa kéo gây ồn ào đến khuya.",
            "Quảng cáo rao vặt dán tràn lan trên cột điện.",
        ],
        "social" => &[
            "Hộ khó khăn chưa được hỗ trợ theo chính sách.",
            "Người cao tuổi neo đơn cần được hỗ trợ.",
        ],
        "disaster" => &[
            "Sạt lở đất đe dọa nhà dân sau mưa lớn.",
            "Cây lớn bị đổ chắn ngang đường sau giông lốc.",
            "Nước suối dâng cao, ngập cầu tràn.",
        ],
        "other" => &[
            "Đề nghị lắp thêm gờ giảm tốc và biển báo gần khu dân cư.",
            "Đề nghị bổ sung cây xanh, ghế đá tại nhà văn hóa thôn.",
        ],
        _ => &[],
    };
    let mut text = if templates.is_empty() {
        format!("Phản ánh về {}.", name_vi.to_lowercase())
    } else {
        pick_str(rng, templates).to_owned()
    };
    if rng.random::<f64>() < 0.4 {
        text.push(' ');
        text.push_str(pick_str(
            rng,
            &[
                "Đề nghị chính quyền sớm kiểm tra, xử lý.",
                "Người dân rất mong được giải quyết.",
                "Tình trạng này đã kéo dài nhiều ngày.",
                "Vị trí gần nhà văn hóa thôn.",
            ],
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lifecycle::{self, Action, Actor as LifecycleActor};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 3, 0, 0).unwrap()
    }

    fn square(lat: f64, lon: f64, half: f64) -> Boundary {
        Boundary::from_geojson(&serde_json::json!({
            "type": "Polygon",
            "coordinates": [[[lon - half, lat - half], [lon + half, lat - half],
                             [lon + half, lat + half], [lon - half, lat + half],
                             [lon - half, lat - half]]]
        }))
        .unwrap()
    }

    fn triangle(lat: f64, lon: f64, size: f64) -> Boundary {
        Boundary::from_geojson(&serde_json::json!({
            "type": "Polygon",
            "coordinates": [[[lon, lat], [lon + size, lat], [lon, lat + size], [lon, lat]]]
        }))
        .unwrap()
    }

    fn world() -> World {
        let areas = vec![
            AreaInput {
                id: Uuid::from_u128(1),
                label: "xã Đơn Dương".into(),
                centroid: Coordinates {
                    lat: 11.73,
                    lon: 108.45,
                },
                boundary: Some(square(11.73, 108.45, 0.05)),
            },
            AreaInput {
                id: Uuid::from_u128(2),
                label: "xã Ka Đô".into(),
                centroid: Coordinates {
                    lat: 11.74,
                    lon: 108.58,
                },
                boundary: Some(triangle(11.70, 108.55, 0.1)),
            },
            AreaInput {
                id: Uuid::from_u128(3),
                label: "xã D'Ran".into(),
                centroid: Coordinates {
                    lat: 11.84,
                    lon: 108.61,
                },
                boundary: None,
            },
        ];
        let cat = |n: u128, code: &str, amount: i32| CategoryInput {
            id: Uuid::from_u128(100 + n),
            code: code.into(),
            name_vi: code.to_uppercase(),
            deadline_amount: amount,
            deadline_unit: DeadlineUnit::WorkingDays,
        };
        let categories = vec![
            cat(1, "road", 5),
            cat(2, "waste", 3),
            cat(3, "lighting", 3),
            cat(4, "water", 3),
            cat(5, "security", 1),
            cat(6, "forest", 1),
            cat(7, "disaster", 1),
            cat(8, "other", 5),
        ];
        let routes = (0..categories.len() * areas.len())
            .map(|i| RouteInput {
                department_id: Uuid::from_u128(1000 + i as u128),
                department_name: format!("Phòng {i}"),
                rule_id: Some(Uuid::from_u128(2000 + i as u128)),
                rule_number: Some(i as i32),
            })
            .collect();
        let tet = |y| super::super::lunar::tet(y).unwrap();
        let days_off: Vec<NaiveDate> = (2023..=2026)
            .flat_map(|y| (-1..4).map(move |d| tet(y) + Duration::days(d)))
            .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
            .collect();
        World {
            areas,
            categories,
            routes,
            reporters: (0..200).map(|i| Uuid::from_u128(5000 + i)).collect(),
            calendar: WorkingCalendar::new(days_off, []),
        }
    }

    fn settings(seed: u64, reports: usize) -> Settings {
        Settings {
            seed,
            reports,
            now: now(),
            years: 3,
            ack_working_hours: 8,
            auto_close_days: 7,
            reopen_days: 7,
        }
    }

    fn generate(seed: u64, reports: usize) -> Batch {
        let mut g = Generator::new(settings(seed, reports), world(), HashSet::new()).unwrap();
        let mut all = Batch::default();
        while g.remaining() > 0 {
            let b = g.next_batch(997);
            all.reports.extend(b.reports);
            all.events.extend(b.events);
            all.ratings.extend(b.ratings);
        }
        all
    }

    #[test]
    fn a_seed_always_gives_the_same_history_whatever_the_batch_size() {
        let a = generate(7, 3_000);
        let mut g = Generator::new(settings(7, 3_000), world(), HashSet::new()).unwrap();
        let mut b = Batch::default();
        for size in [1, 10, 100, 5_000] {
            let part = g.next_batch(size);
            b.reports.extend(part.reports);
            b.events.extend(part.events);
            b.ratings.extend(part.ratings);
        }
        assert_eq!(a, b);
        let c = generate(8, 3_000);
        assert_ne!(a.reports[0].id, c.reports[0].id);
        assert_ne!(a.reports[0].tracking_code, c.reports[0].tracking_code);
    }

    #[test]
    fn bad_inputs_are_refused() {
        let mut w = world();
        w.routes.pop();
        assert!(matches!(
            Generator::new(settings(1, 10), w, HashSet::new()),
            Err(SynthError::Routes { .. })
        ));
        let mut w = world();
        w.areas.clear();
        assert!(matches!(
            Generator::new(settings(1, 10), w, HashSet::new()),
            Err(SynthError::NoAreas)
        ));
    }

    fn share(part: usize, whole: usize) -> f64 {
        part as f64 / whole.max(1) as f64
    }

    #[test]
    fn volume_follows_the_category_mix_the_seasons_the_week_and_the_clock() {
        use chrono::Timelike as _;
        let all = generate(1, 30_000);
        let r = &all.reports;
        assert_eq!(r.len(), 30_000);
        assert!(r.windows(2).all(|w| w[0].created_at <= w[1].created_at));
        let start = now() - Duration::days(365 * 3);
        assert!(
            r.iter()
                .all(|x| x.created_at > start && x.created_at <= now())
        );
        let by_code = |code: &str| {
            let id = world()
                .categories
                .iter()
                .find(|c| c.code == code)
                .unwrap()
                .id;
            r.iter().filter(|x| x.category_id == id).count()
        };
        let (road, waste, security, forest, disaster) = (
            by_code("road"),
            by_code("waste"),
            by_code("security"),
            by_code("forest"),
            by_code("disaster"),
        );
        assert!(road > 5 * security && waste > 5 * forest && road > 5 * disaster);
        assert!((0.15..0.30).contains(&share(road, r.len())), "{road}");
        // Rainy season: more water and disaster reports among the season's reports.
        let tz = vietnam();
        let month = |x: &Report| x.created_at.with_timezone(&tz).month();
        let disaster_id = world().categories[6].id;
        let rainy: Vec<_> = r.iter().filter(|x| is_rainy(month(x))).collect();
        let dry: Vec<_> = r.iter().filter(|x| !is_rainy(month(x))).collect();
        let disaster_share = |v: &[&Report]| {
            share(
                v.iter().filter(|x| x.category_id == disaster_id).count(),
                v.len(),
            )
        };
        assert!(disaster_share(&rainy) > 3.0 * disaster_share(&dry));
        assert!(rainy.len() > dry.len());
        // Weekends are quieter; days around Tết quieter still.
        let local_day = |x: &Report| x.created_at.with_timezone(&tz).date_naive();
        let weekend = r
            .iter()
            .filter(|x| matches!(local_day(x).weekday(), Weekday::Sat | Weekday::Sun))
            .count();
        assert!(share(weekend, r.len()) < 0.8 * 2.0 / 7.0, "{weekend}");
        let tet = super::super::lunar::tet(2026).unwrap();
        let around_tet = r
            .iter()
            .filter(|x| (local_day(x) - tet).num_days().abs() <= 3)
            .count();
        let per_day = r.len() as f64 / (365.0 * 3.0);
        assert!((around_tet as f64) < 7.0 * per_day * 0.6, "{around_tet}");
        // Mostly between 06:00 and 21:00 local time.
        let daytime = r
            .iter()
            .filter(|x| (6..21).contains(&x.created_at.with_timezone(&tz).hour()))
            .count();
        assert!(share(daytime, r.len()) > 0.9);
    }

    #[test]
    fn lifecycles_have_the_right_shape() {
        let all = generate(2, 30_000);
        let r = &all.reports;
        let old: Vec<&Report> = r
            .iter()
            .filter(|x| now() - x.created_at > Duration::days(60))
            .collect();
        let count = |v: &[&Report], s: ReportStatus| v.iter().filter(|x| x.status == s).count();
        assert!(share(count(&old, ReportStatus::Closed), old.len()) > 0.85);
        let rejected = share(count(&old, ReportStatus::Rejected), old.len());
        assert!((0.03..0.05).contains(&rejected), "{rejected}");
        let duplicate = share(count(&old, ReportStatus::Duplicate), old.len());
        assert!((0.01..0.03).contains(&duplicate), "{duplicate}");
        // Recent ones are spread over the open states.
        let recent: Vec<&Report> = r
            .iter()
            .filter(|x| now() - x.created_at < Duration::days(10))
            .collect();
        for s in [
            ReportStatus::New,
            ReportStatus::Accepted,
            ReportStatus::InProgress,
            ReportStatus::Resolved,
        ] {
            assert!(count(&recent, s) > 0, "{s:?}");
        }
        assert!(r.iter().any(|x| x.status == ReportStatus::OnHold));
        assert!(r.iter().any(|x| x.reopen_count > 0 && x.status.is_open()));
        // Some late, some reopened, some rated, some acknowledged late.
        let resolved: Vec<&Report> = r.iter().filter(|x| x.resolved_at.is_some()).collect();
        let late = resolved
            .iter()
            .filter(|x| x.resolved_at > Some(x.due_at))
            .count();
        let late = share(late, resolved.len());
        assert!((0.08..0.18).contains(&late), "late {late}");
        let reopened = share(
            r.iter().filter(|x| x.reopen_count > 0).count(),
            resolved.len(),
        );
        assert!((0.03..0.07).contains(&reopened), "reopened {reopened}");
        let rated: HashSet<Uuid> = all.ratings.iter().map(|x| x.report_id).collect();
        let rated = share(rated.len(), resolved.len());
        assert!((0.33..0.47).contains(&rated), "rated {rated}");
        let mean = |late: bool| {
            let scores: Vec<f64> = all
                .ratings
                .iter()
                .filter(|g| g.cycle == 0)
                .filter_map(|g| {
                    let x = r.iter().find(|x| x.id == g.report_id)?;
                    (x.reopen_count == 0 && (x.resolved_at > Some(x.due_at)) == late)
                        .then_some(f64::from(g.score))
                })
                .collect();
            scores.iter().sum::<f64>() / scores.len() as f64
        };
        assert!(
            mean(false) > 3.9 && mean(true) < 3.6,
            "{} {}",
            mean(false),
            mean(true)
        );
        let ack_late = share(
            r.iter().filter(|x| x.ack_overdue_at.is_some()).count(),
            r.len(),
        );
        assert!((0.05..0.25).contains(&ack_late), "ack late {ack_late}");
    }

    #[test]
    fn every_report_is_consistent_with_its_timeline() {
        let w = world();
        let all = generate(3, 8_000);
        let mut events: HashMap<Uuid, Vec<&Event>> = HashMap::new();
        for e in &all.events {
            events.entry(e.report_id).or_default().push(e);
        }
        let ids: HashMap<Uuid, &Report> = all.reports.iter().map(|x| (x.id, x)).collect();
        let mut codes = HashSet::new();
        for x in &all.reports {
            assert!(codes.insert(&x.tracking_code));
            assert!(TrackingCode::parse(&x.tracking_code).is_ok());
            let area = w.areas.iter().find(|a| a.id == x.area_id).unwrap();
            let at = Coordinates {
                lat: x.lat,
                lon: x.lon,
            };
            match &area.boundary {
                Some(b) => assert!(b.contains(at), "{at:?} outside {}", area.label),
                None => assert!(
                    super::super::routing::distance_m(area.centroid, at) <= CENTROID_RADIUS_M + 1.0
                ),
            }
            // Timestamps in order, nothing after now.
            assert!(x.created_at <= x.updated_at && x.updated_at <= now());
            assert!(x.accepted_at.is_none_or(|a| a > x.created_at));
            assert!(
                x.resolved_at
                    .is_none_or(|r| x.accepted_at.is_some_and(|a| r > a))
            );
            assert!(
                x.closed_at
                    .is_none_or(|c| x.resolved_at.is_some_and(|r| c > r))
            );
            assert!(x.due_at > x.created_at && x.ack_due_at > x.created_at);
            // resolved_at is set exactly for handled reports.
            let handled = matches!(x.status, ReportStatus::Resolved | ReportStatus::Closed);
            assert_eq!(x.resolved_at.is_some(), handled, "{x:?}");
            assert_eq!(x.closed_at.is_some(), x.status == ReportStatus::Closed);
            if x.status == ReportStatus::New {
                assert!(x.accepted_at.is_none());
            }
            let minutes = |t: Option<DateTime<Utc>>| {
                t.map(|t| w.calendar.working_minutes_between(x.created_at, t) as i32)
            };
            assert_eq!(x.ack_working_minutes, minutes(x.accepted_at));
            assert_eq!(x.resolve_working_minutes, minutes(x.resolved_at));
            assert_eq!(
                x.duplicate_of.is_some(),
                x.status == ReportStatus::Duplicate
            );
            if let Some(o) = x.duplicate_of {
                let o = ids[&o];
                assert!(o.created_at < x.created_at && o.status != ReportStatus::Duplicate);
                assert_eq!((o.category_id, o.area_id), (x.category_id, x.area_id));
            }
            assert!(x.overdue_at.is_none_or(|o| o > x.due_at && o <= now()));
            assert!(
                x.ack_overdue_at
                    .is_none_or(|o| o > x.ack_due_at && o <= now())
            );
            let settled = now() - Duration::minutes(2);
            if x.status.is_open() && x.due_at < settled && x.updated_at < settled {
                assert!(x.overdue_at.is_some(), "open past its deadline: {x:?}");
            }
            // The timeline: created first, each step from the previous state, by the lifecycle's
            // rules, ending in the report's status; one version per transition.
            let timeline = &events[&x.id];
            assert_eq!(timeline[0].action, "created");
            assert_eq!(timeline[0].created_at, x.created_at);
            assert_eq!(timeline[0].actor_id, x.reporter_id);
            let mut state = ReportStatus::New;
            let mut transitions = 0;
            for pair in timeline.windows(2) {
                assert!(pair[0].created_at <= pair[1].created_at);
            }
            for e in &timeline[1..] {
                assert_eq!(e.from_status, Some(state), "{e:?}");
                match e.action {
                    "overdue" | "ack_overdue" => assert_eq!(e.to_status, state),
                    action => {
                        let action = match action {
                            "mark_duplicate" => Action::MarkDuplicate,
                            a => serde_json::from_value(serde_json::json!(a)).unwrap(),
                        };
                        let actor = match e.actor_role {
                            Some(Role::Citizen) => LifecycleActor::Reporter,
                            Some(_) => LifecycleActor::Staff,
                            None if action == Action::Reopen => LifecycleActor::Reporter,
                            None => LifecycleActor::System,
                        };
                        assert_eq!(
                            lifecycle::transition(state, action, actor),
                            Ok(e.to_status),
                            "{e:?}"
                        );
                        transitions += 1;
                    }
                }
                state = e.to_status;
            }
            assert_eq!(state, x.status);
            assert_eq!(x.version, 1 + transitions);
            assert_eq!(x.updated_at, timeline.last().unwrap().created_at);
            assert_eq!(
                x.reopen_count as usize,
                timeline.iter().filter(|e| e.action == "reopen").count()
            );
            assert_eq!(
                x.overdue_at,
                timeline
                    .iter()
                    .find(|e| e.action == "overdue")
                    .map(|e| e.created_at)
            );
        }
        for g in &all.ratings {
            let x = ids[&g.report_id];
            assert!((1..=5).contains(&g.score));
            assert!(g.cycle <= x.reopen_count && g.created_at <= now());
            assert_eq!(g.user_id, x.reporter_id);
        }
        let mut keys = HashSet::new();
        assert!(
            all.ratings
                .iter()
                .all(|g| keys.insert((g.report_id, g.cycle)))
        );
    }
}
