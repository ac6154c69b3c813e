//! The state shared by every request: the database, the configuration, the clock, the
//! Argon2id pool, the rate limits and the metrics.

use std::sync::Arc;

use crate::argon2_pool::Argon2Pool;
use crate::clock::{Clock, SystemClock};
use crate::metrics::Metrics;
use crate::rate_limit::RateLimits;
use crate::store::{NoteStore as _, Storage};
use crate::{Config, Result};

/// Everything a handler needs, cheap to clone (`Arc`s inside).
///
/// ```
/// use paravoid::{AppState, Config};
///
/// let dir = tempfile::tempdir()?;
/// let state = AppState::open(Config::with_db(dir.path().join("notes.redb")))?;
/// assert_eq!(state.stored_notes()?, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct AppState {
    pub(crate) store: Storage,
    pub(crate) config: Arc<Config>,
    pub(crate) argon2: Arc<Argon2Pool>,
    pub(crate) rate_limits: Arc<RateLimits>,
    pub(crate) metrics: Arc<Metrics>,
    /// Wakes the webhook delivery worker (`webhooks::worker`).
    pub(crate) webhook_wake: crate::webhooks::worker::Wake,
}

impl AppState {
    /// Validates `config` and opens (or creates) its store, with the system clock: the redb
    /// file `config.db`, or the PostgreSQL database `config.store` (applying its migrations).
    ///
    /// Blocks while it opens the store; safe to call inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) for an inconsistent configuration or store key
    /// file, [`Error::Storage`](crate::Error::Storage) if the redb file cannot be opened — for
    /// example because another process has it open — or a migration fails,
    /// [`Error::Unavailable`](crate::Error::Unavailable) if PostgreSQL cannot be reached.
    pub fn open(config: Config) -> Result<Self> {
        Self::open_with_clock(config, Arc::new(SystemClock::new()))
    }

    /// Like [`AppState::open`] with a chosen clock (tests move a
    /// [`ManualClock`](crate::ManualClock) to expire notes without waiting).
    ///
    /// # Errors
    ///
    /// As [`AppState::open`].
    pub fn open_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<Self> {
        config.validate()?;
        let metrics = Arc::new(Metrics::new());
        let store = Storage::open(config.store_choice()?, clock, metrics.clone())?;
        let argon2 = Arc::new(Argon2Pool::new(
            config.argon2_workers(),
            config.argon2_queue,
            metrics.clone(),
        ));
        let rate_limits = Arc::new(RateLimits::new(
            config.create_per_minute,
            config.reveal_per_minute,
            config.rate_limit_ipv6_prefix,
            config.trusted_proxies.clone(),
        ));
        Ok(Self {
            store,
            config: Arc::new(config),
            argon2,
            rate_limits,
            metrics,
            webhook_wake: crate::webhooks::worker::Wake::default(),
        })
    }

    /// Whether the store's writer thread runs; `GET /healthz` answers 503 once it does not.
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        self.store.is_healthy()
    }

    /// The configuration the state was opened with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many notes the database holds, including expired ones not yet swept (with
    /// PostgreSQL: those of every instance).
    ///
    /// Blocks on a read transaction (with PostgreSQL, on a connection of its own); safe to call
    /// inside a tokio runtime, but better from blocking code.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) if the database cannot be read,
    /// [`Error::Unavailable`](crate::Error::Unavailable) if PostgreSQL cannot be reached.
    pub fn stored_notes(&self) -> Result<u64> {
        self.store.len_blocking()
    }

    /// Deletes every expired note now, as the background sweeper does; returns how many.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) if the database fails,
    /// [`Error::Unavailable`](crate::Error::Unavailable) if PostgreSQL cannot be reached.
    pub async fn sweep_expired(&self) -> Result<u64> {
        let notes = self.store.sweep().await?;
        crate::store::requests::RequestStore::sweep_requests(&self.store).await?;
        crate::store::receipts::ReceiptStore::sweep_receipts(&self.store).await?;
        crate::store::files::FileStore::sweep_files(&self.store).await?;
        // Expired notes may have settled receipts with webhooks.
        self.webhook_wake.wake();
        Ok(notes)
    }
}

/// Test hooks that reproduce a slow or crashed redb writer. Compiled only with the `test-hooks`
/// feature (which paravoid's own tests enable), never in a release build of the server.
#[cfg(any(test, feature = "test-hooks"))]
impl AppState {
    /// <div class="warning">Test hook, never for production.</div>
    ///
    /// Makes the writer thread sleep `delay` before each batch, to reproduce a slow disk.
    pub fn danger_slow_writer(&self, delay: std::time::Duration) {
        self.store.set_writer_delay(delay);
    }

    /// <div class="warning">Test hook, never for production.</div>
    ///
    /// Stops the writer thread as a crash would: every later write fails, `/healthz` answers
    /// 503 and [`serve`](crate::serve) returns an error so a supervisor restarts the process.
    pub fn danger_crash_writer(&self) {
        self.store.crash_writer();
    }

    /// <div class="warning">Test hook, never for production.</div>
    ///
    /// The state of the webhook of the receipt whose status token is `receipt_token`
    /// (`"active"`, `"delivered"` or `"failed"`) and its attempts so far; `None` without one.
    ///
    /// # Errors
    ///
    /// A malformed token, or a storage error.
    pub async fn danger_webhook_state(
        &self,
        receipt_token: &str,
    ) -> Result<Option<(&'static str, u8)>> {
        use crate::store::webhooks::{WebhookState, WebhookStore as _};
        let token = crate::routes::base64url::decode_array::<32>(receipt_token, "token")?;
        let key = crate::routes::receipts::receipt_key(&token);
        Ok(self
            .store
            .webhook_state(key)
            .await?
            .map(|(state, attempts)| {
                let name = match state {
                    WebhookState::Active => "active",
                    WebhookState::Delivered => "delivered",
                    WebhookState::Failed => "failed",
                };
                (name, attempts)
            }))
    }
}
