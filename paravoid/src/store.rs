//! The note stores: what the handlers and the sweeper need from a note database
//! ([`NoteStore`]), its two implementations — [`redb`] (embedded, one process, the default) and
//! [`postgres`] (shared by several instances) — and the choice between them ([`StoreChoice`],
//! [`Storage`]).
//!
//! Both keep the same records ([`record`]), seal them with the same envelope ([`envelope`]) and
//! make the same decisions ([`policy`]): a create is durable once answered, a note is revealed at
//! most once, wrong link keys change nothing, and wrong passphrases are counted exactly,
//! destroying the note at [`MAX_PASSPHRASE_ATTEMPTS`](crate::MAX_PASSPHRASE_ATTEMPTS).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
#[cfg(any(test, feature = "test-hooks"))]
use std::time::Duration;

use qsmm_shield::note::{RecipientKeys, StoredNote};
use uuid::Uuid;

use crate::clock::Clock;
use crate::error::ConfigError;
use crate::metrics::Metrics;
use crate::{Error, Result};

pub(crate) mod envelope;
pub(crate) mod policy;
pub(crate) mod postgres;
pub(crate) mod record;
pub(crate) mod redb;

use postgres::PgStore;
pub use record::MAX_PASSPHRASE_ATTEMPTS;
pub(crate) use record::{
    ClaimHashes, EndToEndSummary, NoteSummary, RevealStep, TOKEN_HASH_LEN, Tokens,
};
pub(crate) use redb::RedbStore;

/// A note database. A reveal takes two steps so that Argon2id runs outside any transaction:
/// [`NoteStore::begin_reveal`] reserves a passphrase attempt (committed), the caller checks the
/// passphrase in the bounded Argon2id pool, then [`NoteStore::finish_reveal`] commits the delete.
pub(crate) trait NoteStore: Send + Sync {
    /// Stores a new note that lives `ttl_secs` from the moment it is stored; returns its
    /// `expires_at`. Durable once this returns `Ok`.
    fn insert(
        &self,
        id: Uuid,
        ttl_secs: u64,
        note: StoredNote,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Looks a note up without consuming it. An expired note is deleted and reported as absent.
    fn peek(&self, id: Uuid) -> impl Future<Output = Result<Option<NoteSummary>>> + Send;

    /// The first step of a reveal: check expiry and the link keys (`None`: keys that cannot be
    /// right); open and delete a note without passphrase (the message is returned only after the
    /// commit); reserve and commit one attempt for a note with one; write nothing on wrong keys.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] (absent, expired, or every attempt reserved), [`Error::WrongKeys`],
    /// [`Error::PassphraseRequired`], or a storage error.
    fn begin_reveal(
        &self,
        id: Uuid,
        keys: Option<Arc<RecipientKeys>>,
        with_passphrase: bool,
    ) -> impl Future<Output = Result<RevealStep>> + Send;

    /// The last step of a passphrase reveal: `opened` deletes the note (commit, then `Ok`); a
    /// wrong passphrase keeps the attempt counted and the last one destroys the note.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the note is gone meanwhile, [`Error::WrongPassphrase`], or a
    /// storage error.
    fn finish_reveal(
        &self,
        id: Uuid,
        attempt: u8,
        opened: bool,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Stores a note sealed in the browser with the hashes of its claim tokens; returns its
    /// `expires_at`. Durable once this returns `Ok`.
    fn insert_end_to_end(
        &self,
        id: Uuid,
        ttl_secs: u64,
        note: StoredNote,
        hashes: ClaimHashes,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Looks an end-to-end note up without consuming it; a note sealed by the server is absent.
    fn peek_end_to_end(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<EndToEndSummary>>> + Send;

    /// Claims an end-to-end note exactly once: right tokens delete it and return it (after the
    /// commit), a wrong claim token writes nothing, a wrong passphrase token counts a try.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::WrongKeys`], [`Error::PassphraseRequired`],
    /// [`Error::WrongPassphrase`], or a storage error.
    fn claim(&self, id: Uuid, tokens: Tokens) -> impl Future<Output = Result<StoredNote>> + Send;

    /// Deletes every expired note; returns how many this call deleted.
    fn sweep(&self) -> impl Future<Output = Result<u64>> + Send;

    /// Checks that the database answers (for `/healthz`).
    fn check(&self) -> impl Future<Output = Result<()>> + Send;

    /// How many notes are stored, expired or not. Blocks (PostgreSQL: on a connection of its
    /// own), so it works from synchronous code, also inside a runtime.
    fn len_blocking(&self) -> Result<u64>;
}

/// The store a configuration names, checked once by
/// [`Config::store_choice`](crate::Config::store_choice).
#[derive(Clone, Copy, Debug)]
pub(crate) enum StoreChoice<'a> {
    /// The embedded redb file `path`.
    Redb {
        /// The database file (its key file is `<path>.keys`).
        path: &'a Path,
        /// Most notes stored at once (0: no limit).
        max_notes: u64,
    },
    /// A PostgreSQL database, possibly shared with other instances.
    Postgres {
        /// The connection string.
        url: &'a StoreUrl,
        /// This instance's copy of the store key file.
        key_file: &'a Path,
        /// Most notes stored at once, over every instance (0: no limit).
        max_notes: u64,
    },
}

/// The store a configuration chose, opened: each variant implements [`NoteStore`], and this
/// enum dispatches to it.
#[derive(Clone, Debug)]
pub(crate) enum Storage {
    /// The embedded redb file.
    Redb(RedbStore),
    /// A PostgreSQL database, possibly shared with other instances.
    Postgres(Box<PgStore>),
}

/// Runs `$call` on the store inside `$storage`, whichever it is.
macro_rules! dispatch {
    ($storage:expr, $store:ident => $call:expr) => {
        match $storage {
            Storage::Redb($store) => $call,
            Storage::Postgres($store) => $call,
        }
    };
}

// After `dispatch!`, which they use.
pub(crate) mod files;
pub(crate) mod receipts;
pub(crate) mod requests;
pub(crate) mod webhooks;

impl Storage {
    /// Opens the store `choice` names (creating tables or applying migrations as needed).
    pub(crate) fn open(
        choice: StoreChoice<'_>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        match choice {
            StoreChoice::Redb { path, max_notes } => Ok(Self::Redb(
                RedbStore::open(path, clock, metrics)?.with_max_notes(max_notes),
            )),
            StoreChoice::Postgres {
                url,
                key_file,
                max_notes,
            } => Ok(Self::Postgres(Box::new(
                PgStore::open(url.expose(), key_file, clock, metrics)?.with_max_notes(max_notes),
            ))),
        }
    }

    /// The name of the backend, as `/healthz` reports it.
    pub(crate) const fn kind(&self) -> &'static str {
        match self {
            Self::Redb(_) => "redb",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Whether the store can serve: the redb writer thread runs (PostgreSQL: always; its
    /// reachability is [`NoteStore::check`]).
    pub(crate) fn is_healthy(&self) -> bool {
        match self {
            Self::Redb(store) => store.is_healthy(),
            Self::Postgres(_) => true,
        }
    }

    /// Completes once the redb writer thread has stopped; never for PostgreSQL.
    pub(crate) async fn writer_stopped(&self) {
        match self {
            Self::Redb(store) => store.writer_stopped().await,
            Self::Postgres(_) => std::future::pending().await,
        }
    }

    /// Test hook: the redb writer sleeps `delay` before each batch (no effect on PostgreSQL).
    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn set_writer_delay(&self, delay: Duration) {
        if let Self::Redb(store) = self {
            store.set_writer_delay(delay);
        }
    }

    /// Test hook: stops the redb writer thread as a crash would (no effect on PostgreSQL).
    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn crash_writer(&self) {
        if let Self::Redb(store) = self {
            store.crash_writer();
        }
    }
}

impl NoteStore for Storage {
    async fn insert(&self, id: Uuid, ttl_secs: u64, note: StoredNote) -> Result<u64> {
        dispatch!(self, store => store.insert(id, ttl_secs, note).await)
    }

    async fn peek(&self, id: Uuid) -> Result<Option<NoteSummary>> {
        dispatch!(self, store => store.peek(id).await)
    }

    async fn begin_reveal(
        &self,
        id: Uuid,
        keys: Option<Arc<RecipientKeys>>,
        with_passphrase: bool,
    ) -> Result<RevealStep> {
        dispatch!(self, store => store.begin_reveal(id, keys, with_passphrase).await)
    }

    async fn finish_reveal(&self, id: Uuid, attempt: u8, opened: bool) -> Result<()> {
        dispatch!(self, store => store.finish_reveal(id, attempt, opened).await)
    }

    async fn insert_end_to_end(
        &self,
        id: Uuid,
        ttl_secs: u64,
        note: StoredNote,
        hashes: ClaimHashes,
    ) -> Result<u64> {
        dispatch!(self, store => store.insert_end_to_end(id, ttl_secs, note, hashes).await)
    }

    async fn peek_end_to_end(&self, id: Uuid) -> Result<Option<EndToEndSummary>> {
        dispatch!(self, store => store.peek_end_to_end(id).await)
    }

    async fn claim(&self, id: Uuid, tokens: Tokens) -> Result<StoredNote> {
        dispatch!(self, store => store.claim(id, tokens).await)
    }

    async fn sweep(&self) -> Result<u64> {
        dispatch!(self, store => store.sweep().await)
    }

    async fn check(&self) -> Result<()> {
        dispatch!(self, store => store.check().await)
    }

    fn len_blocking(&self) -> Result<u64> {
        dispatch!(self, store => store.len_blocking())
    }
}

/// A `--store` value: a PostgreSQL connection string, which may hold a password, so `Debug`
/// prints only a placeholder.
#[derive(Clone)]
pub struct StoreUrl(String);

impl StoreUrl {
    /// The connection string.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for StoreUrl {
    type Err = Error;

    /// Accepts `postgres://…` and `postgresql://…` URLs.
    fn from_str(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self(url.to_owned()))
        } else {
            Err(ConfigError::StoreUrl.into())
        }
    }
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreUrl(<redacted>)")
    }
}

impl Drop for StoreUrl {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_are_postgres_only_and_never_printed() {
        let url: StoreUrl = "postgres://paravoid:s3cret@db/notes".parse().unwrap();
        assert_eq!(url.expose(), "postgres://paravoid:s3cret@db/notes");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(
            "postgresql:///notes?host=/run/postgresql"
                .parse::<StoreUrl>()
                .is_ok()
        );
        for bad in ["", "notes.redb", "mysql://db", "http://db"] {
            assert!(
                matches!(
                    bad.parse::<StoreUrl>(),
                    Err(Error::Config(ConfigError::StoreUrl))
                ),
                "{bad}"
            );
        }
    }
}
