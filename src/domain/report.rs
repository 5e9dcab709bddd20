//! A report as intake sees it: its lifecycle states, and the checked values a resident sends.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a report is in its lifecycle (product.md, "Lifecycle of a report").
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = crate::db::schema::sql_types::ReportStatus)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// Routed, waiting for the department.
    New,
    Accepted,
    InProgress,
    /// Waiting on a third party (reason required).
    OnHold,
    Resolved,
    Closed,
    Rejected,
    /// Merged into another report.
    Duplicate,
    /// The reporter said it was not really fixed: back to the department.
    Reopened,
}

impl ReportStatus {
    pub const ALL: [ReportStatus; 9] = [
        ReportStatus::New,
        ReportStatus::Accepted,
        ReportStatus::InProgress,
        ReportStatus::OnHold,
        ReportStatus::Resolved,
        ReportStatus::Closed,
        ReportStatus::Rejected,
        ReportStatus::Duplicate,
        ReportStatus::Reopened,
    ];

    /// Still someone's work: Open311's `open` (product.md).
    pub const OPEN: [ReportStatus; 5] = [
        ReportStatus::New,
        ReportStatus::Accepted,
        ReportStatus::InProgress,
        ReportStatus::OnHold,
        ReportStatus::Reopened,
    ];

    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }

    /// What a resident reads.
    pub fn name_vi(self) -> &'static str {
        match self {
            ReportStatus::New => "Mới tiếp nhận",
            ReportStatus::Accepted => "Đã tiếp nhận",
            ReportStatus::InProgress => "Đang xử lý",
            ReportStatus::OnHold => "Tạm hoãn",
            ReportStatus::Resolved => "Đã giải quyết",
            ReportStatus::Closed => "Đã đóng",
            ReportStatus::Rejected => "Không tiếp nhận",
            ReportStatus::Duplicate => "Trùng phản ánh khác",
            ReportStatus::Reopened => "Đã mở lại",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::New => "new",
            ReportStatus::Accepted => "accepted",
            ReportStatus::InProgress => "in_progress",
            ReportStatus::OnHold => "on_hold",
            ReportStatus::Resolved => "resolved",
            ReportStatus::Closed => "closed",
            ReportStatus::Rejected => "rejected",
            ReportStatus::Duplicate => "duplicate",
            ReportStatus::Reopened => "reopened",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// What the resident wrote: trimmed, 1 to [`Description::MAX_CHARS`] characters, no control
/// characters other than line breaks and tabs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("is too long")]
    TooLong,
    #[error("contains control characters")]
    ControlCharacters,
    #[error("is out of range")]
    OutOfRange,
}

/// Zero-width and byte-order characters: they show nothing.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}')
}

/// Bidirectional overrides and isolates: they can make text read differently from what it says.
fn bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// NFC first (a phone may send "ệ" as e + two combining marks), so length counts what people
/// see and the stored text compares equal to what staff type when they search.
fn clean(raw: &str, max_chars: usize, multiline: bool) -> Result<String, TextError> {
    use unicode_normalization::UnicodeNormalization;
    let normalized: String = raw.nfc().collect();
    let text = normalized.trim();
    if !text.chars().any(|c| !c.is_whitespace() && !invisible(c)) {
        return Err(TextError::Empty);
    }
    if text.chars().count() > max_chars {
        return Err(TextError::TooLong);
    }
    let allowed = |c: char| {
        (!c.is_control() || (multiline && matches!(c, '\n' | '\r' | '\t'))) && !bidi_control(c)
    };
    if !text.chars().all(allowed) {
        return Err(TextError::ControlCharacters);
    }
    Ok(text.to_owned())
}

impl Description {
    pub const MAX_CHARS: usize = 2000;

    pub fn parse(raw: &str) -> Result<Self, TextError> {
        clean(raw, Self::MAX_CHARS, true).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A free-text address or landmark ("gần chợ Thạnh Mỹ"): one line, up to 300 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(String);

impl Address {
    pub const MAX_CHARS: usize = 300;

    /// `None` for an absent or blank address.
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, TextError> {
        match raw {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Ok(None),
            Some(s) => clean(s, Self::MAX_CHARS, false).map(|s| Some(Self(s))),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A note on a report's timeline (public or internal), a rating's comment, a reopen's reason:
/// multi-line, up to 2000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note(String);

impl Note {
    pub const MAX_CHARS: usize = 2000;

    /// `None` for an absent or blank note.
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, TextError> {
        match raw {
            None => Ok(None),
            Some(s) => match clean(s, Self::MAX_CHARS, true) {
                Ok(text) => Ok(Some(Self(text))),
                Err(TextError::Empty) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// GPS accuracy in metres as the phone reports it: finite, 0 to 100 km.
pub fn parse_accuracy(raw: Option<f64>) -> Result<Option<f64>, TextError> {
    match raw {
        None => Ok(None),
        Some(m) if m.is_finite() && (0.0..=100_000.0).contains(&m) => Ok(Some(m)),
        Some(_) => Err(TextError::OutOfRange),
    }
}

/// A client's `Idempotency-Key`: 1–255 visible ASCII characters (a UUID in practice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = (1..=255).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a report went where it went, in the words a resident and a clerk read:
/// "Giao thông … ở xã Ka Đô → Phòng Kinh tế xã Ka Đô, quy tắc #12".
pub fn routing_reason(
    category: &str,
    area: &str,
    placement_note: Option<String>,
    department: &str,
    rule_number: Option<i32>,
) -> String {
    let mut reason = format!("{category} ở {area}");
    if let Some(note) = placement_note {
        reason.push_str(&format!(" ({note})"));
    }
    reason.push_str(&format!(" → {department}"));
    match rule_number {
        Some(n) => reason.push_str(&format!(", quy tắc #{n}")),
        None => reason.push_str(", không có quy tắc phù hợp: chuyển bộ phận tiếp nhận"),
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_open_matches_open311() {
        for s in ReportStatus::ALL {
            assert_eq!(ReportStatus::parse(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert!(ReportStatus::New.is_open() && ReportStatus::Reopened.is_open());
        assert!(!ReportStatus::Resolved.is_open() && !ReportStatus::Duplicate.is_open());
        assert_eq!(ReportStatus::parse("open"), None);
    }

    #[test]
    fn description_is_trimmed_and_bounded_in_characters_not_bytes() {
        assert_eq!(
            Description::parse("  Đường sạt lở \n").unwrap().as_str(),
            "Đường sạt lở"
        );
        assert_eq!(Description::parse("   "), Err(TextError::Empty));
        // 2000 Vietnamese characters are ~6000 bytes and still fine.
        assert!(Description::parse(&"đ".repeat(2000)).is_ok());
        assert_eq!(
            Description::parse(&"đ".repeat(2001)),
            Err(TextError::TooLong)
        );
        assert!(Description::parse("dòng 1\ndòng 2\tx").is_ok());
        // Invisible-only text is empty; bidirectional overrides are refused.
        assert_eq!(
            Description::parse("\u{200B}\u{FEFF} \u{200D}"),
            Err(TextError::Empty)
        );
        assert_eq!(
            Description::parse("abc\u{202E}def"),
            Err(TextError::ControlCharacters)
        );
        // Decomposed Vietnamese counts (and is stored) as the precomposed text.
        let decomposed = "e\u{0302}\u{0323}".repeat(2000);
        assert_eq!(
            Description::parse(&decomposed).unwrap().as_str(),
            "ệ".repeat(2000)
        );
        assert_eq!(
            Description::parse("a\u{0}b"),
            Err(TextError::ControlCharacters)
        );
    }

    #[test]
    fn address_is_optional_and_single_line() {
        assert_eq!(Address::parse(None), Ok(None));
        assert_eq!(Address::parse(Some("  ")), Ok(None));
        assert_eq!(
            Address::parse(Some("Thôn Lạc Thiện"))
                .unwrap()
                .unwrap()
                .as_str(),
            "Thôn Lạc Thiện"
        );
        assert_eq!(
            Address::parse(Some("a\nb")),
            Err(TextError::ControlCharacters)
        );
    }

    #[test]
    fn accuracy_must_be_finite_and_plausible() {
        assert_eq!(parse_accuracy(Some(12.5)), Ok(Some(12.5)));
        assert!(parse_accuracy(Some(-1.0)).is_err());
        assert!(parse_accuracy(Some(f64::INFINITY)).is_err());
        assert_eq!(parse_accuracy(None), Ok(None));
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(IdempotencyKey::parse("0190c3e4-7b1a-7cc0-8d2e-2f0d1c1a2b3c").is_some());
        assert!(IdempotencyKey::parse("").is_none());
        assert!(IdempotencyKey::parse("has space").is_none());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_none());
        assert!(IdempotencyKey::parse("khóa").is_none());
    }

    #[test]
    fn routing_reason_names_category_area_department_and_rule() {
        assert_eq!(
            routing_reason(
                "Giao thông",
                "xã Ka Đô",
                None,
                "Phòng Kinh tế xã Ka Đô",
                Some(12)
            ),
            "Giao thông ở xã Ka Đô → Phòng Kinh tế xã Ka Đô, quy tắc #12"
        );
        let fallback = routing_reason("Khác", "xã D'Ran", None, "Bộ phận tiếp nhận", None);
        assert!(fallback.contains("bộ phận tiếp nhận"), "{fallback}");
    }
}
