//! `servicerequestupdates` (mySociety's extension, which FixMyStreet follows): what changed on
//! the public reports between two times.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::MAX_WINDOW_DAYS;
use super::xml::{ToXml, Xml};
use super::{
    ErrorItem, Format, Open311Error, OrOpen311, Params, begin, paging, render_list, time_param, w3c,
};
use crate::db;
use crate::domain::report::ReportStatus;
use crate::startup::AppState;

/// mySociety's update statuses, from what happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStatus {
    Open,
    Investigating,
    InProgress,
    ActionScheduled,
    Fixed,
    Closed,
    NoFurtherAction,
    Duplicate,
    InternalReferral,
}

impl UpdateStatus {
    /// A transfer is an internal referral; otherwise the state the report reached.
    pub fn of(action: &str, to: ReportStatus) -> UpdateStatus {
        if action == "transfer" {
            return UpdateStatus::InternalReferral;
        }
        match to {
            ReportStatus::New | ReportStatus::Reopened => UpdateStatus::Open,
            ReportStatus::Accepted => UpdateStatus::Investigating,
            ReportStatus::InProgress => UpdateStatus::InProgress,
            ReportStatus::OnHold => UpdateStatus::ActionScheduled,
            ReportStatus::Resolved => UpdateStatus::Fixed,
            ReportStatus::Closed => UpdateStatus::Closed,
            ReportStatus::Rejected => UpdateStatus::NoFurtherAction,
            ReportStatus::Duplicate => UpdateStatus::Duplicate,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::Open => "open",
            UpdateStatus::Investigating => "investigating",
            UpdateStatus::InProgress => "in_progress",
            UpdateStatus::ActionScheduled => "action_scheduled",
            UpdateStatus::Fixed => "fixed",
            UpdateStatus::Closed => "closed",
            UpdateStatus::NoFurtherAction => "no_further_action",
            UpdateStatus::Duplicate => "duplicate",
            UpdateStatus::InternalReferral => "internal_referral",
        }
    }
}

/// One change of a public report.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestUpdate {
    /// The timeline entry's id.
    pub update_id: String,
    pub service_request_id: String,
    pub status: UpdateStatus,
    #[schema(value_type = String, format = DateTime)]
    pub updated_datetime: String,
    /// The public note, or empty.
    pub description: String,
    /// The first photo attached to the change (e.g. the repaired road).
    pub media_url: Option<String>,
    /// This service's own status after the change.
    pub external_status_code: ReportStatus,
}

impl ToXml for RequestUpdate {
    fn to_xml(&self, x: &mut Xml) {
        x.text("update_id", &self.update_id);
        x.text("service_request_id", &self.service_request_id);
        x.text("status", self.status.as_str());
        x.text("updated_datetime", &self.updated_datetime);
        x.text("description", &self.description);
        x.opt("media_url", self.media_url.as_ref());
        x.text("external_status_code", self.external_status_code.as_str());
    }
}

/// The public changes of public reports between `start_date` and `end_date` (default: the last 24
/// hours; `start_date` alone: since then; at most 90 days), oldest first, a page at a time.
/// Internal notes are never included.
#[utoipa::path(
    tag = "open311",
    params(
        ("format" = Format, Path, description = "`json` or `xml`"),
        ("jurisdiction_id" = Option<String>, Query, description = "Checked when the deployment configures one"),
        ("start_date" = Option<String>, Query, description = "Changes at or after (W3C date-time); default 24 hours before end_date; alone: since then"),
        ("end_date" = Option<String>, Query, description = "Changes at or before; default now"),
        ("page" = Option<String>, Query, pattern = "^([1-9][0-9]{0,6})?$", description = "From 1, default (or empty) 1; page × page_size at most 100 000 (further back, narrow the dates)"),
        ("page_size" = Option<String>, Query, pattern = "^([1-9][0-9]{0,2}|1000)?$", description = "1–1000, default (or empty) 50"),
    ),
    responses(
        (status = 200, description = "The updates (XML: `<service_request_updates><request_update>`)", content(
            (Vec<RequestUpdate> = "application/json"),
            (String = "text/xml")
        )),
        (status = 400, description = "A malformed parameter or a window over 90 days", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
        (status = 404, description = "Unknown format or jurisdiction", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
        (status = 503, description = "Database unreachable", content((Vec<ErrorItem> = "application/json"), (String = "text/xml"))),
    )
)]
#[get("/open311/v2/servicerequestupdates.{format}")]
pub async fn list_updates(
    path: web::Path<String>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Open311Error> {
    let params = Params::from_query(&req);
    let format = begin(&state, &path, &params)?;
    let start = time_param(&params, "start_date", false, format)?;
    let end = time_param(&params, "end_date", true, format)?;
    // Alone, `start_date` means "since then" (nothing yet when it is still to come), and
    // `end_date` "the day before it".
    let (start, end) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, Utc::now().max(s)),
        (None, Some(e)) => (e - Duration::hours(24), e),
        (None, None) => {
            let now = Utc::now();
            (now - Duration::hours(24), now)
        }
    };
    if end < start {
        return Err(Open311Error::bad_request(
            format,
            "end_date is before start_date",
        ));
    }
    if end - start > Duration::days(MAX_WINDOW_DAYS) {
        return Err(Open311Error::bad_request(
            format,
            format!("start_date and end_date may span at most {MAX_WINDOW_DAYS} days"),
        ));
    }
    let (offset, limit) = paging(&params, format)?;
    let mut conn = state.conn().await.or_open311(format)?;
    let events = db::report_events::public_between(&mut conn, start, end, offset, limit)
        .await
        .or_open311(format)?;
    let ids: Vec<_> = events.iter().map(|e| e.id).collect();
    let photos = db::media::for_events(&mut conn, &ids)
        .await
        .or_open311(format)?;
    let updates: Vec<RequestUpdate> = events
        .into_iter()
        .map(|e| RequestUpdate {
            update_id: e.id.to_string(),
            service_request_id: e.report_id.to_string(),
            status: UpdateStatus::of(&e.action, e.to_status),
            updated_datetime: w3c(e.created_at),
            description: e.public_note.unwrap_or_default(),
            media_url: photos
                .iter()
                .find(|m| m.event_id == Some(e.id) && !m.is_removed())
                .map(|m| crate::routes::reports::photo_ref(&state, m).url),
            external_status_code: e.to_status,
        })
        .collect();
    Ok(render_list(
        format,
        StatusCode::OK,
        "service_request_updates",
        "request_update",
        &updates,
    ))
}
