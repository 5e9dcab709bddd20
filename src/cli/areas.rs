//! `phananh areas import FILE.geojson`: the same import as `POST /api/v1/admin/areas/import`
//! ([`db::areas::import_geojson`]), audited as the system.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::{say, with_database};
use crate::config::Settings;
use crate::db;
use crate::db::audit::Actor;
use crate::startup;

pub async fn import(settings: &Settings, file: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let bytes = tokio::fs::read(file)
        .await
        .with_context(|| format!("reading {}", file.display()))?;

    with_database(settings, async |url| {
        startup::prepare_database(url).await?;
        let mut conn = db::connect(url).await?;
        let bar = ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} areas ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message("importing");
        let progress_bar = bar.clone();
        let report =
            db::areas::import_geojson(&mut conn, bytes, Actor::System, &move |n, total| {
                progress_bar.set_length(total as u64);
                progress_bar.set_position(n as u64)
            })
            .await
            .with_context(|| format!("{} was not imported, nothing changed", file.display()))?;
        bar.finish_and_clear();
        let elapsed = started.elapsed();
        tracing::info!(
            file = %file.display(),
            areas = report.imported,
            created = report.created,
            updated = report.updated,
            vertices = report.vertices,
            elapsed_ms = elapsed.as_millis() as u64,
            "imported areas"
        );
        say(&format!(
            "imported {} areas from {}: {} created, {} updated, {} boundary vertices, in {:.2} s",
            report.imported,
            file.display(),
            report.created,
            report.updated,
            report.vertices,
            elapsed.as_secs_f64()
        ))
    })
    .await
}
