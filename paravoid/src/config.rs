//! Server configuration: command-line flags, each with an environment-variable twin.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::Result;
use crate::error::ConfigError;
use crate::store::{StoreChoice, StoreUrl};

/// Largest `--max-message-bytes` accepted, so the request body limit derived from it stays small.
pub const MAX_MESSAGE_BYTES_CEILING: usize = 1 << 20;

/// Largest `--max-ttl-secs` accepted: ten years.
pub const MAX_TTL_CEILING_SECS: u64 = 10 * 365 * 24 * 60 * 60;

/// Room for the JSON framing and the other fields of a create request, on top of the escaped
/// message.
const BODY_OVERHEAD_BYTES: usize = 16 * 1024;

/// How much a message can grow when written as a JSON string: every byte as a `\u00XX` escape.
const JSON_ESCAPE_FACTOR: usize = 6;

/// The configuration of a paravoid server.
///
/// Every flag can also be set through the environment variable named beside it; a flag wins over
/// the variable. Build one for tests or embedding with [`Config::with_db`] and adjust the public
/// fields.
///
/// ```
/// use paravoid::Config;
///
/// let mut config = Config::with_db("notes.redb");
/// config.max_ttl_secs = 3600;
/// config.default_ttl_secs = 600;
/// assert!(config.validate().is_ok());
/// config.default_ttl_secs = 7200;
/// assert!(config.validate().is_err());
/// ```
#[derive(Clone, Debug, Parser)]
#[command(
    name = "paravoid",
    version,
    about = "One-time secret notes with post-quantum encryption",
    long_about = None
)]
#[non_exhaustive]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "PARAVOID_BIND", default_value = "0.0.0.0:3000")]
    pub bind: SocketAddr,

    /// Path of the redb database file (created if missing). Not used with `--store`.
    #[arg(long, env = "PARAVOID_DB", default_value = "paravoid.redb")]
    pub db: PathBuf,

    /// PostgreSQL URL (`postgres://…`): notes go there instead of `--db`, shared by instances.
    ///
    /// Example: `postgres://user:password@host:5432/db`. Never printed.
    ///
    /// Unix socket: `postgresql:///db?host=/run/postgresql`.
    #[arg(long, env = "PARAVOID_STORE", hide_env_values = true)]
    pub store: Option<StoreUrl>,

    /// With `--store`: this instance's copy of the store key file (32 random bytes at first).
    #[arg(long, env = "PARAVOID_STORE_KEY", requires = "store")]
    pub store_key: Option<PathBuf>,

    /// Largest message accepted, in bytes of UTF-8.
    #[arg(long, env = "PARAVOID_MAX_MESSAGE_BYTES", default_value_t = 65_536)]
    pub max_message_bytes: usize,

    /// Largest `ttl_secs` a client may ask for.
    #[arg(long, env = "PARAVOID_MAX_TTL_SECS", default_value_t = 7 * 24 * 60 * 60)]
    pub max_ttl_secs: u64,

    /// Lifetime of a note whose create request gives no `ttl_secs`.
    #[arg(long, env = "PARAVOID_DEFAULT_TTL_SECS", default_value_t = 24 * 60 * 60)]
    pub default_ttl_secs: u64,

    /// Seconds between two runs of the task that deletes expired notes.
    #[arg(long, env = "PARAVOID_SWEEP_INTERVAL_SECS", default_value_t = 60)]
    pub sweep_interval_secs: u64,

    /// Seconds a request may take before it is answered with 408 (not once a write is queued).
    #[arg(long, env = "PARAVOID_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Argon2id computations run at once (0: one per CPU); each takes 19 MiB.
    #[arg(long, env = "PARAVOID_ARGON2_THREADS", default_value_t = 0)]
    pub argon2_threads: usize,

    /// Requests that may wait for an Argon2id worker before 503 answers.
    #[arg(long, env = "PARAVOID_ARGON2_QUEUE", default_value_t = 64)]
    pub argon2_queue: usize,

    /// Creates per minute per client address (0: no limit).
    #[arg(long, env = "PARAVOID_CREATE_PER_MINUTE", default_value_t = 600)]
    pub create_per_minute: u32,

    /// Reveals per minute per client address (0: no limit).
    #[arg(long, env = "PARAVOID_REVEAL_PER_MINUTE", default_value_t = 600)]
    pub reveal_per_minute: u32,

    /// Rate limit IPv6 clients per network of this prefix length (1-128).
    #[arg(long, env = "PARAVOID_RATE_LIMIT_IPV6_PREFIX", default_value_t = 64)]
    pub rate_limit_ipv6_prefix: u8,

    /// Most notes stored at once (with `--store`: over every instance; 0: no limit); creates
    /// beyond are answered 507.
    #[arg(long, env = "PARAVOID_MAX_NOTES", default_value_t = 100_000)]
    pub max_notes: u64,

    /// Largest file of an end-to-end note, in bytes before sealing; larger uploads are
    /// answered 413.
    #[arg(long, env = "PARAVOID_MAX_FILE_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_file_bytes: u64,

    /// Serve /metrics on this address only (e.g. 127.0.0.1:9090); none without it.
    #[arg(long, env = "PARAVOID_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// Connections open at once; more are closed as soon as they are accepted.
    #[arg(long, env = "PARAVOID_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Seconds to send a request head; also ends idle keep-alive connections.
    #[arg(long, env = "PARAVOID_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,

    /// Proxy addresses whose X-Forwarded-For is believed (comma-separated).
    #[arg(long, env = "PARAVOID_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,

    /// PEM certificate chain; serve HTTPS (with --tls-key).
    #[arg(long, env = "PARAVOID_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "PARAVOID_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Hosts webhooks may call (comma-separated; `.example.com`: also below it); none: off.
    #[arg(long, env = "PARAVOID_WEBHOOK_ALLOW", value_delimiter = ',')]
    pub webhook_allow: Vec<String>,

    /// For tests only: also allow plain-http webhooks to a loopback host.
    #[arg(long, env = "PARAVOID_WEBHOOK_ALLOW_HTTP_LOOPBACK", hide = true)]
    pub webhook_allow_http_loopback: bool,
}

impl Config {
    /// The default configuration with the database at `db`.
    #[must_use]
    pub fn with_db(db: impl Into<PathBuf>) -> Self {
        Self {
            bind: SocketAddr::from(([0, 0, 0, 0], 3000)),
            db: db.into(),
            store: None,
            store_key: None,
            max_message_bytes: 65_536,
            max_ttl_secs: 7 * 24 * 60 * 60,
            default_ttl_secs: 24 * 60 * 60,
            sweep_interval_secs: 60,
            request_timeout_secs: 30,
            argon2_threads: 0,
            argon2_queue: 64,
            create_per_minute: 600,
            reveal_per_minute: 600,
            rate_limit_ipv6_prefix: 64,
            max_notes: 100_000,
            max_file_bytes: 100 * 1024 * 1024,
            metrics_bind: None,
            max_connections: 1024,
            header_read_timeout_secs: 10,
            trusted_proxies: Vec::new(),
            tls_cert: None,
            tls_key: None,
            webhook_allow: Vec::new(),
            webhook_allow_http_loopback: false,
        }
    }

    /// Checks that the values fit together.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) ([`ConfigError`]) if `max_message_bytes` is 0 or above [`MAX_MESSAGE_BYTES_CEILING`],
    /// `max_ttl_secs` is 0 or above [`MAX_TTL_CEILING_SECS`], `default_ttl_secs` is 0 or above
    /// `max_ttl_secs`, an interval is 0, `store` is set without `store_key`, or only one of `tls_cert` and
    /// `tls_key` is set.
    pub fn validate(&self) -> Result<()> {
        let range = |flag, value: u64, min, max| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange { flag, min, max })
            }
        };
        let to_u64 = |value: usize| u64::try_from(value).unwrap_or(u64::MAX);
        range(
            "max-message-bytes",
            to_u64(self.max_message_bytes),
            1,
            to_u64(MAX_MESSAGE_BYTES_CEILING),
        )?;
        range("max-ttl-secs", self.max_ttl_secs, 1, MAX_TTL_CEILING_SECS)?;
        range(
            "default-ttl-secs",
            self.default_ttl_secs,
            1,
            self.max_ttl_secs,
        )?;
        range("sweep-interval-secs", self.sweep_interval_secs, 1, u64::MAX)?;
        range(
            "request-timeout-secs",
            self.request_timeout_secs,
            1,
            u64::MAX,
        )?;
        range(
            "rate-limit-ipv6-prefix",
            u64::from(self.rate_limit_ipv6_prefix),
            1,
            128,
        )?;
        // Port 0 on both asks the system for two ports: never one listener.
        if self
            .metrics_bind
            .is_some_and(|metrics| metrics == self.bind && metrics.port() != 0)
        {
            return Err(ConfigError::MetricsOnPublicListener.into());
        }
        range("max-connections", to_u64(self.max_connections), 1, u64::MAX)?;
        range(
            "header-read-timeout-secs",
            self.header_read_timeout_secs,
            1,
            u64::MAX,
        )?;
        self.store_choice()?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::TlsHalfPair.into());
        }
        Ok(())
    }

    /// The store these flags choose: PostgreSQL with `--store` (which needs `--store-key`), else
    /// the redb file `--db`. The one place that decides it.
    ///
    /// # Errors
    ///
    /// [`ConfigError::StoreNeedsKey`].
    pub(crate) fn store_choice(&self) -> Result<StoreChoice<'_>, ConfigError> {
        match (&self.store, &self.store_key) {
            (Some(url), Some(key_file)) => Ok(StoreChoice::Postgres {
                url,
                key_file: key_file.as_path(),
                max_notes: self.max_notes,
            }),
            (Some(_), None) => Err(ConfigError::StoreNeedsKey),
            (None, _) => Ok(StoreChoice::Redb {
                path: self.db.as_path(),
                max_notes: self.max_notes,
            }),
        }
    }

    /// The largest request body accepted: room for the longest message written with the
    /// longest JSON escapes, plus the other fields.
    #[must_use]
    pub fn max_body_bytes(&self) -> usize {
        self.max_message_bytes
            .min(MAX_MESSAGE_BYTES_CEILING)
            .saturating_mul(JSON_ESCAPE_FACTOR)
            .saturating_add(BODY_OVERHEAD_BYTES)
    }

    /// The connection limits of the listeners.
    pub(crate) fn http_limits(&self) -> crate::connections::HttpLimits {
        crate::connections::HttpLimits {
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
        }
    }

    /// The request timeout as a [`Duration`].
    #[must_use]
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// Argon2id computations allowed at once: `argon2_threads`, or the number of CPUs if 0.
    #[must_use]
    pub fn argon2_workers(&self) -> usize {
        if self.argon2_threads > 0 {
            return self.argon2_threads;
        }
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    }

    /// The sweep interval as a [`Duration`].
    #[must_use]
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_secs)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn defaults_match_the_command_line() {
        let parsed = Config::try_parse_from(["paravoid"]).unwrap();
        let built = Config::with_db("paravoid.redb");
        assert_eq!(format!("{parsed:?}"), format!("{built:?}"));
        assert!(parsed.validate().is_ok());
    }

    #[test]
    fn metrics_stay_off_the_public_listener_unless_both_ports_are_picked() {
        let with = |bind: &str, metrics: &str| {
            Config::try_parse_from(["paravoid", "--bind", bind, "--metrics-bind", metrics])
                .unwrap()
                .validate()
        };
        assert!(matches!(
            with("127.0.0.1:8080", "127.0.0.1:8080"),
            Err(crate::Error::Config(ConfigError::MetricsOnPublicListener))
        ));
        assert!(with("127.0.0.1:8080", "127.0.0.1:9090").is_ok());
        assert!(with("127.0.0.1:0", "127.0.0.1:0").is_ok());
    }

    #[test]
    fn flags_are_read() {
        let parsed = Config::try_parse_from([
            "paravoid",
            "--bind",
            "127.0.0.1:8080",
            "--db",
            "x.redb",
            "--max-message-bytes",
            "100",
            "--max-ttl-secs",
            "60",
            "--default-ttl-secs",
            "30",
            "--sweep-interval-secs",
            "5",
        ])
        .unwrap();
        assert_eq!(parsed.bind, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(parsed.db, PathBuf::from("x.redb"));
        assert_eq!(parsed.max_message_bytes, 100);
        assert_eq!(parsed.max_ttl_secs, 60);
        assert_eq!(parsed.default_ttl_secs, 30);
        assert_eq!(parsed.sweep_interval_secs, 5);
        assert!(parsed.store.is_none());
        assert!(parsed.validate().is_ok());
    }

    #[test]
    fn the_store_flag_takes_a_postgres_url_and_hides_it() {
        let parsed =
            Config::try_parse_from(["paravoid", "--store", "postgres://u:pw-123@db/notes"])
                .unwrap();
        assert!(parsed.store.is_some());
        assert!(!format!("{parsed:?}").contains("pw-123"));
        assert!(Config::try_parse_from(["paravoid", "--store", "notes.redb"]).is_err());
        // PostgreSQL needs the store key; the store key needs PostgreSQL.
        assert!(matches!(parsed.validate(), Err(crate::Error::Config(_))));
        let with_key = Config::try_parse_from([
            "paravoid",
            "--store",
            "postgres://db/notes",
            "--store-key",
            "store.key",
        ])
        .unwrap();
        assert!(with_key.validate().is_ok());
        assert!(Config::try_parse_from(["paravoid", "--store-key", "store.key"]).is_err());
    }

    #[test]
    fn inconsistent_values_are_rejected() {
        let base = Config::with_db("x");
        let mut c = base.clone();
        c.max_message_bytes = 0;
        assert!(c.validate().is_err());
        c.max_message_bytes = MAX_MESSAGE_BYTES_CEILING + 1;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.default_ttl_secs = c.max_ttl_secs + 1;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.default_ttl_secs = 0;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.max_ttl_secs = MAX_TTL_CEILING_SECS + 1;
        c.default_ttl_secs = 1;
        assert!(c.validate().is_err());
        let mut c = base.clone();
        c.sweep_interval_secs = 0;
        assert!(c.validate().is_err());
        let mut c = base;
        c.request_timeout_secs = 0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn webhook_flags_are_read() {
        let parsed = Config::try_parse_from([
            "paravoid",
            "--webhook-allow",
            "hooks.example.com,.corp.example",
            "--webhook-allow-http-loopback",
        ])
        .unwrap();
        assert_eq!(parsed.webhook_allow, ["hooks.example.com", ".corp.example"]);
        assert!(parsed.webhook_allow_http_loopback);
        let default = Config::try_parse_from(["paravoid"]).unwrap();
        assert!(default.webhook_allow.is_empty());
        assert!(!default.webhook_allow_http_loopback);
        // The test flag stays out of the help.
        let help = Config::command().render_long_help().to_string();
        assert!(help.contains("--webhook-allow "), "{help}");
        assert!(!help.contains("--webhook-allow-http-loopback"), "{help}");
    }

    #[test]
    fn help_is_short() {
        let help = Config::command().render_long_help().to_string();
        assert!(!help.contains("```"), "{help}");
        assert!(!help.contains("Config::with_db"), "{help}");
        assert!(help.contains("--argon2-threads"), "{help}");
        for line in help.lines() {
            assert!(line.len() <= 120, "long help line: {line}");
        }
    }

    #[test]
    fn proxies_and_tls_flags() {
        let parsed = Config::try_parse_from([
            "paravoid",
            "--trusted-proxies",
            "10.0.0.1,::1",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ])
        .unwrap();
        assert_eq!(parsed.trusted_proxies.len(), 2);
        assert!(parsed.validate().is_ok());
        assert!(Config::try_parse_from(["paravoid", "--tls-cert", "c.pem"]).is_err());
    }

    #[test]
    fn body_limit_covers_an_escaped_message() {
        let c = Config::with_db("x");
        assert!(c.max_body_bytes() >= 6 * c.max_message_bytes);
    }
}
