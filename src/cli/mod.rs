//! The `phananh` command line: one binary, one subcommand per job.

mod accounts;
mod areas;
mod synth;

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::db::{self, DatabaseLocation};
use crate::startup::{self, Application};

#[derive(Debug, Parser)]
#[command(
    name = "phananh",
    version,
    about = "Backend of Đơn Dương trực tuyến (citizen reports)"
)]
pub struct Cli {
    /// TOML configuration file (also `PHANANH_CONFIG`); environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (runs pending migrations and seeds an empty database first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// (Re-)apply the default seed: inserts whatever of it is missing, changes nothing else.
    Seed,
    /// Areas (communes) and their boundaries.
    Areas {
        #[command(subcommand)]
        command: AreasCommand,
    },
    /// Print the OpenAPI document (what `openapi/openapi.json` must contain).
    Openapi,
    /// Accounts (the first admin, staff).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API keys for machine clients (the IOC).
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Synthetic history for benchmarks: reports with realistic places, category mix, seasonal
    /// volume, lifecycles, timelines and ratings, written in batches (with a progress bar).
    /// Run after `migrate` and `seed` (and `areas import` for points inside real boundaries).
    Synth {
        /// How many reports
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        reports: u64,
        /// The same seed draws the same history (relative to the moment it runs)
        #[arg(long, default_value_t = 2025)]
        seed: u64,
        /// The history spans this many years, ending now
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=30))]
        years: u32,
    },
    /// The working-time calendar's public holidays.
    Holidays {
        #[command(subcommand)]
        command: HolidaysCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum HolidaysCommand {
    /// Computes YEAR's public holidays (lunar ones included, with make-up days off for those on
    /// a weekend) and adds those not yet in the holidays table, for an admin to confirm or edit.
    Suggest {
        #[arg(value_parser = clap::value_parser!(i32).range(1901..=2199))]
        year: i32,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input.
    Create {
        /// citizen, staff, manager or admin
        #[arg(long)]
        role: String,
        /// Department code (staff and managers), e.g. 24943-kinh-te
        #[arg(long)]
        department: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        full_name: Option<String>,
        /// Read the password from standard input (the only way: never on the command line)
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable an account; its sessions end at once.
    Disable {
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApikeyCommand {
    /// Create a key and print it (once; only its hash is kept).
    Create {
        #[arg(long)]
        name: String,
        /// `ioc` (X-Api-Key on the statistics) or `open311` (a partner application's `api_key`)
        #[arg(long, value_enum, default_value = "ioc")]
        purpose: crate::domain::account::ApiKeyPurpose,
    },
    /// Revoke every live key with this name.
    Revoke {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AreasCommand {
    /// Upsert areas by `code` from a GeoJSON FeatureCollection (features with `code` and `name`
    /// properties and Polygon/MultiPolygon geometry). All or nothing.
    Import {
        #[arg(value_name = "FILE.geojson")]
        file: PathBuf,
    },
}

/// Runs the command; the error, if any, is for a human at a terminal.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Openapi = cli.command {
        let mut out = std::io::stdout().lock();
        out.write_all(crate::routes::openapi_json().as_bytes())?;
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref())?;
    crate::telemetry::init(&settings.log);
    for var in Settings::ignored_variables(std::env::vars()) {
        tracing::warn!(variable = %var, "ignoring an environment variable that names no setting");
    }
    limit_malloc_arenas();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("phananh")
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve => {
                let app = Application::build(settings).await?;
                app.run_until_stopped().await?;
                Ok(())
            }
            Command::Migrate => {
                with_database(&settings, async |url| {
                    let applied = db::run_migrations(url).await?;
                    say(&format!("migrations applied: {applied}"))
                })
                .await
            }
            Command::Seed => {
                with_database(&settings, async |url| {
                    let first = startup::prepare_database(url).await?.unwrap_or_default();
                    let mut conn = db::connect(url).await?;
                    let again = db::with_migration_lock(&mut conn, async |c| db::seed::apply(c).await).await?;
                    let s = first + again;
                    say(&format!(
                        "default seed applied: {} rows added ({} areas, {} categories, {} departments, {} routing rules); existing rows left as they were",
                        s.total(), s.areas, s.categories, s.departments, s.routing_rules
                    ))
                })
                .await
            }
            Command::Areas {
                command: AreasCommand::Import { file },
            } => areas::import(&settings, &file).await,
            Command::Openapi => Ok(()),
            Command::User {
                command: UserCommand::Create { role, department, email, phone, full_name, .. },
            } => {
                accounts::create_user(&settings, accounts::UserSpec { role, department, email, phone, full_name }).await
            }
            Command::User {
                command: UserCommand::Disable { email, phone },
            } => accounts::disable_user(&settings, email.as_deref(), phone.as_deref()).await,
            Command::Apikey {
                command: ApikeyCommand::Create { name, purpose },
            } => accounts::create_api_key(&settings, &name, purpose).await,
            Command::Apikey {
                command: ApikeyCommand::Revoke { name },
            } => accounts::revoke_api_keys(&settings, &name).await,
            Command::Synth { reports, seed, years } => {
                let args = synth::SynthArgs {
                    reports: usize::try_from(reports)?,
                    seed,
                    years,
                };
                synth::run(&settings, args).await
            }
            Command::Holidays {
                command: HolidaysCommand::Suggest { year },
            } => {
                if crate::domain::holidays::suggest(year).is_none() {
                    anyhow::bail!("no calendar for {year}");
                }
                with_database(&settings, async |url| {
                    startup::prepare_database(url).await?;
                    let mut conn = db::connect(url).await?;
                    let days = db::holidays::apply_suggestions(
                        &mut conn,
                        year,
                        db::audit::Actor::System,
                    )
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no calendar for {year}"))?;
                    for day in &days {
                        let mark = if day.added { "added" } else { "kept (already set)" };
                        say(&format!("{}\t{}\t{mark}", day.day, day.name))?;
                    }
                    Ok(())
                })
                .await
            }
        }
    })
}

/// Locates the database, runs `f` with its URL, and stops a private cluster we started.
async fn with_database(
    settings: &Settings,
    f: impl AsyncFnOnce(&str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let DatabaseLocation { url, cluster, .. } = db::locate(settings, false).await?;
    let result = f(url.expose()).await;
    if let Some(mut cluster) = cluster {
        tokio::task::spawn_blocking(move || cluster.stop()).await?;
    }
    result
}

/// A command's result line, on stdout (logs go to stderr).
fn say(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    Ok(())
}

/// glibc gives every thread that allocates its own heap arena (up to 8 per core) and keeps what
/// is freed there. Fifty simultaneous uploads run their file writes on as many blocking threads,
/// and each arena then holds on to several megabytes: measured with 50 × 10 MB uploads, peak RSS
/// was +403 MiB with the default and +87 MiB with one arena per core (`benches/upload_load.rs`).
/// `MALLOC_ARENA_MAX` in the environment still wins, for operators who want otherwise.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = i32::try_from(cores.max(2)).unwrap_or(2);
        // SAFETY: mallopt only adjusts allocator tuning; called before the runtime's threads start.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}
