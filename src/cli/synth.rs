//! `phananh synth --reports N [--seed S] [--years Y]`: synthetic history for benchmarks.
//!
//! What is drawn (and how) is `domain::synth`; this reads the reference data it needs (areas in
//! force, active categories, the routing of every (category, area) pair as the API routes it, the
//! working-time calendar), makes a pool of synthetic residents, and writes reports, their
//! timelines and ratings in batches: one transaction per batch, one multi-row statement per table
//! (`INSERT … SELECT FROM unnest(…)`), so the statistics triggers run once per batch and the
//! rollup is right when the command ends. Drawing runs on a blocking thread while the previous
//! batch is written.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};
use uuid::Uuid;

use super::{say, with_database};
use crate::config::Settings;
use crate::db;
use crate::domain::Boundary;
use crate::domain::account::Role;
use crate::domain::calendar::vietnam;
use crate::domain::synth::{self, AreaInput, Batch, CategoryInput, Generator, RouteInput, World};
use crate::startup;

/// What the command was asked for.
#[derive(Debug, Clone, Copy)]
pub struct SynthArgs {
    pub reports: usize,
    pub seed: u64,
    pub years: u32,
}

/// Reports per transaction (and per statement).
const BATCH: usize = 5_000;

pub async fn run(settings: &Settings, args: SynthArgs) -> anyhow::Result<()> {
    with_database(settings, async |url| {
        startup::prepare_database(url).await?;
        let started = Instant::now();
        let now = Utc::now();
        let mut conn = db::connect(url).await?;
        let (areas, categories, routes) = reference_data(&mut conn, now).await?;
        let calendar = db::holidays::load_calendar(&mut conn).await?;
        drop(conn);

        let (mut client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .context("connecting to PostgreSQL")?;
        let connection = tokio::spawn(connection);
        warn_without_holidays(&client, now, args.years).await?;
        let pool = (args.reports / 200).clamp(100, 5_000);
        let reporters = resident_pool(&client, pool, now, args.years).await?;
        let taken: HashSet<String> = client
            .query("SELECT tracking_code FROM reports", &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        tracing::info!(
            reports = args.reports,
            seed = args.seed,
            years = args.years,
            areas = areas.len(),
            categories = categories.len(),
            residents = reporters.len(),
            "drawing synthetic history"
        );
        let generator = Generator::new(
            synth::Settings {
                seed: args.seed,
                reports: args.reports,
                now,
                years: args.years,
                ack_working_hours: settings.reports.ack_working_hours,
                auto_close_days: settings.reports.auto_close_days,
                reopen_days: settings.reports.reopen_days,
            },
            World {
                areas,
                categories,
                routes,
                reporters,
                calendar,
            },
            taken,
        )?;

        let totals = write_all(&mut client, generator, args, &settings.reports.consent_version).await?;
        drop(client);
        connection.await??;

        let elapsed = started.elapsed().as_secs_f64();
        let per_s = |n: u64| (n as f64 / elapsed.max(1e-9)).round() as u64;
        tracing::info!(
            reports = totals.reports,
            events = totals.events,
            ratings = totals.ratings,
            elapsed_s = (elapsed * 10.0).round() / 10.0,
            reports_per_s = per_s(totals.reports),
            rows_per_s = per_s(totals.rows()),
            "synthetic history written"
        );
        say(&format!(
            "synthetic history: {} reports, {} events, {} ratings in {:.1} s ({} reports/s, {} rows/s)",
            totals.reports,
            totals.events,
            totals.ratings,
            elapsed,
            per_s(totals.reports),
            per_s(totals.rows())
        ))
    })
    .await
}

#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    reports: u64,
    events: u64,
    ratings: u64,
}

impl Totals {
    fn rows(&self) -> u64 {
        self.reports + self.events + self.ratings
    }
}

/// Areas in force now, active categories, and the department of every (category, area) pair,
/// decided once per pair by the same routing as `POST /api/v1/reports`.
async fn reference_data(
    conn: &mut diesel_async::AsyncPgConnection,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<AreaInput>, Vec<CategoryInput>, Vec<RouteInput>)> {
    let today = now.with_timezone(&vietnam()).date_naive();
    let mut areas = Vec::new();
    for row in db::areas::list_with_boundaries(conn, db::areas::Validity::On(today)).await? {
        let boundary = row.boundary.as_ref().and_then(|g| {
            Boundary::from_geojson(g)
                .map_err(|e| {
                    tracing::warn!(area = %row.area.code, error = %e, "stored boundary does not parse; using the centroid");
                })
                .ok()
        });
        areas.push(AreaInput {
            id: row.area.id,
            label: db::areas::name_in_sentence(conn, row.area.id).await?,
            centroid: row.area.centroid(),
            boundary,
        });
    }
    let categories: Vec<CategoryInput> = db::categories::list_active(conn)
        .await?
        .into_iter()
        .map(|c| CategoryInput {
            id: c.id,
            code: c.code,
            name_vi: c.name_vi,
            deadline_amount: c.deadline_amount,
            deadline_unit: c.deadline_unit,
        })
        .collect();
    let rules = db::routing_rules::list_active(conn).await?;
    let mut routes = Vec::with_capacity(categories.len() * areas.len());
    for c in &categories {
        for a in &areas {
            let (department, rule) = db::routing_rules::route(conn, &rules, c.id, a.id)
                .await?
                .with_context(|| {
                    format!(
                        "no routing rule and no active triage desk for category {} in {}",
                        c.code, a.label
                    )
                })?;
            routes.push(RouteInput {
                department_id: department.id,
                department_name: department.name,
                rule_id: rule.map(|r| r.id),
                rule_number: rule.map(|r| r.number),
            });
        }
    }
    Ok((areas, categories, routes))
}

/// Deadlines over the history count working time; without Tết and the other holidays in the
/// calendar they are shorter than they were.
async fn warn_without_holidays(
    client: &Client,
    now: DateTime<Utc>,
    years: u32,
) -> anyhow::Result<()> {
    let since = (now - Duration::days(365 * i64::from(years)))
        .with_timezone(&vietnam())
        .date_naive();
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM holidays WHERE kind = 'day_off' AND day >= $1",
            &[&since],
        )
        .await?
        .get(0);
    if n == 0 {
        tracing::warn!(
            %since,
            "the calendar has no public holidays in the history span: deadlines will not skip Tết \
             (`phananh holidays suggest YEAR` adds them)"
        );
    }
    Ok(())
}

/// `size` synthetic residents (`resident-N@synth.invalid`: a reserved domain, no mail can
/// reach it; no password, so nobody can sign in as them), created once and reused by later runs.
async fn resident_pool(
    client: &Client,
    size: usize,
    now: DateTime<Utc>,
    years: u32,
) -> anyhow::Result<Vec<Uuid>> {
    let emails: Vec<String> = (0..size)
        .map(|i| format!("resident-{i}@synth.invalid"))
        .collect();
    let names: Vec<String> = (0..size).map(synth::resident_name).collect();
    let since = now - Duration::days(365 * i64::from(years) + 30);
    let ids: Vec<Uuid> = (0..size).map(|_| Uuid::now_v7()).collect();
    client
        .execute(
            "INSERT INTO users (id, email, full_name, role, created_at, updated_at)
             SELECT id, email, full_name, 'citizen', $4, $4
             FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(id, email, full_name)
             ON CONFLICT (email) DO NOTHING",
            &[&ids, &emails, &names, &since],
        )
        .await
        .context("creating the synthetic residents")?;
    let rows = client
        .query(
            "SELECT email, id FROM users WHERE email = ANY($1) AND role = 'citizen' AND status = 'active'",
            &[&emails],
        )
        .await?;
    let by_email: HashMap<String, Uuid> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok(emails
        .iter()
        .filter_map(|e| by_email.get(e).copied())
        .collect())
}

/// Draws on a blocking thread and writes here, one batch behind.
async fn write_all(
    client: &mut Client,
    mut generator: Generator,
    args: SynthArgs,
    consent_version: &str,
) -> anyhow::Result<Totals> {
    let statements = Statements::prepare(client).await?;
    let bar = ProgressBar::new(args.reports as u64).with_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} reports ({per_sec}, {elapsed} elapsed, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("synth");
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let producer = tokio::task::spawn_blocking(move || {
        while generator.remaining() > 0 {
            if tx.blocking_send(generator.next_batch(BATCH)).is_err() {
                break;
            }
        }
    });
    let mut totals = Totals::default();
    let mut first = true;
    while let Some(batch) = rx.recv().await {
        if first {
            first = false;
            let ids: Vec<Uuid> = batch.reports.iter().map(|r| r.id).collect();
            let clash: i64 = client
                .query_one("SELECT count(*) FROM reports WHERE id = ANY($1)", &[&ids])
                .await?
                .get(0);
            if clash > 0 {
                anyhow::bail!(
                    "this database already holds the history of seed {}: choose another --seed",
                    args.seed
                );
            }
        }
        let tx = client.transaction().await?;
        write_batch(&tx, &statements, &batch, consent_version).await?;
        tx.commit().await?;
        totals.reports += batch.reports.len() as u64;
        totals.events += batch.events.len() as u64;
        totals.ratings += batch.ratings.len() as u64;
        bar.inc(batch.reports.len() as u64);
    }
    producer.await?;
    bar.finish_and_clear();
    Ok(totals)
}

struct Statements {
    reports: Statement,
    events: Statement,
    ratings: Statement,
}

impl Statements {
    async fn prepare(client: &Client) -> anyhow::Result<Self> {
        Ok(Statements {
            reports: client.prepare(INSERT_REPORTS).await?,
            events: client.prepare(INSERT_EVENTS).await?,
            ratings: client.prepare(INSERT_RATINGS).await?,
        })
    }
}

const INSERT_REPORTS: &str = "
INSERT INTO reports (id, tracking_code, reporter_id, anonymous, category_id, area_id,
    department_id, routing_rule_id, routing_reason, status, description, address, lat, lon,
    accuracy_m, consent_version, consent_at, due_at, version, created_at, updated_at, duplicate_of,
    ack_due_at, accepted_at, ack_overdue_at, overdue_at, resolved_at, closed_at, reopen_count,
    ack_working_minutes, resolve_working_minutes)
SELECT id, tracking_code, reporter_id, anonymous, category_id, area_id,
    department_id, routing_rule_id, routing_reason, status::report_status, description, address,
    lat, lon, accuracy_m, $31, consent_at, due_at, version, created_at, updated_at, duplicate_of,
    ack_due_at, accepted_at, ack_overdue_at, overdue_at, resolved_at, closed_at, reopen_count,
    ack_working_minutes, resolve_working_minutes
FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::bool[], $5::uuid[], $6::uuid[],
    $7::uuid[], $8::uuid[], $9::text[], $10::text[], $11::text[], $12::text[], $13::float8[],
    $14::float8[], $15::float8[], $16::timestamptz[], $17::timestamptz[], $18::int4[],
    $19::timestamptz[], $20::timestamptz[], $21::uuid[], $22::timestamptz[], $23::timestamptz[],
    $24::timestamptz[], $25::timestamptz[], $26::timestamptz[], $27::timestamptz[], $28::int4[],
    $29::int4[], $30::int4[])
  AS t(id, tracking_code, reporter_id, anonymous, category_id, area_id,
    department_id, routing_rule_id, routing_reason, status, description, address, lat, lon,
    accuracy_m, consent_at, due_at, version, created_at, updated_at, duplicate_of,
    ack_due_at, accepted_at, ack_overdue_at, overdue_at, resolved_at, closed_at, reopen_count,
    ack_working_minutes, resolve_working_minutes)";

const INSERT_EVENTS: &str = "
INSERT INTO report_events (id, report_id, area_id, actor_id, actor_role, action, from_status,
    to_status, public_note, created_at, details)
SELECT id, report_id, area_id, actor_id, actor_role::user_role, action,
    from_status::report_status, to_status::report_status, public_note, created_at,
    CASE WHEN duplicate_of IS NULL THEN NULL
         ELSE jsonb_build_object('duplicate_of', duplicate_of) END
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[],
    $8::text[], $9::text[], $10::timestamptz[], $11::uuid[])
  AS t(id, report_id, area_id, actor_id, actor_role, action, from_status, to_status,
    public_note, created_at, duplicate_of)";

const INSERT_RATINGS: &str = "
INSERT INTO report_ratings (report_id, cycle, user_id, score, comment, created_at)
SELECT * FROM unnest($1::uuid[], $2::int4[], $3::uuid[], $4::int2[], $5::text[],
    $6::timestamptz[])";

async fn write_batch(
    tx: &tokio_postgres::Transaction<'_>,
    statements: &Statements,
    batch: &Batch,
    consent_version: &str,
) -> anyhow::Result<()> {
    let r = &batch.reports;
    macro_rules! col {
        ($rows:expr, $f:expr) => {
            $rows.iter().map($f).collect::<Vec<_>>()
        };
    }
    let id = col!(r, |x| x.id);
    let tracking_code = col!(r, |x| x.tracking_code.as_str());
    let reporter_id = col!(r, |x| x.reporter_id);
    let anonymous = col!(r, |x| x.anonymous);
    let category_id = col!(r, |x| x.category_id);
    let area_id = col!(r, |x| x.area_id);
    let department_id = col!(r, |x| x.department_id);
    let routing_rule_id = col!(r, |x| x.routing_rule_id);
    let routing_reason = col!(r, |x| x.routing_reason.as_str());
    let status = col!(r, |x| x.status.as_str());
    let description = col!(r, |x| x.description.as_str());
    let address = col!(r, |x| x.address.as_deref());
    let lat = col!(r, |x| x.lat);
    let lon = col!(r, |x| x.lon);
    let accuracy_m = col!(r, |x| x.accuracy_m);
    let consent_at = col!(r, |x| x.consent_at);
    let due_at = col!(r, |x| x.due_at);
    let version = col!(r, |x| x.version);
    let created_at = col!(r, |x| x.created_at);
    let updated_at = col!(r, |x| x.updated_at);
    let duplicate_of = col!(r, |x| x.duplicate_of);
    let ack_due_at = col!(r, |x| x.ack_due_at);
    let accepted_at = col!(r, |x| x.accepted_at);
    let ack_overdue_at = col!(r, |x| x.ack_overdue_at);
    let overdue_at = col!(r, |x| x.overdue_at);
    let resolved_at = col!(r, |x| x.resolved_at);
    let closed_at = col!(r, |x| x.closed_at);
    let reopen_count = col!(r, |x| x.reopen_count);
    let ack_minutes = col!(r, |x| x.ack_working_minutes);
    let resolve_minutes = col!(r, |x| x.resolve_working_minutes);
    let params: [&(dyn ToSql + Sync); 31] = [
        &id,
        &tracking_code,
        &reporter_id,
        &anonymous,
        &category_id,
        &area_id,
        &department_id,
        &routing_rule_id,
        &routing_reason,
        &status,
        &description,
        &address,
        &lat,
        &lon,
        &accuracy_m,
        &consent_at,
        &due_at,
        &version,
        &created_at,
        &updated_at,
        &duplicate_of,
        &ack_due_at,
        &accepted_at,
        &ack_overdue_at,
        &overdue_at,
        &resolved_at,
        &closed_at,
        &reopen_count,
        &ack_minutes,
        &resolve_minutes,
        &consent_version,
    ];
    tx.execute(&statements.reports, &params)
        .await
        .context("inserting reports")?;

    let e = &batch.events;
    let id = col!(e, |x| x.id);
    let report_id = col!(e, |x| x.report_id);
    let area_id = col!(e, |x| x.area_id);
    let actor_id = col!(e, |x| x.actor_id);
    let actor_role = col!(e, |x| x.actor_role.map(Role::as_str));
    let action = col!(e, |x| x.action);
    let from_status = col!(e, |x| x.from_status.map(|s| s.as_str()));
    let to_status = col!(e, |x| x.to_status.as_str());
    let public_note = col!(e, |x| x.public_note.as_deref());
    let created_at = col!(e, |x| x.created_at);
    let duplicate_of = col!(e, |x| x.duplicate_of);
    tx.execute(
        &statements.events,
        &[
            &id,
            &report_id,
            &area_id,
            &actor_id,
            &actor_role,
            &action,
            &from_status,
            &to_status,
            &public_note,
            &created_at,
            &duplicate_of,
        ],
    )
    .await
    .context("inserting report events")?;

    // After their reports: the ratings trigger reads the reports it re-scores.
    let g = &batch.ratings;
    if !g.is_empty() {
        let report_id = col!(g, |x| x.report_id);
        let cycle = col!(g, |x| x.cycle);
        let user_id = col!(g, |x| x.user_id);
        let score = col!(g, |x| x.score);
        let comment = col!(g, |x| x.comment.as_deref());
        let created_at = col!(g, |x| x.created_at);
        tx.execute(
            &statements.ratings,
            &[&report_id, &cycle, &user_id, &score, &comment, &created_at],
        )
        .await
        .context("inserting ratings")?;
    }
    Ok(())
}
