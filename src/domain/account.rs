//! Who someone is to the system: their role, their account's state, their push platform.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
#[diesel(sql_type = crate::db::schema::sql_types::UserRole)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A resident: reports, follows, rates.
    Citizen,
    /// Handles the tickets of one department.
    Staff,
    /// Staff who may also assign and transfer.
    Manager,
    /// Runs the deployment.
    Admin,
    /// The Intelligent Operations Center: a machine reading statistics with an API key.
    Ioc,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Citizen,
        Role::Staff,
        Role::Manager,
        Role::Admin,
        Role::Ioc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::Staff => "staff",
            Role::Manager => "manager",
            Role::Admin => "admin",
            Role::Ioc => "ioc",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Staff and managers belong to exactly one department.
    pub fn needs_department(self) -> bool {
        matches!(self, Role::Staff | Role::Manager)
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = crate::db::schema::sql_types::UserStatus)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Disabled,
    /// Anonymised at the owner's request; reports stay, identity goes.
    Deleted,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = crate::db::schema::sql_types::DevicePlatform)]
#[serde(rename_all = "snake_case")]
pub enum DevicePlatform {
    Android,
    Ios,
    Web,
}

/// What a machine client's API key is for. A key of one purpose is refused by the other.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    clap::ValueEnum,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = crate::db::schema::sql_types::ApiKeyPurpose)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyPurpose {
    /// The IOC: `X-Api-Key` on `/api/v1/stats`.
    Ioc,
    /// A partner application: `api_key` on `POST /open311/v2/requests`.
    Open311,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = crate::db::schema::sql_types::OutboxKind)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    Email,
    Push,
    IocSnapshot,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = crate::db::schema::sql_types::OutboxStatus)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    Pending,
    Delivered,
    Dead,
}
