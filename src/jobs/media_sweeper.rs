//! Removes photos nobody will use: uploads not attached to a report within their time to live,
//! and rows a crash left `pending` (with whatever files were written, half-written ones
//! included) as soon as no live upload holds them. Also forgets idempotency
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
        let dir = state.upload_dir.clone();
        let _ =
            tokio::task::spawn_blocking(move || crate::media::upload::sweep_temp_dir(&dir)).await;
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
        // A short batch is the last; a batch of nothing but failures would only repeat itself.
        if n == 0 || n < BATCH as usize {
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
    let mut removed = 0;
    for row in &rows {
        // Files first: if deleting them fails the row stays, and a later pass tries again; one
        // stubborn object does not hold up the rest of the batch.
        let files = async {
            photos.delete(&row.display_key).await?;
            photos.delete(&row.thumbnail_key).await?;
            // A pending row's upload may have died mid-write, leaving a staging file no key
            // names; an expired photo may have redacted copies. Nothing of it stays.
            photos.remove_leftovers(row.id).await
        };
        if let Err(e) = files.await {
            tracing::warn!(media = %row.id, error = %e, "cannot delete a photo's files; will retry");
            continue;
        }
        db::media::delete(conn, row.id).await?;
        removed += 1;
    }
    if removed > 0 {
        metrics::counter!("phananh_photos_expired_total").increment(removed as u64);
    }
    Ok(removed)
}
