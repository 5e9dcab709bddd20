//! The working-time calendar's exceptions: weekdays off and make-up working Saturdays/Sundays,
//! and a year's suggested public holidays — the same code as `phananh holidays suggest YEAR`
//! ([`db::holidays::apply_suggestions`]). Deadlines read the table on every report, so a change
//! counts for the next report on every server process.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::input::{Problems, conflict, created_json, ok_json, refused};
use crate::auth::{Admins, Authenticated, AuthenticatedJson};
use crate::db::{self, audit::Change};
use crate::domain::HolidayKind;
use crate::error::{ApiError, ErrorCode};
use crate::routes::present;
use crate::routes::reports::bad_query;
use crate::startup::AppState;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HolidayItem {
    pub day: NaiveDate,
    /// `day_off` (a weekday off) or `working_day` (a Saturday or Sunday worked).
    pub kind: HolidayKind,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<db::holidays::Holiday> for HolidayItem {
    fn from(h: db::holidays::Holiday) -> Self {
        HolidayItem {
            day: h.day,
            kind: h.kind,
            name: h.name,
            created_at: h.created_at,
            updated_at: h.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HolidayList {
    pub items: Vec<HolidayItem>,
    /// Always `null`: every entry of the year is listed.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHolidayRequest {
    /// YYYY-MM-DD.
    #[schema(value_type = String, format = Date)]
    pub day: String,
    /// `day_off` (must be a weekday) or `working_day` (must be a Saturday or Sunday).
    pub kind: String,
    /// 1–200 characters.
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidayPatch {
    pub kind: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct YearQuery {
    /// A year, e.g. `2026`.
    #[param(value_type = Option<i32>, minimum = 1, maximum = 9999)]
    pub year: Option<String>,
}

/// The year to suggest holidays for (the lunar calendar is computed for 1901–2199).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SuggestYearQuery {
    /// A year from 1901 to 2199, e.g. `2027`.
    #[param(value_type = i32, required = true, minimum = 1901, maximum = 2199)]
    pub year: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestedHoliday {
    pub day: NaiveDate,
    pub kind: HolidayKind,
    pub name: String,
    /// `false`: the day already had an entry, which was kept.
    pub added: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HolidaySuggestions {
    pub year: i32,
    pub items: Vec<SuggestedHoliday>,
}

const MAX_NAME: usize = 200;

fn weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

fn kind(p: &mut Problems, raw: &str) -> Option<HolidayKind> {
    match raw.trim() {
        "day_off" => Some(HolidayKind::DayOff),
        "working_day" => Some(HolidayKind::WorkingDay),
        _ => {
            p.add(
                "kind",
                "invalid",
                "Loại: day_off (ngày nghỉ) hoặc working_day (ngày làm bù)",
                "Either day_off or working_day",
            );
            None
        }
    }
}

/// A day off is a weekday, a make-up working day a Saturday or Sunday.
fn check_weekday(p: &mut Problems, day: NaiveDate, kind: HolidayKind, field: &str) {
    match (kind, weekend(day)) {
        (HolidayKind::DayOff, true) => p.add(
            field,
            "weekend_day_off",
            "Ngày nghỉ phải là ngày trong tuần (thứ Bảy, Chủ nhật đã là ngày nghỉ)",
            "A day off must be a weekday: Saturdays and Sundays are off already",
        ),
        (HolidayKind::WorkingDay, false) => p.add(
            field,
            "weekday_working_day",
            "Ngày làm bù phải là thứ Bảy hoặc Chủ nhật",
            "A make-up working day must be a Saturday or Sunday",
        ),
        _ => {}
    }
}

fn year(raw: &Option<String>) -> Result<Option<i32>, ApiError> {
    present(raw)
        .map(|y| {
            y.parse::<i32>()
                .ok()
                .filter(|y| (1..=9999).contains(y))
                .ok_or_else(|| {
                    bad_query(
                        "year phải là một năm, ví dụ 2026",
                        "year must be a year, e.g. 2026",
                    )
                })
        })
        .transpose()
}

fn day_in_path(raw: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| not_found_day())
}

fn not_found_day() -> ApiError {
    ApiError::not_found().with_detail("Ngày này không có trong lịch", "No entry for this day")
}

/// The calendar's entries of `year` (every entry without it), by day.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(YearQuery),
    responses(
        (status = 200, description = "The entries", body = HolidayList),
        (status = 400, description = "`invalid_query`: year malformed, or an unknown parameter", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/holidays")]
pub async fn list_holidays(
    _admin: Authenticated<Admins>,
    query: web::Query<YearQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let year = year(&query.year)?;
    let mut conn = state.conn().await?;
    let rows = db::holidays::list(&mut conn, year).await?;
    Ok(ok_json(&HolidayList {
        items: rows.into_iter().map(HolidayItem::from).collect(),
        next_cursor: None,
    }))
}

/// Adds a day off (a weekday) or a make-up working day (a Saturday or Sunday).
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    request_body = NewHolidayRequest,
    responses(
        (status = 201, description = "Added", body = HolidayItem, headers(("Location" = String, description = "The new entry"))),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the day already has an entry", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: day, kind (a day off on a weekend, a working day on a weekday) or name", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/admin/holidays")]
pub async fn create_holiday(
    request: AuthenticatedJson<Admins, NewHolidayRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let mut p = Problems::default();
    let day = p.date("day", &body.day);
    let kind = kind(&mut p, &body.kind);
    let name = p.text("name", &body.name, MAX_NAME);
    if let (Some(d), Some(k)) = (day, kind) {
        check_weekday(&mut p, d, k, "kind");
    }
    p.check()?;
    let (Some(day), Some(kind), Some(name)) = (day, kind, name) else {
        return Err(ApiError::new(ErrorCode::ValidationFailed));
    };
    let exists = || {
        conflict(
            format!("Ngày {day} đã có trong lịch; hãy sửa (PATCH) thay vì thêm"),
            format!("{day} already has an entry; change it with PATCH"),
        )
    };
    let mut conn = state.conn().await?;
    let created = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let row = db::holidays::insert(conn, day, kind, &name)
                .await
                .map_err(|e| {
                    refused(
                        e,
                        "Ngày này đã có trong lịch",
                        "The day already has an entry",
                    )
                })?
                .ok_or_else(exists)?;
            let item = HolidayItem::from(row);
            db::audit::record(
                conn,
                Change::of(
                    &user,
                    "holiday.create",
                    "holiday",
                    day,
                    None::<&HolidayItem>,
                    Some(&item),
                ),
            )
            .await?;
            Ok(item)
        })
        .await?;
    Ok(created_json(
        format!("/api/v1/admin/holidays/{day}"),
        &created,
    ))
}

/// One entry of the calendar.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("day" = String, Path, format = Date, description = "YYYY-MM-DD")),
    responses(
        (status = 200, description = "The entry", body = HolidayItem),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No entry for this day", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/admin/holidays/{day}")]
pub async fn get_holiday(
    _admin: Authenticated<Admins>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let day = day_in_path(&path)?;
    let mut conn = state.conn().await?;
    let row = db::holidays::find(&mut conn, day)
        .await?
        .ok_or_else(not_found_day)?;
    Ok(ok_json(HolidayItem::from(row)))
}

/// Renames an entry or changes its kind (the day is its identity: delete and add to move it).
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("day" = String, Path, format = Date, description = "YYYY-MM-DD")),
    request_body = HolidayPatch,
    responses(
        (status = 200, description = "The entry as it is now", body = HolidayItem),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No entry for this day", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: kind or name", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/api/v1/admin/holidays/{day}")]
pub async fn update_holiday(
    request: AuthenticatedJson<Admins, HolidayPatch>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let day = day_in_path(&path)?;
    let mut p = Problems::default();
    let new_kind = body.kind.as_deref().map(|k| kind(&mut p, k));
    let new_name = body.name.as_deref().map(|n| p.text("name", n, MAX_NAME));
    if let Some(Some(k)) = new_kind {
        check_weekday(&mut p, day, k, "kind");
    }
    p.check()?;
    let mut conn = state.conn().await?;
    let updated = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let current = db::holidays::find(conn, day)
                .await?
                .ok_or_else(not_found_day)?;
            let kind = new_kind.flatten().unwrap_or(current.kind);
            let name = new_name.flatten().unwrap_or_else(|| current.name.clone());
            let before = HolidayItem::from(current);
            if kind == before.kind && name == before.name {
                return Ok(before);
            }
            let row = db::holidays::update(conn, day, kind, &name)
                .await
                .map_err(|e| refused(e, "Xung đột", "Conflict"))?;
            let after = HolidayItem::from(row);
            db::audit::record(
                conn,
                Change::of(
                    &user,
                    "holiday.update",
                    "holiday",
                    day,
                    Some(&before),
                    Some(&after),
                ),
            )
            .await?;
            Ok(after)
        })
        .await?;
    Ok(ok_json(&updated))
}

/// Removes an entry: the day follows the ordinary week again (reports already due keep their
/// deadline).
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("day" = String, Path, format = Date, description = "YYYY-MM-DD")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No entry for this day", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/admin/holidays/{day}")]
pub async fn delete_holiday(
    admin: Authenticated<Admins>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let day = day_in_path(&path)?;
    let mut conn = state.conn().await?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        let current = db::holidays::find(conn, day)
            .await?
            .ok_or_else(not_found_day)?;
        db::holidays::delete(conn, day).await?;
        let before = HolidayItem::from(current);
        db::audit::record(
            conn,
            Change::of(
                &*admin,
                "holiday.delete",
                "holiday",
                day,
                Some(&before),
                None::<&HolidayItem>,
            ),
        )
        .await?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Vietnam's public holidays of `year` (Tết and Giỗ Tổ from the lunar calendar, a make-up day off
/// for each on a weekend), added where the day has no entry yet — an admin's entries stand. The
/// same as `phananh holidays suggest YEAR`; one audit line `holiday.import` when anything is added.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(SuggestYearQuery),
    responses(
        (status = 200, description = "The year's days off, each with whether it was added", body = HolidaySuggestions),
        (status = 400, description = "`invalid_query`: year missing, malformed or outside 1901–2199", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/admin/holidays/suggest")]
pub async fn suggest_holidays(
    admin: Authenticated<Admins>,
    query: web::Query<SuggestYearQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let out_of_range = || {
        bad_query(
            "year phải là một năm từ 1901 đến 2199",
            "year must be a year from 1901 to 2199",
        )
    };
    let year = year(&query.year)?.ok_or_else(out_of_range)?;
    let mut conn = state.conn().await?;
    let items = db::holidays::apply_suggestions(&mut conn, year, db::audit::Actor::from(&*admin))
        .await?
        .ok_or_else(out_of_range)?;
    Ok(ok_json(&HolidaySuggestions {
        year,
        items: items
            .into_iter()
            .map(|s| SuggestedHoliday {
                day: s.day,
                kind: HolidayKind::DayOff,
                name: s.name,
                added: s.added,
            })
            .collect(),
    }))
}
