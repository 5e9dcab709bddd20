//! `sessions` and `refresh_tokens`: one session per login, a chain of single-use refresh tokens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{refresh_tokens, sessions};

/// A session that ends at `expires_at` however often it is refreshed.
pub async fn create(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
) -> QueryResult<Uuid> {
    let id = Uuid::now_v7();
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(id),
            sessions::user_id.eq(user_id),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

pub async fn add_refresh_token(
    conn: &mut AsyncPgConnection,
    session: Uuid,
    hash: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(Uuid::now_v7()),
            refresh_tokens::session_id.eq(session),
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// What presenting a refresh token found.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    /// Valid: it is now used; the session continues.
    Fresh {
        session: Uuid,
        user: Uuid,
    },
    /// Already used: a replay, so someone else has a copy. The session is now revoked.
    Reused,
    /// Its session ended (logout, password reset, disabled account, absolute lifetime).
    Ended,
    Expired,
    Unknown,
}

/// (token id, session, used at, expires at, user, session revoked at, session expires at)
type TokenRow = (
    Uuid,
    Uuid,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    Uuid,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
);

/// Consumes a refresh token. Runs inside the caller's transaction; the row lock makes two
/// concurrent presentations of one token see one `Fresh` and one `Reused`.
pub async fn consume(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<Presented> {
    let row: Option<TokenRow> = refresh_tokens::table
        .inner_join(sessions::table)
        .filter(refresh_tokens::token_hash.eq(hash))
        .select((
            refresh_tokens::id,
            refresh_tokens::session_id,
            refresh_tokens::used_at,
            refresh_tokens::expires_at,
            sessions::user_id,
            sessions::revoked_at,
            sessions::expires_at,
        ))
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let Some((id, session, used_at, expires_at, user, revoked_at, session_expires_at)) = row else {
        return Ok(Presented::Unknown);
    };
    if revoked_at.is_some() {
        return Ok(if used_at.is_some() {
            Presented::Reused
        } else {
            Presented::Ended
        });
    }
    if used_at.is_some() {
        revoke(conn, session, "refresh token reused").await?;
        return Ok(Presented::Reused);
    }
    if session_expires_at <= Utc::now() {
        return Ok(Presented::Ended);
    }
    if expires_at <= Utc::now() {
        return Ok(Presented::Expired);
    }
    diesel::update(refresh_tokens::table.find(id))
        .set(refresh_tokens::used_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    diesel::update(sessions::table.find(session))
        .set(sessions::last_used_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(Presented::Fresh { session, user })
}

pub async fn revoke(conn: &mut AsyncPgConnection, session: Uuid, reason: &str) -> QueryResult<()> {
    diesel::update(
        sessions::table
            .find(session)
            .filter(sessions::revoked_at.is_null()),
    )
    .set((
        sessions::revoked_at.eq(diesel::dsl::now),
        sessions::revoke_reason.eq(reason),
    ))
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn revoke_all_of_user(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    reason: &str,
) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user))
            .filter(sessions::revoked_at.is_null()),
    )
    .set((
        sessions::revoked_at.eq(diesel::dsl::now),
        sessions::revoke_reason.eq(reason),
    ))
    .execute(conn)
    .await
}

/// The session of a refresh token, whoever presents it (logout).
pub async fn session_of_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
) -> QueryResult<Option<(Uuid, Uuid)>> {
    refresh_tokens::table
        .inner_join(sessions::table)
        .filter(refresh_tokens::token_hash.eq(hash))
        .select((sessions::id, sessions::user_id))
        .first(conn)
        .await
        .optional()
}
