//! The resident's last word on a report: a rating of the resolution, a reopen when it was not
//! really fixed, and "me too" (following someone else's report).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, post, web};
use chrono::{Duration, Utc};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::reports::{field, view, visible};
use super::tickets::{Change, RatingView, commit, refusal};
use crate::auth::{Accounts, AuthUser, Authenticated, AuthenticatedJson};
use crate::db;
use crate::db::report_events::EventDetails;
use crate::db::report_ratings::Rating;
use crate::db::reports::{ReportChange, ReportWithNames};
use crate::domain::lifecycle::{self, Action, Actor};
use crate::domain::report::{Note, ReportStatus};
use crate::error::{ApiError, ErrorCode};
use crate::startup::AppState;

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    /// 1 (very unsatisfied) to 5 (very satisfied).
    pub score: i64,
    /// Up to 2000 characters.
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenRequest {
    /// What is still wrong (required, up to 2000 characters).
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowState {
    pub report_id: Uuid,
    pub following: bool,
    /// Residents following the report besides its reporter.
    pub follower_count: i32,
}

/// The report, if the caller may see it at all (404 otherwise), and whether it is theirs.
async fn reported(
    conn: &mut diesel_async::AsyncPgConnection,
    user: &AuthUser,
    id: Uuid,
) -> Result<(ReportWithNames, bool), ApiError> {
    let row = db::reports::find(conn, id).await?;
    let (row, _) = visible(row, Some(user))?;
    let own = row.report.reporter_id == Some(user.id);
    Ok((row, own))
}

fn not_owner() -> ApiError {
    ApiError::new(ErrorCode::Forbidden).with_detail(
        "Chỉ người gửi phản ánh mới làm được việc này",
        "Only the report's reporter may do this",
    )
}

fn note_error(name: &str) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed).with_field(field(
        name,
        "invalid",
        "Tối đa 2000 ký tự, không có ký tự điều khiển",
        "At most 2000 characters, no control characters",
    ))
}

/// Rates the resolution, once per resolution, when the report is `resolved` or `closed`.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Report id")),
    request_body = RatingRequest,
    responses(
        (status = 201, description = "Rated", body = RatingView),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the report's reporter", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such report", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition` (not resolved yet) or `already_rated`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: score outside 1–5 or comment too long", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/reports/{id}/rating")]
pub async fn rate_report(
    path: web::Path<Uuid>,
    request: AuthenticatedJson<Accounts, RatingRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let score = i16::try_from(body.score)
        .ok()
        .filter(|s| (1..=5).contains(s))
        .ok_or_else(|| {
            ApiError::new(ErrorCode::ValidationFailed).with_field(field(
                "score",
                "out_of_range",
                "Điểm đánh giá từ 1 đến 5",
                "The score is 1 to 5",
            ))
        })?;
    let comment = Note::parse(body.comment.as_deref()).map_err(|_| note_error("comment"))?;
    let mut conn = state.conn().await?;
    let (row, own) = reported(&mut conn, &user, path.into_inner()).await?;
    if !own {
        return Err(not_owner());
    }
    let r = row.report;
    if !matches!(r.status, ReportStatus::Resolved | ReportStatus::Closed) {
        return Err(ApiError::new(ErrorCode::InvalidTransition).with_detail(
            "Chỉ đánh giá được khi phản ánh đã được giải quyết",
            "A report can be rated once it is resolved",
        ));
    }
    let rating = Rating {
        report_id: r.id,
        cycle: r.reopen_count,
        user_id: Some(user.id),
        score,
        comment: comment.map(Note::into_string),
        created_at: Utc::now(),
    };
    if !db::report_ratings::insert(&mut conn, &rating).await? {
        return Err(ApiError::new(ErrorCode::AlreadyRated));
    }
    metrics::counter!("phananh_ratings_total", "score" => score.to_string()).increment(1);
    Ok(HttpResponse::Created().json(RatingView {
        score: rating.score,
        comment: rating.comment,
        cycle: rating.cycle,
        created_at: rating.created_at,
    }))
}

/// Reopens a resolved report within `reports.reopen_days` (7) of its resolution: it goes back
/// to the department as `reopened`, and counts as a reopen in the statistics.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Report id")),
    request_body = ReopenRequest,
    responses(
        (status = 200, description = "Reopened; the report as it now is", body = super::reports::ReportView),
        (status = 400, description = "Malformed JSON or unknown field", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the report's reporter", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such report", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: not resolved, or resolved more than 7 days ago", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not `application/json`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: the reason is missing or too long", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/reports/{id}/reopen")]
pub async fn reopen_report(
    path: web::Path<Uuid>,
    request: AuthenticatedJson<Accounts, ReopenRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let AuthenticatedJson { user, body, .. } = request;
    let reason = Note::parse(body.reason.as_deref())
        .map_err(|_| note_error("reason"))?
        .ok_or_else(|| {
            ApiError::new(ErrorCode::ValidationFailed).with_field(field(
                "reason",
                "required",
                "Vui lòng cho biết vấn đề còn tồn tại",
                "Say what is still wrong",
            ))
        })?;
    let id = path.into_inner();
    let window = Duration::days(i64::from(state.settings.reports.reopen_days));
    let mut conn = state.conn().await?;
    let now = Utc::now();
    let row = conn
        .transaction::<ReportWithNames, ApiError, _>(async |conn| {
            let (row, own) = reported(conn, &user, id).await?;
            if !own {
                return Err(not_owner());
            }
            let r = row.report.clone();
            let to = lifecycle::transition(r.status, Action::Reopen, Actor::Reporter)
                .map_err(refusal)?;
            if r.resolved_at.is_some_and(|at| now - at > window) {
                return Err(ApiError::new(ErrorCode::InvalidTransition).with_detail(
                    format!(
                        "Chỉ mở lại được trong {} ngày sau khi giải quyết",
                        window.num_days()
                    ),
                    format!(
                        "A report can be reopened within {} days of its resolution",
                        window.num_days()
                    ),
                ));
            }
            commit(
                conn,
                &r,
                r.version,
                Some(&user),
                |current| {
                    lifecycle::transition(current, Action::Reopen, Actor::Reporter)
                        .map(|_| ())
                        .map_err(refusal)
                },
                Change {
                    action: Action::Reopen.as_str(),
                    to,
                    row: ReportChange {
                        reopen_count: Some(r.reopen_count + 1),
                        resolved_at: Some(None),
                        resolve_working_minutes: Some(None),
                        ..Default::default()
                    },
                    public_note: Some(reason.as_str().to_owned()),
                    internal_note: None,
                    details: EventDetails::default(),
                    media_ids: Vec::new(),
                },
                now,
            )
            .await?;
            crate::notify::enqueue::ticket_reopened(
                conn,
                &state.settings.public_url,
                id,
                reason.as_str(),
            )
            .await?;
            Ok(db::reports::find(conn, id).await?.unwrap_or(row))
        })
        .await?;
    metrics::counter!("phananh_reports_reopened_total").increment(1);
    tracing::info!(report = %id, "report reopened by its reporter");
    let photos = db::media::for_reports(&mut conn, &[id]).await?;
    let body = view(
        &mut conn,
        &state,
        row,
        &photos,
        super::reports::Audience::Owner,
    )
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// "Me too": the caller follows the report's updates, which counts as support. Idempotent:
/// 201 when newly following, 200 when already (a reporter always follows their own).
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Report id")),
    responses(
        (status = 201, description = "Now following", body = FollowState),
        (status = 200, description = "Already following", body = FollowState),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an account (API key)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such report", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/reports/{id}/follow")]
pub async fn follow_report(
    path: web::Path<Uuid>,
    user: Authenticated<Accounts>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let mut conn = state.conn().await?;
    let (state_now, created) = conn
        .transaction::<(FollowState, bool), ApiError, _>(async |conn| {
            let (row, own) = reported(conn, &user, id).await?;
            let added = !own && db::report_followers::follow(conn, id, user.id).await?;
            let follower_count = if added {
                db::reports::add_followers(conn, id, 1).await?
            } else {
                row.report.follower_count
            };
            Ok((
                FollowState {
                    report_id: id,
                    following: true,
                    follower_count,
                },
                added,
            ))
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(state_now))
}

/// Stops following. Idempotent.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Report id")),
    responses(
        (status = 200, description = "Not following (any more)", body = FollowState),
        (status = 401, description = "Not signed in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an account (API key)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such report", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: a reporter cannot unfollow their own report", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database_unavailable`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/api/v1/reports/{id}/follow")]
pub async fn unfollow_report(
    path: web::Path<Uuid>,
    user: Authenticated<Accounts>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let mut conn = state.conn().await?;
    let body = conn
        .transaction::<FollowState, ApiError, _>(async |conn| {
            let (row, own) = reported(conn, &user, id).await?;
            if own {
                return Err(ApiError::new(ErrorCode::Conflict).with_detail(
                    "Người gửi luôn nhận cập nhật về phản ánh của mình",
                    "A reporter always follows their own report",
                ));
            }
            let follower_count = if db::report_followers::unfollow(conn, id, user.id).await? {
                db::reports::add_followers(conn, id, -1).await?
            } else {
                row.report.follower_count
            };
            Ok(FollowState {
                report_id: id,
                following: false,
                follower_count,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}
