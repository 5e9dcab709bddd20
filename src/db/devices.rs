//! `devices`: where to push a user's notifications.

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::devices;
use crate::domain::account::DevicePlatform;

/// Registers `token` for `user`, moving it from any previous owner.
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    token: &str,
    platform: DevicePlatform,
) -> QueryResult<()> {
    diesel::insert_into(devices::table)
        .values((
            devices::id.eq(Uuid::now_v7()),
            devices::user_id.eq(user),
            devices::fcm_token.eq(token),
            devices::platform.eq(platform),
        ))
        .on_conflict(devices::fcm_token)
        .do_update()
        .set((
            devices::user_id.eq(excluded(devices::user_id)),
            devices::platform.eq(excluded(devices::platform)),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Removes the caller's own registration of `token`; returns whether there was one.
pub async fn remove(conn: &mut AsyncPgConnection, user: Uuid, token: &str) -> QueryResult<bool> {
    diesel::delete(
        devices::table
            .filter(devices::user_id.eq(user))
            .filter(devices::fcm_token.eq(token)),
    )
    .execute(conn)
    .await
    .map(|n| n > 0)
}

pub async fn remove_all_of_user(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<usize> {
    diesel::delete(devices::table.filter(devices::user_id.eq(user)))
        .execute(conn)
        .await
}

/// The push targets of these users, of active accounts that have push on: `(user, token)`.
pub async fn push_targets(
    conn: &mut AsyncPgConnection,
    users: &[Uuid],
) -> QueryResult<Vec<(Uuid, String)>> {
    use super::schema::users;
    use crate::domain::account::UserStatus;
    devices::table
        .inner_join(users::table)
        .filter(devices::user_id.eq_any(users))
        .filter(users::push_enabled.eq(true))
        .filter(users::status.eq(UserStatus::Active))
        .order((devices::user_id, devices::created_at))
        .select((devices::user_id, devices::fcm_token))
        .load(conn)
        .await
}

/// Forgets a token FCM says is dead, whoever registered it.
pub async fn forget_token(conn: &mut AsyncPgConnection, token: &str) -> QueryResult<usize> {
    diesel::delete(devices::table.filter(devices::fcm_token.eq(token)))
        .execute(conn)
        .await
}
