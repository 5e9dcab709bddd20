//! `phananh areas import FILE.geojson`

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::{say, with_database};
use crate::config::Settings;
use crate::db;
use crate::domain::area_import;
use crate::startup;

pub async fn import(settings: &Settings, file: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let bytes = tokio::fs::read(file)
        .await
        .with_context(|| format!("reading {}", file.display()))?;
    // Check the whole file before touching the database: a bad feature changes nothing.
    let areas = tokio::task::spawn_blocking(move || area_import::parse_feature_collection(&bytes))
        .await?
        .with_context(|| format!("{} was not imported, nothing changed", file.display()))?;
    let vertices: usize = areas.iter().map(|a| a.boundary.vertex_count()).sum();

    with_database(settings, async |url| {
        startup::prepare_database(url).await?;
        let mut conn = db::connect(url).await?;
        let bar = ProgressBar::new(areas.len() as u64).with_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} areas ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message("importing");
        let progress_bar = bar.clone();
        let summary = db::areas::import(&mut conn, &areas, &move |n| {
            progress_bar.set_position(n as u64)
        })
        .await
        .with_context(|| format!("{} was not imported, nothing changed", file.display()))?;
        bar.finish_and_clear();
        let elapsed = started.elapsed();
        tracing::info!(
            file = %file.display(),
            areas = areas.len(),
            created = summary.created,
            updated = summary.updated,
            vertices,
            elapsed_ms = elapsed.as_millis() as u64,
            "imported areas"
        );
        say(&format!(
            "imported {} areas from {}: {} created, {} updated, {} boundary vertices, in {:.2} s",
            areas.len(),
            file.display(),
            summary.created,
            summary.updated,
            vertices,
            elapsed.as_secs_f64()
        ))
    })
    .await
}
