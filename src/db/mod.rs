//! PostgreSQL: where it is ([`locate`]), the pool, migrations, and the queries of each table.

pub mod api_keys;
pub mod areas;
pub mod audit;
pub mod categories;
pub mod departments;
pub mod devices;
pub mod embedded;
pub mod enums;
pub mod holidays;
pub mod idempotency_keys;
pub mod locate;
pub mod login_attempts;
pub mod media;
pub mod outbox;
pub mod password_resets;
pub mod privacy;
pub mod report_contacts;
pub mod report_events;
pub mod report_followers;
pub mod report_ratings;
pub mod reports;
pub mod routing_rules;
pub mod schema;
pub mod seed;
pub mod sessions;
pub mod stats;
pub mod users;

use std::time::Duration;

use anyhow::Context;
use diesel::ConnectionError;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseSettings;

pub use locate::{DatabaseLocation, LocateError, locate};

pub type PgPool = diesel_async::pooled_connection::deadpool::Pool<AsyncPgConnection>;
pub type PoolError = diesel_async::pooled_connection::deadpool::PoolError;
pub type PooledConn = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Serialises schema changes and seeding between processes starting at the same moment
/// (two replicas, or `migrate` run beside `serve`). The number spells "phananh".
const MIGRATION_LOCK: i64 = 0x0070_6861_6e61_6e68;

/// A pool whose every wait is bounded: when PostgreSQL is down a request gets its 503 within
/// `acquire_timeout_ms` instead of hanging, and a connection is checked before it is handed out.
pub fn build_pool(url: &str, settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let connect_timeout = Duration::from_millis(settings.connect_timeout_ms);
    // No request may hold a connection indefinitely: a statement or a lock wait that runs too
    // long is cancelled (the caller gets a 503) and a forgotten transaction is ended.
    let session_setup = format!(
        "SET statement_timeout = {st}; SET lock_timeout = {lt}; SET idle_in_transaction_session_timeout = {it}",
        st = settings.statement_timeout_ms,
        lt = settings.statement_timeout_ms / 2,
        it = settings.statement_timeout_ms * 2,
    );
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.recycling_method = RecyclingMethod::Verified;
    config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        let session_setup = session_setup.clone();
        Box::pin(async move {
            let connect = async {
                let mut conn = AsyncPgConnection::establish(&url).await?;
                conn.batch_execute(&session_setup)
                    .await
                    .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
                Ok(conn)
            };
            match tokio::time::timeout(connect_timeout, connect).await {
                Ok(result) => result,
                Err(_) => Err(ConnectionError::BadConnection(
                    "timed out connecting to PostgreSQL".into(),
                )),
            }
        })
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    PgPool::builder(manager)
        .max_size(settings.pool_size)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_millis(settings.acquire_timeout_ms)))
        .create_timeout(Some(connect_timeout))
        .recycle_timeout(Some(connect_timeout))
        .build()
        .context("building the database pool")
}

/// Applies pending migrations (under an advisory lock) and returns how many ran.
pub async fn run_migrations(url: &str) -> anyhow::Result<usize> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        use diesel::connection::SimpleConnection;
        let mut conn =
            <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)
                .context("connecting to PostgreSQL to run migrations")?;
        SimpleConnection::batch_execute(
            &mut conn,
            &format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"),
        )?;
        let applied: anyhow::Result<Vec<String>> = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| anyhow::anyhow!("running migrations: {e}"));
        SimpleConnection::batch_execute(
            &mut conn,
            &format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"),
        )?;
        let applied = applied?;
        for m in &applied {
            tracing::info!(migration = %m, "applied migration");
        }
        Ok(applied.len())
    })
    .await
    .context("migration task panicked")?
}

/// Reverts the most recent migration (for checking that every `down.sql` works).
pub async fn revert_last_migration(url: &str) -> anyhow::Result<String> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let mut conn =
            <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)?;
        let version = conn
            .revert_last_migration(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("reverting migration: {e}"))?;
        Ok(version.to_string())
    })
    .await
    .context("migration task panicked")?
}

/// Versions of the migrations compiled into this binary.
pub fn embedded_migration_versions() -> Vec<String> {
    use diesel::migration::MigrationSource;
    let migrations: Vec<Box<dyn diesel::migration::Migration<diesel::pg::Pg>>> =
        MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS).unwrap_or_default();
    migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .collect()
}

/// Whether every migration this binary knows has been applied to the database.
pub async fn migrations_current(conn: &mut AsyncPgConnection) -> diesel::QueryResult<bool> {
    use diesel::{QueryDsl, table};
    table! {
        __diesel_schema_migrations (version) {
            version -> VarChar,
        }
    }
    let applied: Vec<String> = match __diesel_schema_migrations::table
        .select(__diesel_schema_migrations::version)
        .load(conn)
        .await
    {
        Ok(v) => v,
        // No migrations table at all (an emptied or restored database): nothing is applied.
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("does not exist") =>
        {
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    Ok(embedded_migration_versions()
        .iter()
        .all(|v| applied.contains(v)))
}

/// Runs `f` while holding the migration lock, so seeding never races another process's seeding.
pub async fn with_migration_lock<T>(
    conn: &mut AsyncPgConnection,
    f: impl AsyncFnOnce(&mut AsyncPgConnection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .await?;
    let result = f(conn).await;
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
        .await?;
    result
}

/// The oldest PostgreSQL the schema runs on (`UNIQUE NULLS NOT DISTINCT` arrived in 15).
pub const MIN_SERVER_VERSION: i32 = 150_000;

/// Refuses, with a clear message, a server too old for the schema.
pub async fn check_server_version(url: &str) -> anyhow::Result<()> {
    #[derive(diesel::QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Text)]
        server_version_num: String,
    }
    let mut conn = connect(url).await?;
    let v: Version = diesel::sql_query("SHOW server_version_num")
        .get_result(&mut conn)
        .await?;
    let num: i32 = v.server_version_num.parse().unwrap_or(0);
    if num < MIN_SERVER_VERSION {
        anyhow::bail!(
            "PostgreSQL {}.{} is too old: phananh needs PostgreSQL 15 or newer",
            num / 10_000,
            num % 10_000
        );
    }
    Ok(())
}

/// A single connection outside the pool (CLI commands, start-up).
pub async fn connect(url: &str) -> anyhow::Result<AsyncPgConnection> {
    AsyncPgConnection::establish(url)
        .await
        .context("connecting to PostgreSQL")
}

/// `SELECT 1`, for readiness.
pub async fn ping(conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
    diesel::sql_query("SELECT 1")
        .execute(conn)
        .await
        .map(|_| ())
}
