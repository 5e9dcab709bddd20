//! Where the database is, in the order architecture.md gives: `DATABASE_URL`; else a PostgreSQL
//! server on this machine (`database.local_url`, creating the database when the server is there
//! but the database is not); else a private cluster under the data directory; else one clear error.

use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Config, NoTls};

use super::embedded::{self, PrivateCluster};
use crate::config::{Secret, Settings};

/// How a database was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseSource {
    Configured,
    LocalServer,
    PrivateCluster,
}

pub struct DatabaseLocation {
    /// Connection string of the application database (may carry a password).
    pub url: Secret,
    pub source: DatabaseSource,
    /// Present when we started a private cluster; stopping it is the caller's job (or its `Drop`).
    pub cluster: Option<PrivateCluster>,
}

#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error(
        "no PostgreSQL database is available.\n\
         Tried {tried}, and {why_no_cluster}.\n\
         Either set DATABASE_URL to a PostgreSQL database (e.g. DATABASE_URL=postgres://user:password@host:5432/phananh),\n\
         or install the PostgreSQL server binaries (Debian/Ubuntu: `apt install postgresql`) so that phananh can run\n\
         a private cluster under its data directory (PHANANH_DATA_DIR)."
    )]
    NothingAvailable {
        tried: String,
        why_no_cluster: String,
    },
    #[error("DATABASE_URL is not a valid PostgreSQL connection string: {0}")]
    BadUrl(String),
    #[error("the private PostgreSQL cluster could not be started: {0:#}")]
    Cluster(anyhow::Error),
    #[error("{0:#}")]
    Other(anyhow::Error),
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Finds (or starts) the database. `keep_cluster` leaves a private cluster running after the
/// returned handle is dropped (the test harness shares one cluster between test processes).
pub async fn locate(
    settings: &Settings,
    keep_cluster: bool,
) -> Result<DatabaseLocation, LocateError> {
    if let Some(url) = &settings.database.url {
        Config::from_str(url.expose()).map_err(|e| LocateError::BadUrl(e.to_string()))?;
        return Ok(DatabaseLocation {
            url: url.clone(),
            source: DatabaseSource::Configured,
            cluster: None,
        });
    }

    let local = &settings.database.local_url;
    let why_not_local = match probe_local(local).await {
        Ok(url) => {
            tracing::info!(url = %redact(local), "using the local PostgreSQL server");
            return Ok(DatabaseLocation {
                url: Secret::new(url),
                source: DatabaseSource::LocalServer,
                cluster: None,
            });
        }
        Err(why) => why,
    };
    // A server that answers but refuses us is worth a warning: the operator may have meant it.
    tracing::warn!(
        url = %redact(local),
        reason = %format!("{why_not_local:#}"),
        "no usable local PostgreSQL server"
    );
    let tried = format!(
        "DATABASE_URL (unset) and {} ({:#})",
        redact(local),
        why_not_local
    );

    if !settings.database.private_cluster {
        return Err(LocateError::NothingAvailable {
            tried,
            why_no_cluster: "the private cluster is disabled (database.private_cluster = false)"
                .into(),
        });
    }
    let Some(bin_dir) = embedded::find_server_binaries(settings.database.pg_bin_dir.as_deref())
    else {
        let where_ = match &settings.database.pg_bin_dir {
            Some(d) => format!("in {}", d.display()),
            None => "on this machine".into(),
        };
        return Err(LocateError::NothingAvailable {
            tried,
            why_no_cluster: format!(
                "no PostgreSQL server binaries (initdb, pg_ctl) were found {where_}"
            ),
        });
    };
    let cluster = PrivateCluster::start(&settings.data_dir, &bin_dir, keep_cluster)
        .await
        .map_err(LocateError::Cluster)?;
    let url = cluster.connection_string("phananh");
    ensure_database(&cluster.connection_string("postgres"), "phananh")
        .await
        .map_err(LocateError::Other)?;
    Ok(DatabaseLocation {
        url: Secret::new(url),
        source: DatabaseSource::PrivateCluster,
        cluster: Some(cluster),
    })
}

/// Tries the local URL as given, and — as libpq would — with the OS user and then `postgres` when
/// it names no user. Returns a connection string that works, creating the database if needed.
async fn probe_local(url: &str) -> anyhow::Result<String> {
    let base = Config::from_str(url)?;
    let users: Vec<String> = match base.get_user() {
        Some(u) => vec![u.to_owned()],
        None => {
            let mut v = Vec::new();
            if let Some(me) = os_user() {
                v.push(me);
            }
            if !v.iter().any(|u| u == "postgres") {
                v.push("postgres".into());
            }
            v
        }
    };
    let dbname = base.get_dbname().unwrap_or("phananh").to_owned();
    let mut last = anyhow::anyhow!("no user to try");
    for user in users {
        let mut cfg = base.clone();
        cfg.user(&user)
            .dbname(&dbname)
            .connect_timeout(PROBE_TIMEOUT);
        match try_connect(&cfg).await {
            Ok(()) => return Ok(to_conn_string(&cfg)),
            Err(e) if e.code() == Some(&SqlState::INVALID_CATALOG_NAME) => {
                let mut admin = cfg.clone();
                admin.dbname("postgres");
                ensure_database(&to_conn_string(&admin), &dbname).await?;
                return Ok(to_conn_string(&cfg));
            }
            Err(e) if e.server_answered() => {
                // The server answered (unknown role, password required or wrong): next user.
                last = anyhow::anyhow!("{}", e.reason());
            }
            Err(e) => return Err(anyhow::anyhow!("{}", e.reason())),
        }
    }
    Err(last)
}

async fn try_connect(cfg: &Config) -> Result<(), ProbeError> {
    let (client, connection) = tokio::time::timeout(PROBE_TIMEOUT, cfg.connect(NoTls))
        .await
        .map_err(|_| ProbeError::Timeout)??;
    let task = tokio::spawn(connection);
    let result = client.simple_query("SELECT 1").await.map(|_| ());
    drop(client);
    let _ = task.await;
    Ok(result?)
}

#[derive(Debug, thiserror::Error)]
enum ProbeError {
    #[error(transparent)]
    Pg(#[from] tokio_postgres::Error),
    #[error("timed out")]
    Timeout,
}

impl ProbeError {
    fn code(&self) -> Option<&SqlState> {
        match self {
            ProbeError::Pg(e) => e.code(),
            ProbeError::Timeout => None,
        }
    }
    /// The server is there and spoke to us (as opposed to refused or silent).
    fn server_answered(&self) -> bool {
        match self {
            // A password demand comes back as a client-side error, not a DbError.
            ProbeError::Pg(e) => e.as_db_error().is_some() || e.to_string().contains("password"),
            ProbeError::Timeout => false,
        }
    }

    fn reason(&self) -> String {
        match self {
            ProbeError::Pg(e) => match e.as_db_error() {
                Some(db) => db.message().to_owned(),
                None => {
                    let mut text = e.to_string();
                    if let Some(source) = std::error::Error::source(e) {
                        text = format!("{text}: {source}");
                    }
                    text
                }
            },
            ProbeError::Timeout => "timed out".into(),
        }
    }
}

/// Creates `dbname` through a maintenance connection unless it exists (tolerating a concurrent
/// creator).
pub async fn ensure_database(admin_conn_string: &str, dbname: &str) -> anyhow::Result<()> {
    tokio::time::timeout(
        PROBE_TIMEOUT * 4,
        create_if_missing(admin_conn_string, dbname),
    )
    .await
    .map_err(|_| anyhow::anyhow!("timed out creating database {dbname}"))?
}

async fn create_if_missing(admin_conn_string: &str, dbname: &str) -> anyhow::Result<()> {
    let cfg = Config::from_str(admin_conn_string)?;
    let (client, connection) = cfg.connect(NoTls).await?;
    let task = tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&dbname])
        .await?
        .is_some();
    if !exists {
        let sql = format!("CREATE DATABASE {}", quote_ident(dbname));
        match client.batch_execute(&sql).await {
            Ok(()) => tracing::info!(database = dbname, "created database"),
            // A concurrent creator wins: 42P04, or 23505 when both passed the catalog check.
            Err(e)
                if e.code() == Some(&SqlState::DUPLICATE_DATABASE)
                    || e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {}
            Err(e) => return Err(anyhow::anyhow!("creating database {dbname}: {e}")),
        }
    }
    drop(client);
    let _ = task.await;
    Ok(())
}

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn os_user() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// A key=value connection string (unambiguous for socket paths and odd characters).
pub fn to_conn_string(cfg: &Config) -> String {
    fn q(v: &str) -> String {
        format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
    }
    let mut parts = Vec::new();
    for host in cfg.get_hosts() {
        match host {
            Host::Tcp(h) => parts.push(format!("host={}", q(h))),
            Host::Unix(p) => parts.push(format!("host={}", q(&p.to_string_lossy()))),
        }
    }
    if let Some(port) = cfg.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    if let Some(u) = cfg.get_user() {
        parts.push(format!("user={}", q(u)));
    }
    if let Some(pw) = cfg.get_password() {
        parts.push(format!("password={}", q(&String::from_utf8_lossy(pw))));
    }
    if let Some(db) = cfg.get_dbname() {
        parts.push(format!("dbname={}", q(db)));
    }
    parts.join(" ")
}

/// A connection URL with any password removed, for logs and messages.
pub fn redact(url: &str) -> String {
    match Config::from_str(url) {
        Ok(cfg) => {
            let hosts: Vec<String> = cfg
                .get_hosts()
                .iter()
                .map(|h| match h {
                    Host::Tcp(h) => h.clone(),
                    Host::Unix(p) => p.display().to_string(),
                })
                .collect();
            format!(
                "postgres://{}{}:{}/{}",
                cfg.get_user().map(|u| format!("{u}@")).unwrap_or_default(),
                hosts.join(","),
                cfg.get_ports().first().copied().unwrap_or(5432),
                cfg.get_dbname().unwrap_or("")
            )
        }
        Err(_) => "(unparseable URL)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_passwords() {
        let r = redact("postgres://alice:hunter2@db.example:6543/phananh");
        assert_eq!(r, "postgres://alice@db.example:6543/phananh");
        assert!(!redact("host=x password=hunter2 dbname=y").contains("hunter2"));
    }

    #[test]
    fn connection_strings_round_trip_odd_characters() {
        let mut cfg = Config::new();
        cfg.host_path("/tmp/it's here")
            .user("po'stgres")
            .password("p\\w")
            .dbname("phananh")
            .port(5432);
        let s = to_conn_string(&cfg);
        let back = Config::from_str(&s).unwrap();
        assert_eq!(back.get_user(), Some("po'stgres"));
        assert_eq!(back.get_password(), Some(&b"p\\w"[..]));
        assert_eq!(
            back.get_hosts(),
            &[Host::Unix(std::path::PathBuf::from("/tmp/it's here"))]
        );
    }
}
