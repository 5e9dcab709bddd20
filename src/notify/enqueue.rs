//! Who hears of what. Each function writes outbox rows in the caller's transaction, so a
//! message exists exactly when its cause was committed.

use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::templates::{self, TicketFacts};
use crate::db;
use crate::domain::account::OutboxKind;
use crate::domain::report::ReportStatus;

/// One email per recipient of the ticket's department, rendered by `render`.
async fn to_department(
    conn: &mut AsyncPgConnection,
    report: Uuid,
    render: impl Fn(&str, &TicketFacts) -> super::email::EmailPayload,
) -> QueryResult<usize> {
    let Some(row) = db::reports::find(conn, report).await? else {
        return Ok(0);
    };
    let department = row.report.department_id;
    let facts = TicketFacts {
        id: row.report.id,
        tracking_code: row.report.tracking_code,
        category: row.category_name_vi,
        area: row.area_name,
        department: row.department_name,
        description: row.report.description,
        address: row.report.address,
        due_at: row.report.due_at,
    };
    let recipients = db::users::department_recipients(conn, department).await?;
    for to in &recipients {
        let payload = serde_json::to_value(render(to, &facts))
            .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
        db::outbox::enqueue(conn, OutboxKind::Email, &payload).await?;
    }
    Ok(recipients.len())
}

/// A ticket arrived in its department: submitted, or transferred there.
pub async fn ticket_arrived(
    conn: &mut AsyncPgConnection,
    public_url: &str,
    report: Uuid,
) -> QueryResult<usize> {
    to_department(conn, report, |to, f| {
        templates::new_ticket(to, f, public_url)
    })
    .await
}

/// A ticket passed its legal deadline (the deadline job).
pub async fn ticket_overdue(
    conn: &mut AsyncPgConnection,
    public_url: &str,
    report: Uuid,
) -> QueryResult<usize> {
    to_department(conn, report, |to, f| {
        templates::ticket_overdue(to, f, public_url)
    })
    .await
}

/// The resident reopened a resolved ticket.
pub async fn ticket_reopened(
    conn: &mut AsyncPgConnection,
    public_url: &str,
    report: Uuid,
    reason: &str,
) -> QueryResult<usize> {
    to_department(conn, report, |to, f| {
        templates::ticket_reopened(to, f, reason, public_url)
    })
    .await
}

/// The report's status changed: a push to each device of its reporter and followers who have
/// push on, except whoever made the change.
pub async fn status_changed(
    conn: &mut AsyncPgConnection,
    report: Uuid,
    status: ReportStatus,
    actor: Option<Uuid>,
) -> QueryResult<usize> {
    let Some(row) = db::reports::find(conn, report).await? else {
        return Ok(0);
    };
    let mut people = db::report_followers::followers(conn, report).await?;
    people.extend(row.report.reporter_id);
    people.retain(|u| Some(*u) != actor);
    people.sort();
    people.dedup();
    if people.is_empty() {
        return Ok(0);
    }
    let targets = db::devices::push_targets(conn, &people).await?;
    let code = &row.report.tracking_code;
    for (user, token) in &targets {
        let payload = super::push::PushPayload {
            token: token.clone(),
            user_id: *user,
            template: "status_changed".into(),
            title: format!("Phản ánh {code}: {}", status.name_vi()),
            body: format!("{} – {}", row.category_name_vi, row.area_name),
            title_loc_key: "report_status_title".into(),
            body_loc_key: format!("report_status_{}", status.as_str()),
            loc_args: vec![code.clone(), row.category_name_vi.clone()],
            data: [
                ("report_id".to_owned(), report.to_string()),
                ("status".to_owned(), status.as_str().to_owned()),
                ("tracking_code".to_owned(), code.clone()),
            ]
            .into_iter()
            .collect(),
        };
        let payload = serde_json::to_value(&payload)
            .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
        db::outbox::enqueue(conn, OutboxKind::Push, &payload).await?;
    }
    Ok(targets.len())
}
