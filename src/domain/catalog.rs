//! The catalog's closed sets (Postgres enums) and its codes.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Kind of administrative unit. Since 2025-07-01 Vietnam has communes (xã), wards (phường) and
/// special zones (đặc khu) under the province; townships and districts exist in older history.
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
#[diesel(sql_type = crate::db::schema::sql_types::AreaKind)]
#[serde(rename_all = "snake_case")]
pub enum AreaKind {
    Commune,
    Ward,
    Township,
    SpecialZone,
    District,
    Province,
}

impl AreaKind {
    /// Reads the kind off a Vietnamese full name ("Xã Đơn Dương", "Phường Mũi Né", "Đặc khu Phú Quý").
    pub fn from_full_name(full_name: &str) -> Option<AreaKind> {
        let lower = full_name.trim().to_lowercase();
        [
            ("xã ", AreaKind::Commune),
            ("phường ", AreaKind::Ward),
            ("thị trấn ", AreaKind::Township),
            ("đặc khu ", AreaKind::SpecialZone),
            ("huyện ", AreaKind::District),
            ("tỉnh ", AreaKind::Province),
        ]
        .into_iter()
        .find_map(|(prefix, kind)| lower.starts_with(prefix).then_some(kind))
    }

    pub fn parse(s: &str) -> Option<AreaKind> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// The departments a commune government has since 2025, plus the jurisdiction-wide triage desk.
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
#[diesel(sql_type = crate::db::schema::sql_types::DepartmentKind)]
#[serde(rename_all = "snake_case")]
pub enum DepartmentKind {
    /// Phòng Kinh tế
    KinhTe,
    /// Phòng Văn hóa – Xã hội
    VanHoaXaHoi,
    /// Văn phòng HĐND-UBND
    VanPhong,
    /// Công an xã
    CongAn,
    /// Bộ phận tiếp nhận và phân loại (fallback for what no rule routes)
    Triage,
    Other,
}

impl DepartmentKind {
    /// What this kind of department looks after, in Vietnamese and English (Open311's service
    /// `group`); none for the catch-all kinds.
    pub fn group(self) -> Option<(&'static str, &'static str)> {
        match self {
            DepartmentKind::KinhTe => Some((
                "Kinh tế, hạ tầng, môi trường",
                "Economy, infrastructure, environment",
            )),
            DepartmentKind::VanHoaXaHoi => Some(("Văn hóa – Xã hội", "Culture and society")),
            DepartmentKind::VanPhong => Some(("Văn phòng HĐND-UBND", "Commune office")),
            DepartmentKind::CongAn => Some(("An ninh, trật tự", "Public order and safety")),
            DepartmentKind::Triage | DepartmentKind::Other => None,
        }
    }

    /// Suffix of the department code (`24943-kinh-te`).
    pub fn slug(self) -> &'static str {
        match self {
            DepartmentKind::KinhTe => "kinh-te",
            DepartmentKind::VanHoaXaHoi => "van-hoa-xa-hoi",
            DepartmentKind::VanPhong => "van-phong",
            DepartmentKind::CongAn => "cong-an",
            DepartmentKind::Triage => "triage",
            DepartmentKind::Other => "other",
        }
    }
}

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
#[diesel(sql_type = crate::db::schema::sql_types::DeadlineUnit)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineUnit {
    WorkingDays,
    WorkingHours,
}

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
#[diesel(sql_type = crate::db::schema::sql_types::HolidayKind)]
#[serde(rename_all = "snake_case")]
pub enum HolidayKind {
    /// A weekday off (public holiday, Tết).
    DayOff,
    /// A weekend day worked (make-up Saturday).
    WorkingDay,
}

macro_rules! code_newtype {
    ($(#[$doc:meta])* $name:ident, $max:expr, $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidCode> {
                let s = raw.trim();
                let valid: fn(char) -> bool = $valid;
                if s.is_empty() || s.len() > $max || !s.chars().all(valid) {
                    return Err(InvalidCode { kind: stringify!($name), value: raw.chars().take(64).collect() });
                }
                Ok(Self(s.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

code_newtype!(
    /// National administrative-unit code of an area, e.g. `24943`.
    AreaCode, 32, |c| c.is_ascii_alphanumeric() || c == '-' || c == '_'
);
code_newtype!(
    /// Category code, e.g. `road`, `traffic_safety`.
    CategoryCode, 40, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
);
code_newtype!(
    /// Department code: area code + kind, e.g. `24943-kinh-te`; `triage` for the district desk.
    DepartmentCode, 64, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}")]
pub struct InvalidCode {
    pub kind: &'static str,
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_vietnamese_full_names() {
        assert_eq!(
            AreaKind::from_full_name("Xã Đơn Dương"),
            Some(AreaKind::Commune)
        );
        assert_eq!(
            AreaKind::from_full_name("Phường Mũi Né"),
            Some(AreaKind::Ward)
        );
        assert_eq!(
            AreaKind::from_full_name("Đặc khu Phú Quý"),
            Some(AreaKind::SpecialZone)
        );
        assert_eq!(
            AreaKind::from_full_name("THỊ TRẤN Thạnh Mỹ"),
            Some(AreaKind::Township)
        );
        assert_eq!(AreaKind::from_full_name("Somewhere"), None);
        assert_eq!(AreaKind::parse("special_zone"), Some(AreaKind::SpecialZone));
        assert_eq!(AreaKind::parse("Commune"), None);
    }

    #[test]
    fn codes_are_checked() {
        assert_eq!(AreaCode::parse(" 24943 ").unwrap().as_str(), "24943");
        assert!(AreaCode::parse("").is_err());
        assert!(AreaCode::parse("24 943").is_err());
        assert!(AreaCode::parse("'; DROP TABLE areas;--").is_err());
        assert!(CategoryCode::parse("traffic_safety").is_ok());
        assert!(CategoryCode::parse("Road").is_err());
        assert!(DepartmentCode::parse("24943-kinh-te").is_ok());
        assert!(DepartmentCode::parse(&"a".repeat(65)).is_err());
    }
}
