//! `outbox`: messages leaving the process, written in the transaction of their cause.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::outbox;
use crate::domain::account::OutboxKind;

pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    kind: OutboxKind,
    payload: &serde_json::Value,
) -> QueryResult<Uuid> {
    let id = Uuid::now_v7();
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(id),
            outbox::kind.eq(kind),
            outbox::payload.eq(payload),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}
