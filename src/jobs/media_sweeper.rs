//! Removes photos nobody will use: uploads not attached to a report within their time to live,
//! and rows a crash left `pending` (with whatever files were written). Also forgets idempotency
//! keys after a day, and upload files of processes that died.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::AsyncConnection;

use crate::db;
use crate::media::store::PhotoStore;
use crate::startup::AppState;

/// Rows handled per transaction: a short lock on each batch.
const BATCH: i64 = 100;

pub async fn run(state: Arc<AppState>) {
    let period = Duration::from_secs(state.settings.media.sweep_interval_secs.max(1));
    loop {
        match sweep_once(&state).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "expired photos removed"),
            Err(e) => tracing::warn!(error = %e, "photo sweep failed; retrying later"),
        }
        crate::media::upload::sweep_temp_dir(&state.upload_dir);
        tokio::time::sleep(period).await;
    }
}

/// One pass; returns how many photos were removed.
pub async fn sweep_once(state: &AppState) -> anyhow::Result<usize> {
    let mut conn = state.pool.get().await?;
    let mut removed = 0;
    loop {
        let photos = state.photos.clone();
        let n = conn
            .transaction::<usize, anyhow::Error, _>(async |conn| sweep_batch(conn, &photos).await)
            .await?;
        removed += n;
        if n < BATCH as usize {
            break;
        }
    }
    let day_ago = chrono::Utc::now() - chrono::Duration::hours(24);
    db::idempotency_keys::purge(&mut conn, day_ago).await?;
    Ok(removed)
}

async fn sweep_batch(
    conn: &mut diesel_async::AsyncPgConnection,
    photos: &PhotoStore,
) -> anyhow::Result<usize> {
    let rows = db::media::sweepable(conn, chrono::Utc::now(), BATCH).await?;
    for row in &rows {
        // Files first: if deleting them fails the row stays, and the next pass tries again.
        photos.delete(&row.display_key).await?;
        photos.delete(&row.thumbnail_key).await?;
        db::media::delete(conn, row.id).await?;
    }
    if !rows.is_empty() {
        metrics::counter!("phananh_photos_expired_total").increment(rows.len() as u64);
    }
    Ok(rows.len())
}
