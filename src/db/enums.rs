//! Rust enums of `crate::domain` ↔ PostgreSQL enum types, one `pg_enum!` line each.

use std::io::Write;

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};

use super::schema::sql_types;
use crate::domain::account::{
    ApiKeyPurpose, DevicePlatform, OutboxKind, OutboxStatus, Role, UserStatus,
};
use crate::domain::report::ReportStatus;
use crate::domain::{AreaKind, DeadlineUnit, DepartmentKind, HolidayKind};

macro_rules! pg_enum {
    ($rust:ty => $sql:ty { $($variant:ident = $label:literal),+ $(,)? }) => {
        impl ToSql<$sql, Pg> for $rust {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                let label: &str = match self { $(<$rust>::$variant => $label),+ };
                out.write_all(label.as_bytes())?;
                Ok(IsNull::No)
            }
        }
        impl FromSql<$sql, Pg> for $rust {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                match bytes.as_bytes() {
                    $(l if l == $label.as_bytes() => Ok(<$rust>::$variant),)+
                    other => Err(format!(
                        "unknown {} value {:?}", stringify!($sql), String::from_utf8_lossy(other)
                    ).into()),
                }
            }
        }
    };
}

pg_enum!(AreaKind => sql_types::AreaKind {
    Commune = "commune", Ward = "ward", Township = "township",
    SpecialZone = "special_zone", District = "district", Province = "province",
});
pg_enum!(DepartmentKind => sql_types::DepartmentKind {
    KinhTe = "kinh_te", VanHoaXaHoi = "van_hoa_xa_hoi", VanPhong = "van_phong",
    CongAn = "cong_an", Triage = "triage", Other = "other",
});
pg_enum!(DeadlineUnit => sql_types::DeadlineUnit {
    WorkingDays = "working_days", WorkingHours = "working_hours",
});
pg_enum!(HolidayKind => sql_types::HolidayKind {
    DayOff = "day_off", WorkingDay = "working_day",
});
pg_enum!(Role => sql_types::UserRole {
    Citizen = "citizen", Staff = "staff", Manager = "manager", Admin = "admin", Ioc = "ioc",
});
pg_enum!(UserStatus => sql_types::UserStatus {
    Active = "active", Disabled = "disabled", Deleted = "deleted",
});
pg_enum!(DevicePlatform => sql_types::DevicePlatform {
    Android = "android", Ios = "ios", Web = "web",
});
pg_enum!(ApiKeyPurpose => sql_types::ApiKeyPurpose { Ioc = "ioc", Open311 = "open311" });
pg_enum!(OutboxKind => sql_types::OutboxKind {
    Email = "email", Push = "push", IocSnapshot = "ioc_snapshot",
});
pg_enum!(OutboxStatus => sql_types::OutboxStatus {
    Pending = "pending", Delivered = "delivered", Dead = "dead",
});
pg_enum!(ReportStatus => sql_types::ReportStatus {
    New = "new", Accepted = "accepted", InProgress = "in_progress", OnHold = "on_hold",
    Resolved = "resolved", Closed = "closed", Rejected = "rejected", Duplicate = "duplicate",
    Reopened = "reopened",
});

/// A photo row is written before its files (`Pending`) and marked `Ready` after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = sql_types::MediaStatus)]
pub enum MediaStatus {
    Pending,
    Ready,
}
pg_enum!(MediaStatus => sql_types::MediaStatus { Pending = "pending", Ready = "ready" });
