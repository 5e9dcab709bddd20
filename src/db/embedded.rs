//! A private PostgreSQL cluster under the data directory, for machines that have the server
//! binaries but no running server: `initdb` once, `pg_ctl start` on every start (reusing what is
//! there), listening only on a Unix socket inside the cluster directory, `pg_ctl stop` on exit.
//!
//! PostgreSQL refuses to run as root; when we are root the cluster is owned and run by the
//! `postgres` system user.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, bail};
use nix::unistd::{Gid, Uid, User};

/// Longest Unix socket path the kernel accepts (sun_path is 108 bytes with the terminator).
const MAX_SOCKET_PATH: usize = 107;

/// Finds a directory holding `initdb` and `pg_ctl`: the configured one, else `pg_config --bindir`,
/// else the usual package locations (newest version first), else `PATH`.
pub fn find_server_binaries(configured: Option<&Path>) -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(dir) = configured {
        return has_both(dir).then(|| dir.to_path_buf());
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_both(&dir) {
            return Some(dir);
        }
    }
    let mut candidates: Vec<(u32, PathBuf)> = Vec::new();
    for root in [
        "/usr/lib/postgresql",
        "/usr/local/lib/postgresql",
        "/opt/postgresql",
    ] {
        if let Ok(entries) = std::fs::read_dir(root) {
            for e in entries.flatten() {
                let version = e.file_name().to_string_lossy().parse::<u32>().unwrap_or(0);
                candidates.push((version, e.path().join("bin")));
            }
        }
    }
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    let fixed = [
        "/usr/local/pgsql/bin",
        "/opt/homebrew/bin",
        "/usr/local/bin",
    ]
    .iter()
    .map(PathBuf::from);
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    candidates
        .into_iter()
        .map(|(_, d)| d)
        .chain(fixed)
        .chain(path_dirs)
        .find(|d| has_both(d))
}

#[derive(Debug)]
pub struct PrivateCluster {
    pgdata: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<(Uid, Gid)>,
    /// We started the server (rather than finding it running), so we stop it.
    owned: bool,
    keep_running: bool,
    stopped: bool,
    /// Held while this process owns the running cluster.
    _owner_lock: Option<std::fs::File>,
}

impl PrivateCluster {
    /// Initialises (first time) and starts the cluster in `<data_dir>/postgres`.
    pub async fn start(
        data_dir: &Path,
        bin_dir: &Path,
        keep_running: bool,
    ) -> anyhow::Result<Self> {
        let data_dir = data_dir.to_path_buf();
        let bin_dir = bin_dir.to_path_buf();
        tokio::task::spawn_blocking(move || Self::start_blocking(&data_dir, &bin_dir, keep_running))
            .await
            .context("cluster start-up task panicked")?
    }

    fn start_blocking(data_dir: &Path, bin_dir: &Path, keep_running: bool) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("resolving {}", data_dir.display()))?;
        let pgdata = data_dir.join("postgres");
        let socket = pgdata.join(".s.PGSQL.5432");
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            bail!(
                "the data directory path is too long for a Unix socket ({}); set PHANANH_DATA_DIR to a shorter path",
                socket.display()
            );
        }
        let run_as = if nix::unistd::geteuid().is_root() {
            let user = User::from_name("postgres")
                .ok()
                .flatten()
                .context("running as root, and PostgreSQL refuses to run as root; there is no `postgres` system user to run the private cluster as")?;
            prepare_for_other_user(&data_dir)?;
            Some((user.uid, user.gid))
        } else {
            None
        };
        // One process at a time initialises and starts the cluster (two `serve`s, or `serve`
        // beside `migrate`); the lock goes when this function returns.
        let start_lock = std::fs::File::create(data_dir.join("postgres.lock"))?;
        start_lock
            .lock()
            .context("locking the private cluster for start-up")?;
        // The process that holds the owner lock stops the cluster on exit. A cluster left running
        // by a process that died has no live owner, so the next one takes it over.
        let owner_lock = std::fs::File::create(data_dir.join("postgres.owner"))?;
        let owner_lock = match owner_lock.try_lock() {
            Ok(()) => Some(owner_lock),
            Err(_) => None,
        };
        let mut cluster = PrivateCluster {
            pgdata: pgdata.clone(),
            bin_dir: matching_bin_dir(&pgdata, bin_dir),
            run_as,
            owned: false,
            keep_running,
            stopped: false,
            _owner_lock: None,
        };

        if !pgdata.join("PG_VERSION").is_file() {
            cluster.init()?;
        }
        // Written on every start so a moved data directory still finds its socket.
        let include = format!(
            "# written by phananh at every start\nlisten_addresses = ''\nunix_socket_directories = '{}'\n",
            pgdata.display().to_string().replace('\'', "''")
        );
        std::fs::write(pgdata.join("phananh.conf"), include)?;
        cluster.chown_if_needed(&pgdata.join("phananh.conf"))?;

        if cluster.pg_ctl(&["status"])?.status.success() {
            tracing::info!(pgdata = %pgdata.display(), "reusing the running private PostgreSQL cluster");
            if owner_lock.is_some() {
                cluster.owned = true;
                cluster._owner_lock = owner_lock;
            }
        } else {
            let log = pgdata.join("server.log");
            let out = cluster.pg_ctl(&["-w", "-t", "60", "-l", &log.to_string_lossy(), "start"])?;
            if !out.status.success() {
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(10).collect();
                bail!(
                    "pg_ctl start failed: {}{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            cluster.owned = true;
            cluster._owner_lock = owner_lock;
            tracing::info!(pgdata = %pgdata.display(), "started a private PostgreSQL cluster");
        }
        Ok(cluster)
    }

    fn init(&self) -> anyhow::Result<()> {
        if self.pgdata.exists() && std::fs::read_dir(&self.pgdata)?.next().is_some() {
            bail!(
                "{} exists, is not empty and is not a PostgreSQL cluster (no PG_VERSION); move it away",
                self.pgdata.display()
            );
        }
        std::fs::create_dir_all(&self.pgdata)?;
        std::fs::set_permissions(&self.pgdata, std::fs::Permissions::from_mode(0o700))?;
        self.chown_if_needed(&self.pgdata)?;
        tracing::info!(pgdata = %self.pgdata.display(), "initialising a private PostgreSQL cluster");
        let out = self.run(
            "initdb",
            &[
                "-D",
                &self.pgdata.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
        )?;
        if !out.status.success() {
            // Leave nothing half-made (the directory was empty or absent before): the next start
            // would take it for a cluster.
            let _ = std::fs::remove_dir_all(&self.pgdata);
            bail!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let conf = self.pgdata.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)?;
        text.push_str("\ninclude_if_exists = 'phananh.conf'\n");
        std::fs::write(&conf, text)?;
        Ok(())
    }

    fn chown_if_needed(&self, path: &Path) -> anyhow::Result<()> {
        if let Some((uid, gid)) = self.run_as {
            nix::unistd::chown(path, Some(uid), Some(gid))
                .with_context(|| format!("giving {} to the postgres user", path.display()))?;
        }
        Ok(())
    }

    fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<Output> {
        let pgdata = self.pgdata.to_string_lossy().into_owned();
        let mut all = vec!["-D", &pgdata];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<Output> {
        let mut cmd = Command::new(self.bin_dir.join(program));
        cmd.args(args)
            .env("LC_ALL", "C.UTF-8")
            .current_dir(self.pgdata.parent().unwrap_or(Path::new("/")));
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd.output()
            .with_context(|| format!("running {}", self.bin_dir.join(program).display()))
    }

    /// Connection string for `dbname` over the cluster's socket.
    pub fn connection_string(&self, dbname: &str) -> String {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host_path(&self.pgdata)
            .port(5432)
            .user("postgres")
            .dbname(dbname);
        super::locate::to_conn_string(&cfg)
    }

    pub fn pgdata(&self) -> &Path {
        &self.pgdata
    }

    /// Stops the server if we started it (fast shutdown: sessions end, data is flushed).
    pub fn stop(&mut self) {
        if self.stopped || !self.owned || self.keep_running {
            return;
        }
        self.stopped = true;
        match self.pg_ctl(&["-w", "-m", "fast", "stop"]) {
            Ok(out) if out.status.success() => {
                tracing::info!(pgdata = %self.pgdata.display(), "stopped the private PostgreSQL cluster")
            }
            Ok(out) => tracing::error!(
                stderr = %String::from_utf8_lossy(&out.stderr),
                "stopping the private PostgreSQL cluster failed"
            ),
            Err(e) => tracing::error!(error = %e, "stopping the private PostgreSQL cluster failed"),
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The binaries of the cluster's own major version when it exists already and they are installed
/// (after `apt install postgresql-17`, a version-15 cluster still needs version-15 binaries).
fn matching_bin_dir(pgdata: &Path, found: &Path) -> PathBuf {
    let Ok(version) = std::fs::read_to_string(pgdata.join("PG_VERSION")) else {
        return found.to_path_buf();
    };
    let own = PathBuf::from("/usr/lib/postgresql")
        .join(version.trim())
        .join("bin");
    if own.join("pg_ctl").is_file() {
        own
    } else {
        found.to_path_buf()
    }
}

/// The `postgres` user must be able to reach `<data_dir>/postgres`: make the data directory
/// traversable (not listable) and check that every ancestor is too.
fn prepare_for_other_user(data_dir: &Path) -> anyhow::Result<()> {
    let meta = std::fs::metadata(data_dir)?;
    let mode = meta.permissions().mode();
    if mode & 0o001 == 0 {
        std::fs::set_permissions(
            data_dir,
            std::fs::Permissions::from_mode((mode & 0o7777) | 0o711),
        )?;
    }
    for ancestor in data_dir.ancestors().skip(1) {
        let mode = std::fs::metadata(ancestor)?.permissions().mode();
        if mode & 0o001 == 0 {
            bail!(
                "the postgres system user cannot reach {} because {} is not searchable by others; \
                 set PHANANH_DATA_DIR to a directory outside it (e.g. /var/lib/phananh)",
                data_dir.display(),
                ancestor.display()
            );
        }
    }
    Ok(())
}
