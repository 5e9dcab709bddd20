//! `password_resets`: one-time tokens sent by email.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::password_resets;

pub async fn insert(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    hash: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(password_resets::table)
        .values((
            password_resets::id.eq(Uuid::now_v7()),
            password_resets::user_id.eq(user),
            password_resets::token_hash.eq(hash),
            password_resets::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Uses a reset token once: the user it belongs to, if it is unused and unexpired.
pub async fn consume(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<Option<Uuid>> {
    diesel::update(
        password_resets::table
            .filter(password_resets::token_hash.eq(hash))
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::expires_at.gt(diesel::dsl::now)),
    )
    .set(password_resets::used_at.eq(diesel::dsl::now))
    .returning(password_resets::user_id)
    .get_result(conn)
    .await
    .optional()
}
