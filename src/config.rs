//! Typed settings: compiled-in defaults → optional TOML file (`--config` / `PHANANH_CONFIG`) →
//! environment (`PHANANH_SECTION__KEY`, and the conventional `DATABASE_URL`).
//!
//! Secrets are wrapped in [`Secret`], whose `Debug` never prints the value, so a settings dump in
//! the logs cannot leak a password.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value that must never appear in logs or error messages.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The only way to read the value: greppable, deliberate.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"[redacted]\"")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // An all-digit secret arrives from the environment as a number: take it as text.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Unsigned(u64),
            Flag(bool),
        }
        Ok(Secret(match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Unsigned(n) => n.to_string(),
            Raw::Flag(b) => b.to_string(),
        }))
    }
}

// Only used to feed defaults through figment; a secret is never serialised anywhere else.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address and port to serve on; port 0 picks a free port (logged at start).
    pub listen: SocketAddr,
    /// Private PostgreSQL cluster, local photo store, generated keys.
    pub data_dir: PathBuf,
    /// Base of links in emails and media URLs.
    pub public_url: String,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub smtp: SmtpSettings,
    pub fcm: FcmSettings,
    pub ioc: IocSettings,
    pub media: MediaSettings,
    pub reports: ReportSettings,
    pub outbox: OutboxSettings,
    pub stats: StatsSettings,
    pub open311: Open311Settings,
    pub retention: RetentionSettings,
}

/// How long personal data of finished reports is kept (product.md, "Privacy and trust").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Months after a report closed (closed, rejected or duplicate) before its reporter's
    /// contact is erased and its unredacted photo originals deleted (`PHANANH_RETENTION__MONTHS`).
    pub months: u32,
    /// How often the retention job looks for work.
    pub interval_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Explicit connection URL (`DATABASE_URL`). When unset, the embedded default applies.
    pub url: Option<Secret>,
    /// Tried when `url` is unset: a PostgreSQL server on this machine.
    pub local_url: String,
    /// Directory of `initdb`/`pg_ctl` for the private cluster; found automatically when unset.
    pub pg_bin_dir: Option<PathBuf>,
    /// Whether a private cluster under `data_dir` may be started when nothing else answers.
    pub private_cluster: bool,
    pub pool_size: usize,
    /// How long a request waits for a connection before it is answered 503.
    pub acquire_timeout_ms: u64,
    /// How long opening one connection may take.
    pub connect_timeout_ms: u64,
    /// Longest a request's SQL statement may run (lock waits get half, idle transactions twice).
    pub statement_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// HMAC key for access tokens (at least 32 bytes). Unset: a random key is generated once and
    /// kept in `<data_dir>/jwt-secret`. Several processes must share one: set it explicitly.
    pub jwt_secret: Option<Secret>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: u64,
    /// A session ends this long after sign-in, however often it is refreshed.
    pub session_max_days: u64,
    pub password_reset_ttl_secs: u64,
    /// Login attempts per client IP per minute (per process), then 429.
    pub login_per_minute_per_ip: u32,
    /// Registrations per client IP per hour (per process), then 429.
    pub register_per_hour_per_ip: u32,
    /// Consecutive wrong passwords before an account is locked for `lockout_secs`.
    pub lockout_after_failures: u32,
    pub lockout_secs: u64,
    /// Password hashes computed at once (each takes ~19 MiB and one core for a few tens of ms).
    pub hash_concurrency: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    /// Largest JSON body accepted, in bytes.
    pub json_limit_bytes: usize,
    /// How long in-flight requests may run after SIGTERM before the process exits.
    pub shutdown_timeout_secs: u64,
    /// Reverse proxies (CIDR blocks) whose `X-Forwarded-For` is believed when finding the client's
    /// address for rate limits. Empty: the TCP peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Browser origins allowed to call the API cross-origin (CORS), e.g.
    /// `["https://console.dondương.gov.vn"]`; `["*"]` allows any origin (tokens are bearer
    /// headers, never cookies, so no credentials mode is offered). Empty: no CORS headers at all.
    pub cors_allowed_origins: Vec<String>,
    /// Writes (POST, PUT, PATCH, DELETE) per client per minute, per process: an authenticated
    /// caller is counted by account or API key, anyone else by address. 0 turns the limit off.
    pub writes_per_minute: u32,
    /// A client must send the request head within this long, or the connection is closed (408).
    pub client_request_timeout_ms: u64,
    /// After a response, how long a client has to acknowledge the connection's close.
    pub client_disconnect_timeout_ms: u64,
    /// Largest request line plus headers accepted, in bytes (431 beyond).
    pub max_header_bytes: usize,
    /// A request body that stops arriving for this long ends with 408 (0: never).
    pub body_idle_timeout_secs: u64,
    /// Idle keep-alive connections are closed after this long.
    pub keep_alive_secs: u64,
    /// Open connections per worker; beyond it new ones wait in the kernel's backlog.
    pub max_connections_per_worker: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `tracing_subscriber::EnvFilter` directives; `RUST_LOG` overrides.
    pub filter: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// e.g. `smtp://127.0.0.1:2525`; unset: email is off and messages are only logged.
    pub url: Option<Secret>,
    pub from: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmSettings {
    /// Path to a Google service-account JSON key; unset: push is off.
    pub credentials: Option<PathBuf>,
    pub base_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IocSettings {
    /// Where statistics snapshots are POSTed; unset: push is off.
    pub push_url: Option<String>,
    /// HMAC-SHA256 key of `X-Phananh-Signature`; required with `push_url` (an unsigned
    /// snapshot is never sent).
    pub push_secret: Option<Secret>,
    /// One snapshot per period of this many seconds, aligned to the epoch (900: :00, :15, ...).
    pub push_interval_secs: u64,
}

/// The outbox worker: how messages leave the process (email, push, IOC snapshots).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// Delivery attempts before a message is set aside as `dead` (an admin may retry it).
    pub max_attempts: u32,
    /// The first retry waits about this long; each next one twice as long (±50% jitter)...
    pub retry_base_ms: u64,
    /// ...but never longer than this.
    pub retry_max_ms: u64,
    /// How often an idle worker looks for due messages.
    pub poll_interval_ms: u64,
    /// Messages claimed at once, and delivered concurrently.
    pub batch_size: u32,
    /// A claimed message is someone else's to retry if not settled within this time (a worker
    /// that died mid-delivery).
    pub lease_secs: u64,
}

/// Statistics for the IOC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsSettings {
    /// Medians and percentiles are computed exactly (`percentile_cont` over `reports`) when the
    /// selection holds at most this many durations, and interpolated from the rollup's
    /// histograms above it.
    pub exact_percentiles_max: i64,
}

/// The Open311 GeoReport v2 endpoint (`/open311/v2`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Open311Settings {
    /// When set, a request naming another `jurisdiction_id` is answered 404; when unset, any
    /// value (or none) is accepted.
    #[serde(deserialize_with = "string_or_number")]
    pub jurisdiction_id: Option<String>,
    /// `contact` of the discovery document: who to ask about this endpoint.
    pub contact: String,
    /// `key_service` of the discovery document: how a partner application gets an `api_key`.
    pub key_service: String,
}

/// A text setting that an environment variable may spell as a number (`…_ID=68` reads as 68).
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Whole(i64),
        Number(f64),
        Flag(bool),
    }
    Ok(Option::<Raw>::deserialize(d)?.map(|raw| match raw {
        Raw::Text(s) => s,
        Raw::Whole(n) => n.to_string(),
        Raw::Number(n) => n.to_string(),
        Raw::Flag(b) => b.to_string(),
    }))
}

/// Where photos are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaStore {
    /// A directory (`local_dir`, default `<data_dir>/media`).
    Local,
    /// An S3-compatible bucket (AWS, MinIO, Ceph): `s3_*` settings.
    S3,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSettings {
    pub store: MediaStore,
    /// Local store directory; unset: `<data_dir>/media`.
    pub local_dir: Option<PathBuf>,
    pub s3_bucket: Option<String>,
    /// e.g. `http://127.0.0.1:9000` for MinIO; unset: AWS.
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<Secret>,
    /// Plain-HTTP endpoints (a local MinIO or test server).
    pub s3_allow_http: bool,
    /// Largest upload accepted, in bytes (api.md: 15 MB).
    pub max_upload_bytes: u64,
    /// Largest image accepted, in pixels (api.md: 40 megapixels).
    pub max_pixels: u64,
    /// Photos decoded at once. Each may take a few hundred MB at 40 MP, so this bounds memory
    /// however many uploads arrive together. Unset: the number of cores.
    pub decode_concurrency: Option<usize>,
    /// Uploads not attached to a report within this long are deleted.
    pub unattached_ttl_hours: u64,
    /// How often the sweeper looks for expired and half-written photos.
    pub sweep_interval_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// Areas without a boundary match a report within this distance of their centroid.
    pub centroid_max_distance_m: f64,
    /// Open reports of the same category this close are offered as possible duplicates...
    pub duplicate_radius_m: f64,
    /// ...if they were submitted within this many days.
    pub duplicate_days: u32,
    /// Photos per report.
    pub max_media: usize,
    /// Version of the consent text residents accept; recorded with each report.
    pub consent_version: String,
    /// A resolved report closes itself this many days after resolution...
    pub auto_close_days: u32,
    /// ...and until then its reporter may reopen it.
    pub reopen_days: u32,
    /// Receipt must be acknowledged (accepted) within this many working hours.
    pub ack_working_hours: u32,
    /// The longest extension a manager may grant, in working days.
    pub max_extension_working_days: u32,
    /// How often the deadline job looks for passed deadlines and reports to close.
    pub deadline_check_interval_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            data_dir: PathBuf::from("./data"),
            public_url: "http://localhost:8080".into(),
            database: DatabaseSettings {
                url: None,
                local_url: "postgres://localhost/phananh".into(),
                pg_bin_dir: None,
                private_cluster: true,
                pool_size: 16,
                acquire_timeout_ms: 3_000,
                connect_timeout_ms: 3_000,
                statement_timeout_ms: 30_000,
            },
            auth: AuthSettings {
                jwt_secret: None,
                access_token_ttl_secs: 900,
                refresh_token_ttl_days: 30,
                session_max_days: 180,
                password_reset_ttl_secs: 1800,
                // Generous per address: Vietnamese mobile carriers put many subscribers behind
                // one CGNAT address. The per-identifier lock-out is what stops guessing.
                login_per_minute_per_ip: 120,
                register_per_hour_per_ip: 300,
                lockout_after_failures: 5,
                lockout_secs: 300,
                hash_concurrency: 4,
            },
            http: HttpSettings {
                workers: None,
                json_limit_bytes: 256 * 1024,
                shutdown_timeout_secs: 30,
                trusted_proxies: Vec::new(),
                cors_allowed_origins: Vec::new(),
                writes_per_minute: 60,
                client_request_timeout_ms: 5_000,
                client_disconnect_timeout_ms: 1_000,
                body_idle_timeout_secs: 30,
                max_header_bytes: 16 * 1024,
                keep_alive_secs: 5,
                max_connections_per_worker: 25_000,
            },
            log: LogSettings {
                format: LogFormat::Json,
                filter: "info".into(),
            },
            smtp: SmtpSettings {
                url: None,
                from: "phananh@localhost".into(),
            },
            fcm: FcmSettings {
                credentials: None,
                base_url: "https://fcm.googleapis.com".into(),
            },
            ioc: IocSettings {
                push_url: None,
                push_secret: None,
                push_interval_secs: 900,
            },
            media: MediaSettings {
                store: MediaStore::Local,
                local_dir: None,
                s3_bucket: None,
                s3_endpoint: None,
                s3_region: "us-east-1".into(),
                s3_access_key_id: None,
                s3_secret_access_key: None,
                s3_allow_http: false,
                max_upload_bytes: 15 * 1024 * 1024,
                max_pixels: 40_000_000,
                decode_concurrency: None,
                unattached_ttl_hours: 24,
                sweep_interval_secs: 600,
            },
            outbox: OutboxSettings {
                max_attempts: 10,
                retry_base_ms: 10_000,
                retry_max_ms: 3_600_000,
                poll_interval_ms: 1_000,
                batch_size: 32,
                lease_secs: 300,
            },
            stats: StatsSettings {
                exact_percentiles_max: 5_000,
            },
            retention: RetentionSettings {
                months: 24,
                interval_secs: 3600,
            },
            open311: Open311Settings {
                jurisdiction_id: None,
                contact: "Văn phòng HĐND-UBND — quản trị hệ thống phản ánh".into(),
                key_service: "API keys are issued by the deployment's administrators (POST /api/v1/admin/api-keys with purpose open311)".into(),
            },
            reports: ReportSettings {
                centroid_max_distance_m: 10_000.0,
                duplicate_radius_m: 150.0,
                duplicate_days: 30,
                max_media: 6,
                consent_version: "2026-01-01".into(),
                auto_close_days: 7,
                reopen_days: 7,
                ack_working_hours: 8,
                max_extension_working_days: 30,
                deadline_check_interval_secs: 60,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Settings {
    /// Loads settings from the process environment and an optional TOML file.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(config_file, std::env::vars())
    }

    /// Like [`Settings::load`], with the environment given explicitly (tests).
    pub fn load_from(
        config_file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let lookup = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let file = config_file
            .map(Path::to_path_buf)
            .or_else(|| lookup("PHANANH_CONFIG").map(PathBuf::from));

        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = &file {
            if !file.is_file() {
                return Err(ConfigError(format!(
                    "configuration file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        // figment reads the real process environment; feed it ours so tests stay isolated.
        let vars = env.clone();
        let database_url = vars
            .iter()
            .find(|(k, _)| k == "DATABASE_URL")
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty());
        if let Some(url) = database_url {
            figment = figment.merge(Serialized::default("database.url", url));
        }
        for (key, value) in vars {
            let Some(path) = setting_path(&key) else {
                continue;
            };
            figment = figment.merge(Serialized::default(&path, parse_env_value(&value)));
        }
        let settings: Settings = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        settings.check()?;
        Ok(settings)
    }

    /// `PHANANH_*` variables that name no setting and were ignored (to be logged once logging is
    /// up). Orchestrators add such variables on their own: Kubernetes turns a Service named
    /// `phananh` into `PHANANH_PORT`, `PHANANH_SERVICE_HOST`, ... A misspelt key *inside* a
    /// section (`PHANANH_DATABASE__POOL_SIZ`) is still an error.
    pub fn ignored_variables(env: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
        env.into_iter()
            .filter(|(k, _)| {
                k.starts_with("PHANANH_") && k != "PHANANH_CONFIG" && setting_path(k).is_none()
            })
            .map(|(k, _)| k)
            .collect()
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.database.pool_size == 0 {
            return Err(ConfigError("database.pool_size must be at least 1".into()));
        }
        if self.database.statement_timeout_ms < 100 {
            return Err(ConfigError(
                "database.statement_timeout_ms must be at least 100".into(),
            ));
        }
        if let Some(secret) = &self.auth.jwt_secret
            && secret.expose().len() < 32
        {
            return Err(ConfigError(
                "auth.jwt_secret must be at least 32 bytes".into(),
            ));
        }
        if self.auth.hash_concurrency == 0
            || self.auth.login_per_minute_per_ip == 0
            || self.auth.register_per_hour_per_ip == 0
        {
            return Err(ConfigError(
                "auth.hash_concurrency and the auth rate limits must be at least 1".into(),
            ));
        }
        if self.http.max_header_bytes < 4096 {
            return Err(ConfigError(
                "http.max_header_bytes must be at least 4096".into(),
            ));
        }
        if self.http.json_limit_bytes < 1024 {
            return Err(ConfigError(
                "http.json_limit_bytes must be at least 1024".into(),
            ));
        }
        if let Some(url) = &self.ioc.push_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError(format!(
                    "ioc.push_url must be an http(s) URL, got {url:?}"
                )));
            }
            if self
                .ioc
                .push_secret
                .as_ref()
                .is_none_or(|s| s.expose().is_empty())
            {
                return Err(ConfigError(
                    "ioc.push_url is set but ioc.push_secret (PHANANH_IOC__PUSH_SECRET) is not: \
                     snapshots are only sent signed"
                        .into(),
                ));
            }
        }
        if self.retention.months == 0 || self.retention.months > 1200 {
            return Err(ConfigError(
                "retention.months must be between 1 and 1200".into(),
            ));
        }
        if self.retention.interval_secs == 0 {
            return Err(ConfigError(
                "retention.interval_secs must be at least 1".into(),
            ));
        }
        if self.ioc.push_interval_secs == 0 {
            return Err(ConfigError(
                "ioc.push_interval_secs must be at least 1".into(),
            ));
        }
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return Err(ConfigError(format!(
                "public_url must be an http(s) URL, got {:?}",
                self.public_url
            )));
        }
        Ok(())
    }
}

const TOP_LEVEL_KEYS: [&str; 3] = ["listen", "data_dir", "public_url"];
const SECTIONS: [&str; 13] = [
    "database",
    "auth",
    "http",
    "log",
    "smtp",
    "fcm",
    "ioc",
    "media",
    "reports",
    "outbox",
    "stats",
    "open311",
    "retention",
];

/// `PHANANH_SMTP__URL` → `smtp.url`; `None` for variables that are not ours to read.
fn setting_path(var: &str) -> Option<String> {
    let rest = var.strip_prefix("PHANANH_")?.to_ascii_lowercase();
    match rest.split_once("__") {
        Some((section, key)) if SECTIONS.contains(&section) && !key.is_empty() => {
            Some(format!("{section}.{}", key.replace("__", ".")))
        }
        None if TOP_LEVEL_KEYS.contains(&rest.as_str()) => Some(rest),
        _ => None,
    }
}

/// Environment values are strings; numbers and booleans are recognised so that
/// `PHANANH_DATABASE__POOL_SIZE=4` fills a number field. (figment's own `Env` provider does the
/// same, but reads the process environment directly.)
fn parse_env_value(value: &str) -> figment::value::Value {
    use figment::value::Value;
    // A list, TOML-style: `[10.0.0.0/8, "192.168.0.0/16"]`.
    if let Some(inner) = value
        .trim()
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
    {
        let items: Vec<Value> = inner
            .split(',')
            .map(|item| item.trim().trim_matches('"').to_owned())
            .filter(|item| !item.is_empty())
            .map(Value::from)
            .collect();
        return Value::from(items);
    }
    // Only canonical forms: "00123" or "+5" stay text, so a secret like that survives intact.
    if let Ok(b) = value.parse::<bool>() {
        return Value::from(b);
    }
    if let Ok(n) = value.parse::<u64>()
        && n.to_string() == value
    {
        return Value::from(n);
    }
    Value::from(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_documented_table() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.public_url, "http://localhost:8080");
        assert_eq!(s.smtp.from, "phananh@localhost");
        assert_eq!(s.fcm.base_url, "https://fcm.googleapis.com");
        assert_eq!(s.ioc.push_interval_secs, 900);
        assert!(s.database.url.is_none());
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("phananh.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\npublic_url = \"https://x.vn\"\n[database]\npool_size = 3\n[smtp]\nfrom = \"a@b.vn\"\n",
        )
        .unwrap();
        let s = Settings::load_from(
            Some(&file),
            env(&[
                ("PHANANH_LISTEN", "127.0.0.1:0"),
                ("PHANANH_SMTP__URL", "smtp://127.0.0.1:2525"),
                ("PHANANH_IOC__PUSH_INTERVAL_SECS", "60"),
                ("PHANANH_OPEN311__JURISDICTION_ID", "68"),
                ("DATABASE_URL", "postgres://u:hunter2@db/x"),
                ("UNRELATED", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:0");
        assert_eq!(s.public_url, "https://x.vn");
        assert_eq!(s.database.pool_size, 3);
        assert_eq!(s.smtp.from, "a@b.vn");
        assert_eq!(s.smtp.url.unwrap().expose(), "smtp://127.0.0.1:2525");
        assert_eq!(s.ioc.push_interval_secs, 60);
        // A numeric id stays text.
        assert_eq!(s.open311.jurisdiction_id.as_deref(), Some("68"));
        assert_eq!(
            s.database.url.unwrap().expose(),
            "postgres://u:hunter2@db/x"
        );
    }

    #[test]
    fn phananh_config_variable_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "data_dir = \"/srv/phananh\"\n").unwrap();
        let s =
            Settings::load_from(None, env(&[("PHANANH_CONFIG", file.to_str().unwrap())])).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/srv/phananh"));
    }

    #[test]
    fn orchestrator_variables_are_ignored_not_fatal() {
        let vars = env(&[
            ("PHANANH_PORT", "tcp://10.0.0.7:8080"),
            ("PHANANH_SERVICE_HOST", "10.0.0.7"),
            ("PHANANH_PORT_8080_TCP_ADDR", "10.0.0.7"),
            ("PHANANH_LISTEN", "127.0.0.1:9"),
        ]);
        let s = Settings::load_from(None, vars.clone()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:9");
        let ignored = Settings::ignored_variables(vars);
        assert_eq!(ignored.len(), 3, "{ignored:?}");
    }

    #[test]
    fn trusted_proxies_are_cidr_lists() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert!(s.http.trusted_proxies.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1/128\"]\n",
        )
        .unwrap();
        let s = Settings::load_from(Some(&file), env(&[])).unwrap();
        assert_eq!(s.http.trusted_proxies.len(), 2);
        let from_env = Settings::load_from(
            None,
            env(&[(
                "PHANANH_HTTP__TRUSTED_PROXIES",
                "[10.0.0.0/8, \"172.16.0.0/12\"]",
            )]),
        )
        .unwrap();
        assert_eq!(from_env.http.trusted_proxies.len(), 2);
        std::fs::write(&file, "[http]\ntrusted_proxies = [\"not a net\"]\n").unwrap();
        assert!(Settings::load_from(Some(&file), env(&[])).is_err());
    }

    #[test]
    fn secrets_keep_their_exact_text() {
        for raw in ["00123", "+5", "true", "12345", " spaced "] {
            let s = Settings::load_from(None, env(&[("PHANANH_IOC__PUSH_SECRET", raw)])).unwrap();
            assert_eq!(s.ioc.push_secret.unwrap().expose(), raw);
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = Settings::load_from(
            None,
            env(&[
                ("DATABASE_URL", "postgres://u:hunter2@db/x"),
                ("PHANANH_IOC__PUSH_SECRET", "s3cr3t-value"),
            ]),
        )
        .unwrap();
        let dump = format!("{s:?}");
        assert!(!dump.contains("hunter2"), "{dump}");
        assert!(!dump.contains("s3cr3t-value"), "{dump}");
        assert!(dump.contains("[redacted]"));
    }

    #[test]
    fn an_ioc_push_url_needs_a_secret() {
        let url = ("PHANANH_IOC__PUSH_URL", "https://ioc.example.vn/hook");
        let err = Settings::load_from(None, env(&[url]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("PHANANH_IOC__PUSH_SECRET"), "{err}");
        let err = Settings::load_from(None, env(&[url, ("PHANANH_IOC__PUSH_SECRET", "")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("push_secret"), "{err}");
        let s = Settings::load_from(None, env(&[url, ("PHANANH_IOC__PUSH_SECRET", "k")])).unwrap();
        assert_eq!(s.ioc.push_url.as_deref(), Some(url.1));
        let err = Settings::load_from(
            None,
            env(&[
                ("PHANANH_IOC__PUSH_URL", "ioc.example.vn"),
                ("PHANANH_IOC__PUSH_SECRET", "k"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("push_url"), "{err}");
        assert!(
            Settings::load_from(None, env(&[("PHANANH_IOC__PUSH_INTERVAL_SECS", "0")])).is_err()
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() {
        let err = Settings::load_from(None, env(&[("PHANANH_LISTEN", "not an address")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen"), "{err}");
        let err = Settings::load_from(None, env(&[("PHANANH_DATABASE__POOL_SIZ", "4")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("pool_siz"), "{err}");
        let err = Settings::load_from(Some(Path::new("/nonexistent/phananh.toml")), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
