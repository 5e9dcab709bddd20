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

/// Whether the token is unused, unexpired and belongs to an active account.
pub async fn is_usable(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<bool> {
    use super::schema::users;
    use crate::domain::account::UserStatus;
    diesel::select(diesel::dsl::exists(
        password_resets::table
            .inner_join(users::table)
            .filter(password_resets::token_hash.eq(hash))
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::expires_at.gt(diesel::dsl::now))
            .filter(users::status.eq(UserStatus::Active)),
    ))
    .get_result(conn)
    .await
}

/// Uses a reset token once: the user it belongs to, if it is usable. Every other open token of
/// that user dies with it.
pub async fn consume(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<Option<Uuid>> {
    if !is_usable(conn, hash).await? {
        return Ok(None);
    }
    let user: Option<Uuid> = diesel::update(
        password_resets::table
            .filter(password_resets::token_hash.eq(hash))
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(diesel::dsl::now))
    .returning(password_resets::user_id)
    .get_result(conn)
    .await
    .optional()?;
    if let Some(user) = user {
        diesel::update(
            password_resets::table
                .filter(password_resets::user_id.eq(user))
                .filter(password_resets::used_at.is_null()),
        )
        .set(password_resets::used_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    }
    Ok(user)
}

/// Whether a reset was requested for `user` within the last `secs` seconds.
pub async fn created_since(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    secs: f64,
) -> QueryResult<bool> {
    let since = Utc::now() - chrono::Duration::milliseconds((secs * 1000.0) as i64);
    diesel::select(diesel::dsl::exists(
        password_resets::table
            .filter(password_resets::user_id.eq(user))
            .filter(password_resets::created_at.gt(since)),
    ))
    .get_result(conn)
    .await
}

pub async fn delete_all_of_user(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<usize> {
    diesel::delete(password_resets::table.filter(password_resets::user_id.eq(user)))
        .execute(conn)
        .await
}
