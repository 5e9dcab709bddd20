//! What staff read: Vietnamese first, English below it (the fallback for a reader without
//! Vietnamese), as plain text and HTML. Rendered when the cause happens, so a message says what
//! was true then.

use chrono::{DateTime, Utc};

use super::email::EmailPayload;
use crate::domain::calendar::vietnam;

/// What a ticket email needs to say.
#[derive(Debug, Clone)]
pub struct TicketFacts {
    pub id: uuid::Uuid,
    pub tracking_code: String,
    pub category: String,
    pub area: String,
    pub department: String,
    pub description: String,
    pub address: Option<String>,
    pub due_at: DateTime<Utc>,
}

/// `17:00 04/12/2026` in Vietnam time.
fn local(at: DateTime<Utc>) -> String {
    at.with_timezone(&vietnam())
        .format("%H:%M %d/%m/%Y")
        .to_string()
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The first `max` characters, on a character boundary.
fn excerpt(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

pub fn ticket_link(public_url: &str, id: uuid::Uuid) -> String {
    format!("{}/tickets/{id}", public_url.trim_end_matches('/'))
}

struct Parts<'a> {
    template: &'a str,
    subject: String,
    heading_vi: String,
    heading_en: String,
    extra_vi: Option<String>,
    extra_en: Option<String>,
}

fn ticket_email(to: &str, facts: &TicketFacts, public_url: &str, p: Parts<'_>) -> EmailPayload {
    let link = ticket_link(public_url, facts.id);
    let description = excerpt(&facts.description, 500);
    let address = facts.address.clone().unwrap_or_default();
    let due = local(facts.due_at);
    let mut text = format!(
        "{heading_vi}\n\n\
         Mã phản ánh: {code}\nLĩnh vực: {category}\nĐịa bàn: {area}\nPhòng xử lý: {department}\n\
         Hạn xử lý: {due}\nNội dung: {description}\n",
        heading_vi = p.heading_vi,
        code = facts.tracking_code,
        category = facts.category,
        area = facts.area,
        department = facts.department,
    );
    if !address.is_empty() {
        text.push_str(&format!("Địa điểm: {address}\n"));
    }
    if let Some(extra) = &p.extra_vi {
        text.push_str(&format!("{extra}\n"));
    }
    text.push_str(&format!(
        "\nXem và xử lý: {link}\n\n---\n{}\n",
        p.heading_en
    ));
    text.push_str(&format!(
        "Tracking code: {}\nDeadline: {due} (Vietnam time)\n",
        facts.tracking_code
    ));
    if let Some(extra) = &p.extra_en {
        text.push_str(&format!("{extra}\n"));
    }
    text.push_str(&format!("Open it: {link}\n"));

    let e = escape_html;
    let mut html = format!(
        "<!doctype html><html lang=\"vi\"><body>\
         <h2>{}</h2><table>\
         <tr><th align=\"left\">Mã phản ánh</th><td>{}</td></tr>\
         <tr><th align=\"left\">Lĩnh vực</th><td>{}</td></tr>\
         <tr><th align=\"left\">Địa bàn</th><td>{}</td></tr>\
         <tr><th align=\"left\">Phòng xử lý</th><td>{}</td></tr>\
         <tr><th align=\"left\">Hạn xử lý</th><td>{}</td></tr>\
         <tr><th align=\"left\">Nội dung</th><td>{}</td></tr>",
        e(&p.heading_vi),
        e(&facts.tracking_code),
        e(&facts.category),
        e(&facts.area),
        e(&facts.department),
        e(&due),
        e(&description),
    );
    if !address.is_empty() {
        html.push_str(&format!(
            "<tr><th align=\"left\">Địa điểm</th><td>{}</td></tr>",
            e(&address)
        ));
    }
    html.push_str("</table>");
    if let Some(extra) = &p.extra_vi {
        html.push_str(&format!("<p>{}</p>", e(extra)));
    }
    html.push_str(&format!(
        "<p><a href=\"{0}\">Xem và xử lý</a></p><hr><p lang=\"en\">{1}<br>\
         Tracking code {2}, deadline {3} (Vietnam time). <a href=\"{0}\">Open it</a>.</p>\
         </body></html>",
        e(&link),
        e(&p.heading_en),
        e(&facts.tracking_code),
        e(&due)
    ));
    EmailPayload {
        to: to.to_owned(),
        template: p.template.to_owned(),
        subject: p.subject,
        text,
        html: Some(html),
        link: Some(link),
    }
}

/// A ticket arrived in the reader's department (submitted, or transferred to it).
pub fn new_ticket(to: &str, facts: &TicketFacts, public_url: &str) -> EmailPayload {
    ticket_email(
        to,
        facts,
        public_url,
        Parts {
            template: "new_ticket",
            subject: format!(
                "[{}] Phản ánh mới: {} – {}",
                facts.tracking_code, facts.category, facts.area
            ),
            heading_vi: format!("Phòng {} có phản ánh mới cần tiếp nhận.", facts.department)
                .replace("Phòng Phòng", "Phòng"),
            heading_en: "A new report has arrived in your department.".into(),
            extra_vi: None,
            extra_en: None,
        },
    )
}

/// A ticket of the reader's department is past its legal deadline.
pub fn ticket_overdue(to: &str, facts: &TicketFacts, public_url: &str) -> EmailPayload {
    ticket_email(
        to,
        facts,
        public_url,
        Parts {
            template: "ticket_overdue",
            subject: format!(
                "[{}] QUÁ HẠN: {} – {}",
                facts.tracking_code, facts.category, facts.area
            ),
            heading_vi: "Phản ánh đã quá hạn xử lý theo quy định.".into(),
            heading_en: "This report is past its legal deadline.".into(),
            extra_vi: None,
            extra_en: None,
        },
    )
}

/// The resident reopened a resolved ticket.
pub fn ticket_reopened(
    to: &str,
    facts: &TicketFacts,
    reason: &str,
    public_url: &str,
) -> EmailPayload {
    ticket_email(
        to,
        facts,
        public_url,
        Parts {
            template: "ticket_reopened",
            subject: format!(
                "[{}] Người dân mở lại phản ánh: {}",
                facts.tracking_code, facts.category
            ),
            heading_vi: "Người dân cho biết vấn đề chưa được giải quyết và đã mở lại phản ánh."
                .into(),
            heading_en: "The resident says the problem is not fixed and reopened the report."
                .into(),
            extra_vi: Some(format!("Lý do: {reason}")),
            extra_en: Some(format!("Reason: {reason}")),
        },
    )
}

/// One line of a digest.
#[derive(Debug, Clone)]
pub struct DigestLine {
    pub tracking_code: String,
    pub category: String,
    pub status: String,
    pub due_at: DateTime<Utc>,
    pub overdue: bool,
}

/// The 07:30 summary of a department's open queue, for staff who chose `digest`.
pub fn digest(
    to: &str,
    department: &str,
    open: i64,
    overdue: i64,
    lines: &[DigestLine],
    public_url: &str,
) -> EmailPayload {
    let link = format!("{}/tickets", public_url.trim_end_matches('/'));
    let mut text =
        format!("Tổng hợp phản ánh của {department}: {open} đang mở, {overdue} quá hạn.\n\n");
    let e = escape_html;
    let mut rows = String::new();
    for l in lines {
        let mark = if l.overdue { " (QUÁ HẠN)" } else { "" };
        text.push_str(&format!(
            "- {} | {} | {} | hạn {}{mark}\n",
            l.tracking_code,
            l.category,
            l.status,
            local(l.due_at)
        ));
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            e(&l.tracking_code),
            e(&l.category),
            e(&l.status),
            e(&local(l.due_at)),
            if l.overdue {
                " <strong>QUÁ HẠN</strong>"
            } else {
                ""
            }
        ));
    }
    if (lines.len() as i64) < open {
        text.push_str(&format!(
            "… và {} phản ánh khác.\n",
            open - lines.len() as i64
        ));
    }
    text.push_str(&format!(
        "\nXem hàng đợi: {link}\n\n---\nDaily summary for {department}: {open} open, {overdue} overdue. Queue: {link}\n"
    ));
    let html = format!(
        "<!doctype html><html lang=\"vi\"><body><h2>Tổng hợp phản ánh của {}</h2>\
         <p>{open} đang mở, {overdue} quá hạn.</p><table>\
         <tr><th>Mã</th><th>Lĩnh vực</th><th>Trạng thái</th><th>Hạn xử lý</th></tr>{rows}</table>\
         <p><a href=\"{1}\">Xem hàng đợi</a></p><hr><p lang=\"en\">Daily summary: {open} open, \
         {overdue} overdue. <a href=\"{1}\">Open the queue</a>.</p></body></html>",
        e(department),
        e(&link)
    );
    EmailPayload {
        to: to.to_owned(),
        template: "digest".into(),
        subject: format!("Tổng hợp phản ánh {department}: {open} đang mở, {overdue} quá hạn"),
        text,
        html: Some(html),
        link: Some(link),
    }
}

/// A one-time link to set a new password.
pub fn password_reset(to: &str, name: &str, link: &str, minutes: u64) -> EmailPayload {
    let text = format!(
        "Xin chào {name},\n\nĐể đặt lại mật khẩu, hãy mở liên kết sau trong {minutes} phút tới:\n{link}\n\n\
         Nếu bạn không yêu cầu, hãy bỏ qua thư này.\n\n---\n\
         To reset your password, open this link within {minutes} minutes:\n{link}\n\
         If you did not ask for this, ignore this message.\n"
    );
    let e = escape_html;
    let html = format!(
        "<!doctype html><html lang=\"vi\"><body><p>Xin chào {},</p>\
         <p>Để đặt lại mật khẩu, hãy mở liên kết sau trong {minutes} phút tới:</p>\
         <p><a href=\"{1}\">{1}</a></p><p>Nếu bạn không yêu cầu, hãy bỏ qua thư này.</p><hr>\
         <p lang=\"en\">To reset your password, open the link above within {minutes} minutes. \
         If you did not ask for this, ignore this message.</p></body></html>",
        e(name),
        e(link)
    );
    EmailPayload {
        to: to.to_owned(),
        template: "password_reset".into(),
        subject: "Đặt lại mật khẩu Đơn Dương trực tuyến".into(),
        text,
        html: Some(html),
        link: Some(link.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> TicketFacts {
        TicketFacts {
            id: uuid::Uuid::nil(),
            tracking_code: "7KXM4R2QHD".into(),
            category: "Giao thông".into(),
            area: "xã Ka Đô".into(),
            department: "Phòng Kinh tế xã Ka Đô".into(),
            description: "<script>alert(1)</script> ổ gà".into(),
            address: Some("Thôn \"Ka Đô\" Mới".into()),
            due_at: "2026-12-04T10:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn ticket_mail_says_what_and_by_when_in_both_languages_and_escapes_html() {
        let m = new_ticket("a@b.vn", &facts(), "https://phananh.dondương.vn/");
        assert_eq!(m.template, "new_ticket");
        assert!(m.subject.contains("7KXM4R2QHD"));
        assert!(m.text.contains("Hạn xử lý: 17:00 04/12/2026"));
        assert!(m.text.contains("Deadline: 17:00 04/12/2026 (Vietnam time)"));
        assert!(
            m.text.contains(
                "https://phananh.dondương.vn/tickets/00000000-0000-0000-0000-000000000000"
            )
        );
        let html = m.html.unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
        assert!(html.contains("&quot;Ka Đô&quot;"));
        assert!(m.text.contains("<script>"), "plain text stays as written");
    }

    #[test]
    fn long_descriptions_are_cut_on_a_character() {
        let mut f = facts();
        f.description = "ệ".repeat(600);
        let m = ticket_overdue("a@b.vn", &f, "http://x");
        assert!(m.text.contains(&format!("{}…", "ệ".repeat(500))));
    }
}
