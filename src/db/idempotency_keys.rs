//! `idempotency_keys`: the first response to an `Idempotency-Key`, replayed to retries.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::idempotency_keys;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys, check_for_backend(diesel::pg::Pg))]
pub struct StoredResponse {
    pub request_hash: Vec<u8>,
    pub status_code: Option<i16>,
    pub response: Option<serde_json::Value>,
}

/// Claims the key for this request. `false`: it was already claimed (and, if that request is
/// still running, PostgreSQL made this call wait until it committed or rolled back).
pub async fn claim(
    conn: &mut AsyncPgConnection,
    owner: Uuid,
    scope: &str,
    key: &str,
    request_hash: &[u8],
) -> QueryResult<bool> {
    let n = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::owner_id.eq(owner),
            idempotency_keys::scope.eq(scope),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_hash.eq(request_hash),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    owner: Uuid,
    scope: &str,
    key: &str,
) -> QueryResult<Option<StoredResponse>> {
    idempotency_keys::table
        .find((owner, scope, key))
        .select(StoredResponse::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn complete(
    conn: &mut AsyncPgConnection,
    owner: Uuid,
    scope: &str,
    key: &str,
    status: i16,
    response: &serde_json::Value,
    resource: Uuid,
) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((owner, scope, key)))
        .set((
            idempotency_keys::status_code.eq(status),
            idempotency_keys::response.eq(response),
            idempotency_keys::resource_id.eq(resource),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets keys older than `older_than`; returns how many.
pub async fn purge(
    conn: &mut AsyncPgConnection,
    older_than: chrono::DateTime<chrono::Utc>,
) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(older_than)))
        .execute(conn)
        .await
}
