//! `api_keys`: machine clients (the IOC).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::api_keys;

pub async fn insert(
    conn: &mut AsyncPgConnection,
    name: &str,
    hash: &[u8],
    prefix: &str,
) -> QueryResult<Uuid> {
    let id = Uuid::now_v7();
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(id),
            api_keys::name.eq(name),
            api_keys::key_hash.eq(hash),
            api_keys::prefix.eq(prefix),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// The live key with this hash, marking it used.
pub async fn authenticate(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<Option<Uuid>> {
    diesel::update(
        api_keys::table
            .filter(api_keys::key_hash.eq(hash))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::last_used_at.eq(diesel::dsl::now))
    .returning(api_keys::id)
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
