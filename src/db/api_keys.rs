//! `api_keys`: machine clients — the IOC and Open311 partner applications. Only a hash of each
//! key is stored.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::api_keys;
use crate::domain::account::ApiKeyPurpose;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub purpose: ApiKeyPurpose,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn insert(
    conn: &mut AsyncPgConnection,
    name: &str,
    purpose: ApiKeyPurpose,
    hash: &[u8],
    prefix: &str,
) -> QueryResult<ApiKey> {
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(Uuid::now_v7()),
            api_keys::name.eq(name),
            api_keys::purpose.eq(purpose),
            api_keys::key_hash.eq(hash),
            api_keys::prefix.eq(prefix),
        ))
        .returning(ApiKey::as_returning())
        .get_result(conn)
        .await
}

/// The live key of this purpose with this hash, marking it used.
pub async fn authenticate(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    purpose: ApiKeyPurpose,
) -> QueryResult<Option<Uuid>> {
    diesel::update(
        api_keys::table
            .filter(api_keys::key_hash.eq(hash))
            .filter(api_keys::purpose.eq(purpose))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::last_used_at.eq(diesel::dsl::now))
    .returning(api_keys::id)
    .get_result(conn)
    .await
    .optional()
}

/// Every key, newest first (revoked ones too: they explain past activity).
pub async fn list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<ApiKey>> {
    api_keys::table
        .order(api_keys::created_at.desc())
        .select(ApiKey::as_select())
        .load(conn)
        .await
}

/// Revokes a key; `None` when there is no such key. Revoking twice keeps the first time.
pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<ApiKey>> {
    api_keys::table
        .find(id)
        .select(ApiKey::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn revoke(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<ApiKey>> {
    diesel::update(api_keys::table.find(id))
        .set(api_keys::revoked_at.eq(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        >("coalesce(revoked_at, now())")))
        .returning(ApiKey::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn revoke_by_name(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<usize> {
    diesel::update(
        api_keys::table
            .filter(api_keys::name.eq(name))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
}
