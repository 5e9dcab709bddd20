//! `reports`: what residents submitted, where it went and how far it has got.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Double};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{areas, categories, departments, reports};
use crate::domain::BoundingBox;
use crate::domain::report::ReportStatus;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reports, check_for_backend(diesel::pg::Pg))]
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
    pub consent_version: String,
    pub consent_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub assignee_id: Option<Uuid>,
    pub duplicate_of: Option<Uuid>,
    pub ack_due_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub ack_overdue_at: Option<DateTime<Utc>>,
    pub overdue_at: Option<DateTime<Utc>>,
    pub extended_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub reopen_count: i32,
    pub follower_count: i32,
    /// Working minutes from submission to the first acknowledgement (statistics).
    pub ack_working_minutes: Option<i32>,
    /// Working minutes from submission to the current resolution (statistics).
    pub resolve_working_minutes: Option<i32>,
    /// Moderation: hidden from the public (feed, detail, Open311, photos) since then; its
    /// reporter and the staff still see it.
    pub hidden_at: Option<DateTime<Utc>>,
    pub hidden_reason: Option<String>,
    pub hidden_by: Option<Uuid>,
}

impl Report {
    /// Hidden from the public by moderation.
    pub fn is_hidden(&self) -> bool {
        self.hidden_at.is_some()
    }

    /// Open and past its deadline at `now`.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.status.is_open() && self.due_at < now
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = reports)]
pub struct NewReport<'a> {
    pub id: Uuid,
    pub tracking_code: &'a str,
    pub reporter_id: Option<Uuid>,
    pub anonymous: bool,
    pub category_id: Uuid,
    pub area_id: Uuid,
    pub department_id: Uuid,
    pub routing_rule_id: Option<Uuid>,
    pub routing_reason: &'a str,
    pub status: ReportStatus,
    pub description: &'a str,
    pub address: Option<&'a str>,
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    pub consent_version: &'a str,
    pub consent_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub ack_due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A report with the names people read: category, area, department.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct ReportWithNames {
    #[diesel(embed)]
    pub report: Report,
    #[diesel(select_expression = categories::code)]
    pub category_code: String,
    #[diesel(select_expression = categories::name_vi)]
    pub category_name_vi: String,
    #[diesel(select_expression = categories::name_en)]
    pub category_name_en: String,
    #[diesel(select_expression = categories::public)]
    pub category_public: bool,
    #[diesel(select_expression = areas::code)]
    pub area_code: String,
    #[diesel(select_expression = areas::name)]
    pub area_name: String,
    #[diesel(select_expression = departments::name)]
    pub department_name: String,
}

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewReport<'_>) -> QueryResult<()> {
    diesel::insert_into(reports::table)
        .values(new)
        .execute(conn)
        .await?;
    Ok(())
}

macro_rules! with_names {
    () => {
        reports::table
            .inner_join(categories::table)
            .inner_join(areas::table)
            .inner_join(departments::table)
    };
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<ReportWithNames>> {
    with_names!()
        .filter(reports::id.eq(id))
        .select(ReportWithNames::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn find_by_tracking_code(
    conn: &mut AsyncPgConnection,
    code: &str,
) -> QueryResult<Option<ReportWithNames>> {
    with_names!()
        .filter(reports::tracking_code.eq(code))
        .select(ReportWithNames::as_select())
        .first(conn)
        .await
        .optional()
}

/// Position in a newest-first list: the last item's `(created_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

#[derive(Debug, Default, Clone)]
pub struct FeedFilter {
    pub bbox: Option<BoundingBox>,
    pub statuses: Vec<ReportStatus>,
    pub category: Option<String>,
    pub area: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// Only this reporter's reports (and then non-public categories too).
    pub reporter: Option<Uuid>,
}

/// `point(lon, lat)` inside a box: the expression `reports_location` (GiST) indexes.
macro_rules! inside {
    ($b:expr) => {{
        let b: BoundingBox = $b;
        sql::<Bool>("point(reports.lon, reports.lat) <@ box(point(")
            .bind::<Double, _>(b.min_lon)
            .sql(", ")
            .bind::<Double, _>(b.min_lat)
            .sql("), point(")
            .bind::<Double, _>(b.max_lon)
            .sql(", ")
            .bind::<Double, _>(b.max_lat)
            .sql("))")
    }};
}

/// Newest first, at most `limit` rows after `cursor`. The public feed (no `reporter`) shows
/// public categories only, and no report hidden by moderation.
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: &FeedFilter,
    cursor: Option<Cursor>,
    limit: i64,
) -> QueryResult<Vec<ReportWithNames>> {
    let mut q = with_names!().into_boxed();
    match filter.reporter {
        Some(reporter) => q = q.filter(reports::reporter_id.eq(reporter)),
        None => {
            q = q
                .filter(categories::public.eq(true))
                .filter(reports::hidden_at.is_null())
        }
    }
    if let Some(b) = filter.bbox {
        q = q.filter(inside!(b));
    }
    if !filter.statuses.is_empty() {
        q = q.filter(reports::status.eq_any(filter.statuses.clone()));
    }
    if let Some(code) = &filter.category {
        q = q.filter(categories::code.eq(code.clone()));
    }
    if let Some(code) = &filter.area {
        q = q.filter(areas::code.eq(code.clone()));
    }
    if let Some(since) = filter.since {
        q = q.filter(reports::created_at.ge(since));
    }
    if let Some(c) = cursor {
        q = q.filter(
            reports::created_at.lt(c.created_at).or(reports::created_at
                .eq(c.created_at)
                .and(reports::id.lt(c.id))),
        );
    }
    q.order((reports::created_at.desc(), reports::id.desc()))
        .limit(limit)
        .select(ReportWithNames::as_select())
        .load(conn)
        .await
}

/// Open reports of a category inside a box, submitted since `since`: candidates for "already
/// reported". The box comes from the radius; the caller keeps those within the radius itself.
pub async fn open_nearby(
    conn: &mut AsyncPgConnection,
    category: Uuid,
    around: BoundingBox,
    since: DateTime<Utc>,
    exclude: Uuid,
) -> QueryResult<Vec<Report>> {
    reports::table
        .filter(inside!(around))
        .filter(reports::category_id.eq(category))
        .filter(reports::status.eq_any(ReportStatus::OPEN))
        .filter(reports::created_at.ge(since))
        .filter(reports::id.ne(exclude))
        // Shown to the resident submitting: nothing hidden from the public.
        .filter(reports::hidden_at.is_null())
        .order(reports::created_at.desc())
        .limit(200)
        .select(Report::as_select())
        .load(conn)
        .await
}

/// What a transition changes on the row. `None` leaves a column alone; `Some(None)` clears a
/// nullable one. The version is always bumped by [`update_if_version`].
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = reports)]
pub struct ReportChange {
    pub status: Option<ReportStatus>,
    pub department_id: Option<Uuid>,
    pub assignee_id: Option<Option<Uuid>>,
    pub duplicate_of: Option<Option<Uuid>>,
    pub due_at: Option<DateTime<Utc>>,
    pub ack_due_at: Option<DateTime<Utc>>,
    pub accepted_at: Option<Option<DateTime<Utc>>>,
    pub ack_overdue_at: Option<Option<DateTime<Utc>>>,
    pub overdue_at: Option<Option<DateTime<Utc>>>,
    pub extended_at: Option<Option<DateTime<Utc>>>,
    pub resolved_at: Option<Option<DateTime<Utc>>>,
    pub closed_at: Option<Option<DateTime<Utc>>>,
    pub reopen_count: Option<i32>,
    pub ack_working_minutes: Option<Option<i32>>,
    pub resolve_working_minutes: Option<Option<i32>>,
    /// Moderation: the public description.
    pub description: Option<String>,
    pub hidden_at: Option<Option<DateTime<Utc>>>,
    pub hidden_reason: Option<Option<String>>,
    pub hidden_by: Option<Option<Uuid>>,
}

/// Applies `change` if the row is still at `version` (optimistic concurrency: two staff acting
/// at once cannot both win). Returns the new version, or `None` when someone else changed the
/// report first.
pub async fn update_if_version(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    version: i32,
    change: &ReportChange,
) -> QueryResult<Option<i32>> {
    diesel::update(
        reports::table
            .filter(reports::id.eq(id))
            .filter(reports::version.eq(version)),
    )
    .set((change, reports::version.eq(reports::version + 1)))
    .returning(reports::version)
    .get_result(conn)
    .await
    .optional()
}

/// Locks these reports' rows until the transaction ends, always in id order (so two
/// transactions locking the same pair cannot deadlock).
pub async fn lock(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<()> {
    reports::table
        .filter(reports::id.eq_any(ids))
        .order(reports::id)
        .select(reports::id)
        .for_update()
        .load::<Uuid>(conn)
        .await?;
    Ok(())
}

/// Adds `n` (±) to the follower count and returns the new count. Not a staff decision, so it
/// does not bump the version.
pub async fn add_followers(conn: &mut AsyncPgConnection, id: Uuid, n: i32) -> QueryResult<i32> {
    diesel::update(reports::table.find(id))
        .set(reports::follower_count.eq(reports::follower_count + n))
        .returning(reports::follower_count)
        .get_result(conn)
        .await
}

/// The queue's orders (api.md: `sort=due_at|-created_at`; the other two directions as well).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketSort {
    DueAt,
    DueAtDesc,
    CreatedAt,
    CreatedAtDesc,
}

impl TicketSort {
    pub fn parse(raw: &str) -> Option<TicketSort> {
        Some(match raw {
            "due_at" => TicketSort::DueAt,
            "-due_at" => TicketSort::DueAtDesc,
            "created_at" => TicketSort::CreatedAt,
            "-created_at" => TicketSort::CreatedAtDesc,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TicketSort::DueAt => "due_at",
            TicketSort::DueAtDesc => "-due_at",
            TicketSort::CreatedAt => "created_at",
            TicketSort::CreatedAtDesc => "-created_at",
        }
    }

    /// The sort key of a row.
    pub fn key(self, r: &Report) -> DateTime<Utc> {
        match self {
            TicketSort::DueAt | TicketSort::DueAtDesc => r.due_at,
            TicketSort::CreatedAt | TicketSort::CreatedAtDesc => r.created_at,
        }
    }
}

/// Who is working on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    User(Uuid),
    Nobody,
}

#[derive(Debug, Clone)]
pub struct TicketFilter {
    /// `None`: every department (admins).
    pub department: Option<Uuid>,
    pub statuses: Vec<ReportStatus>,
    /// `Some(true)`: open and past the deadline at `now`; `Some(false)`: the others.
    pub overdue: Option<bool>,
    pub now: DateTime<Utc>,
    pub assignee: Option<AssigneeFilter>,
    pub category: Option<String>,
    pub area: Option<String>,
    /// `LIKE` patterns over the folded text; each must match.
    pub search: Vec<String>,
}

/// A page of the staff queue: rows after `cursor = (sort key, id)` in `sort` order.
pub async fn list_tickets(
    conn: &mut AsyncPgConnection,
    filter: &TicketFilter,
    sort: TicketSort,
    cursor: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<ReportWithNames>> {
    use diesel::sql_types::Text;
    let mut q = with_names!().into_boxed();
    if let Some(d) = filter.department {
        q = q.filter(reports::department_id.eq(d));
    }
    if !filter.statuses.is_empty() {
        q = q.filter(reports::status.eq_any(filter.statuses.clone()));
    }
    match filter.overdue {
        Some(true) => {
            q = q
                .filter(reports::status.eq_any(ReportStatus::OPEN))
                .filter(reports::due_at.lt(filter.now))
        }
        Some(false) => {
            q = q.filter(
                reports::due_at
                    .ge(filter.now)
                    .or(reports::status.ne_all(ReportStatus::OPEN)),
            )
        }
        None => {}
    }
    match filter.assignee {
        Some(AssigneeFilter::User(u)) => q = q.filter(reports::assignee_id.eq(u)),
        Some(AssigneeFilter::Nobody) => q = q.filter(reports::assignee_id.is_null()),
        None => {}
    }
    if let Some(code) = &filter.category {
        q = q.filter(categories::code.eq(code.clone()));
    }
    if let Some(code) = &filter.area {
        q = q.filter(areas::code.eq(code.clone()));
    }
    for pattern in &filter.search {
        // The pattern goes through the same fold as the stored text (see domain::search).
        q = q.filter(
            sql::<Bool>("reports.search_text LIKE phananh_fold(")
                .bind::<Text, _>(pattern.clone())
                .sql(")"),
        );
    }
    // Row comparisons, `(due_at, id) > ($1, $2)`: PostgreSQL turns them into an index range
    // on `reports_queue_due` / `reports_queue_created`, so a deep page costs what the first does.
    let q = match cursor {
        Some((at, id)) => {
            let (column, op) = match sort {
                TicketSort::DueAt => ("due_at", ">"),
                TicketSort::DueAtDesc => ("due_at", "<"),
                TicketSort::CreatedAt => ("created_at", ">"),
                TicketSort::CreatedAtDesc => ("created_at", "<"),
            };
            q.filter(
                sql::<Bool>(&format!("(reports.{column}, reports.id) {op} ("))
                    .bind::<diesel::sql_types::Timestamptz, _>(at)
                    .sql(", ")
                    .bind::<diesel::sql_types::Uuid, _>(id)
                    .sql(")"),
            )
        }
        None => q,
    };
    let q = match sort {
        TicketSort::DueAt => q.order((reports::due_at.asc(), reports::id.asc())),
        TicketSort::DueAtDesc => q.order((reports::due_at.desc(), reports::id.desc())),
        TicketSort::CreatedAt => q.order((reports::created_at.asc(), reports::id.asc())),
        TicketSort::CreatedAtDesc => q.order((reports::created_at.desc(), reports::id.desc())),
    };
    q.limit(limit)
        .select(ReportWithNames::as_select())
        .load(conn)
        .await
}

/// A report a background job just changed: what its timeline event needs.
#[derive(Debug, Clone, QueryableByName)]
pub struct Marked {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub area_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub department_id: Uuid,
    #[diesel(sql_type = super::schema::sql_types::ReportStatus)]
    pub status: ReportStatus,
}

/// Marks up to `limit` open reports whose deadline passed before `now` as overdue. Rows another
/// transaction holds are skipped (`SKIP LOCKED`), so several processes share the work and none
/// waits; a skipped row is found again by the next pass.
pub async fn mark_overdue(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<Marked>> {
    diesel::sql_query(
        "UPDATE reports SET overdue_at = $1 WHERE id IN (\
            SELECT id FROM reports \
            WHERE overdue_at IS NULL AND due_at < $1 \
              AND status IN ('new', 'accepted', 'in_progress', 'on_hold', 'reopened') \
            ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING id, area_id, department_id, status",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(now)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)
    .await
}

/// Marks up to `limit` reports still `new` past their acknowledgement deadline.
pub async fn mark_ack_overdue(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<Marked>> {
    diesel::sql_query(
        "UPDATE reports SET ack_overdue_at = $1 WHERE id IN (\
            SELECT id FROM reports \
            WHERE status = 'new' AND ack_overdue_at IS NULL AND ack_due_at < $1 \
            ORDER BY ack_due_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING id, area_id, department_id, status",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(now)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)
    .await
}

/// Closes up to `limit` reports resolved before `resolved_before` (not reopened since). A
/// reopen in flight holds its row, so it is skipped here, and the reopen's version check makes
/// it lose cleanly if the close committed first.
pub async fn close_resolved(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    resolved_before: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<Marked>> {
    diesel::sql_query(
        "UPDATE reports SET status = 'closed', closed_at = $1, version = version + 1 WHERE id IN (\
            SELECT id FROM reports \
            WHERE status = 'resolved' AND resolved_at < $2 \
            ORDER BY resolved_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
         RETURNING id, area_id, department_id, status",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(now)
    .bind::<diesel::sql_types::Timestamptz, _>(resolved_before)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)
    .await
}

/// A department's open tickets, and how many of them are past their deadline at `now`.
pub async fn open_and_overdue(
    conn: &mut AsyncPgConnection,
    department: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<(i64, i64)> {
    use diesel::dsl::{count_star, sql};
    use diesel::sql_types::BigInt;
    reports::table
        .filter(reports::department_id.eq(department))
        .filter(reports::status.eq_any(ReportStatus::OPEN))
        .select((
            count_star(),
            sql::<BigInt>("count(*) FILTER (WHERE reports.due_at < ")
                .bind::<diesel::sql_types::Timestamptz, _>(now)
                .sql(")"),
        ))
        .first(conn)
        .await
}

#[derive(QueryableByName)]
struct StatusTotal {
    #[diesel(sql_type = super::schema::sql_types::ReportStatus)]
    status: ReportStatus,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Reports by current state, all of them: the yearly cells of `stats_rollup` (kept exact by its
/// triggers), a few rows per year instead of a scan of `reports`.
pub async fn totals_by_status(
    conn: &mut AsyncPgConnection,
) -> QueryResult<Vec<(ReportStatus, i64)>> {
    let rows: Vec<StatusTotal> = diesel::sql_query(
        "SELECT status, sum(n)::bigint AS n FROM stats_rollup WHERE grain = 'y' \
         AND area_id = '00000000-0000-0000-0000-000000000000' \
         AND category_id = '00000000-0000-0000-0000-000000000000' \
         AND department_id = '00000000-0000-0000-0000-000000000000' GROUP BY status",
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.status, r.n)).collect())
}

/// Open311 `GET requests`: which public reports.
#[derive(Debug, Default, Clone)]
pub struct RequestFilter {
    /// `service_request_id`: these reports (by id or tracking code) and no other filter.
    pub only: Option<(Vec<Uuid>, Vec<String>)>,
    pub categories: Vec<String>,
    pub statuses: Vec<ReportStatus>,
    pub requested_from: Option<DateTime<Utc>>,
    pub requested_to: Option<DateTime<Utc>>,
    pub updated_from: Option<DateTime<Utc>>,
    pub updated_to: Option<DateTime<Utc>>,
    pub bbox: Option<BoundingBox>,
}

/// Public reports (public categories only, none hidden by moderation), newest first, a page by
/// offset.
pub async fn list_requests(
    conn: &mut AsyncPgConnection,
    filter: &RequestFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<ReportWithNames>> {
    let mut q = with_names!()
        .filter(categories::public.eq(true))
        .filter(reports::hidden_at.is_null())
        .into_boxed();
    if let Some((ids, codes)) = &filter.only {
        q = q.filter(
            reports::id
                .eq_any(ids.clone())
                .or(reports::tracking_code.eq_any(codes.clone())),
        );
    } else {
        if !filter.categories.is_empty() {
            q = q.filter(categories::code.eq_any(filter.categories.clone()));
        }
        if !filter.statuses.is_empty() {
            q = q.filter(reports::status.eq_any(filter.statuses.clone()));
        }
        if let Some(t) = filter.requested_from {
            q = q.filter(reports::created_at.ge(t));
        }
        if let Some(t) = filter.requested_to {
            q = q.filter(reports::created_at.le(t));
        }
        if let Some(t) = filter.updated_from {
            q = q.filter(reports::updated_at.ge(t));
        }
        if let Some(t) = filter.updated_to {
            q = q.filter(reports::updated_at.le(t));
        }
        if let Some(b) = filter.bbox {
            q = q.filter(inside!(b));
        }
    }
    q.order((reports::created_at.desc(), reports::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(ReportWithNames::as_select())
        .load(conn)
        .await
}
