//! The storage trait: what the handlers and the sweeper need from a note database, and the
//! choice between its two implementations — redb (embedded, one process, the default) and
//! PostgreSQL (shared by several instances).
//!
//! Both keep the same fields per note (see `store.rs` and `store/postgres.rs`) and give the same
//! guarantees: a create is durable once answered, a note is revealed at most once, wrong link
//! keys change nothing, and wrong passphrases are counted exactly, destroying the note at
//! [`MAX_PASSPHRASE_ATTEMPTS`](crate::MAX_PASSPHRASE_ATTEMPTS).

use std::future::Future;

use qsmm_shield::note::{NoteOpenError, StoredNote};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::state::blocking;
use crate::store::{NoteRecord, NoteSummary, PgStore, Store};
use crate::{Config, Error, Result};

/// What a reveal runs on the stored note: check the link keys, then the passphrase, and
/// decrypt. Runs on a blocking thread.
pub(crate) trait Opener:
    FnOnce(&StoredNote) -> Result<Zeroizing<Vec<u8>>, NoteOpenError> + Send + 'static
{
}

impl<F> Opener for F where
    F: FnOnce(&StoredNote) -> Result<Zeroizing<Vec<u8>>, NoteOpenError> + Send + 'static
{
}

/// A note database.
pub(crate) trait NoteStore: Send + Sync {
    /// Stores a new note under a fresh `id`. Durable once this returns `Ok`.
    fn insert(&self, id: Uuid, record: NoteRecord) -> impl Future<Output = Result<()>> + Send;

    /// Looks a note up without consuming it. An expired note is deleted and reported as absent.
    fn peek(&self, id: Uuid, now: u64) -> impl Future<Output = Result<Option<NoteSummary>>> + Send;

    /// Reveals a note exactly once: runs `open` on it and, on success, deletes it before
    /// returning the message; counts a wrong passphrase; changes nothing on wrong keys.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::WrongKeys`], [`Error::PassphraseRequired`],
    /// [`Error::WrongPassphrase`], or a storage error.
    fn reveal<F: Opener>(
        &self,
        id: Uuid,
        now: u64,
        open: F,
    ) -> impl Future<Output = Result<Zeroizing<Vec<u8>>>> + Send;

    /// Deletes every note expired at `now`; returns how many this call deleted.
    fn sweep(&self, now: u64) -> impl Future<Output = Result<u64>> + Send;

    /// Checks that the database answers (for `/healthz`).
    fn check(&self) -> impl Future<Output = Result<()>> + Send;
}

/// The store chosen by the configuration: `--store postgres://…` or `--db <file>`.
#[derive(Clone, Debug)]
pub(crate) enum Storage {
    /// The embedded redb file.
    Redb(Store),
    /// A PostgreSQL database, possibly shared with other instances.
    Postgres(Box<PgStore>),
}

impl Storage {
    /// Opens the store `config` names (creating tables or applying migrations as needed).
    pub(crate) fn open(config: &Config) -> Result<Self> {
        match &config.store {
            Some(url) => Ok(Self::Postgres(Box::new(PgStore::open(url.expose())?))),
            None => Ok(Self::Redb(Store::open(&config.db)?)),
        }
    }

    /// The name of the backend, as `/healthz` reports it.
    pub(crate) const fn kind(&self) -> &'static str {
        match self {
            Self::Redb(_) => "redb",
            Self::Postgres(_) => "postgres",
        }
    }

    /// How many notes are stored, expired or not. Blocks.
    pub(crate) fn len_blocking(&self) -> Result<u64> {
        match self {
            Self::Redb(store) => store.len(),
            Self::Postgres(store) => store.len_blocking(),
        }
    }
}

impl NoteStore for Storage {
    async fn insert(&self, id: Uuid, record: NoteRecord) -> Result<()> {
        match self {
            Self::Redb(store) => {
                let store = store.clone();
                blocking(move || store.insert(id, &record)).await
            }
            Self::Postgres(store) => store.insert(id, &record).await,
        }
    }

    async fn peek(&self, id: Uuid, now: u64) -> Result<Option<NoteSummary>> {
        match self {
            Self::Redb(store) => {
                let store = store.clone();
                blocking(move || store.peek(id, now)).await
            }
            Self::Postgres(store) => store.peek(id, now).await,
        }
    }

    async fn reveal<F: Opener>(&self, id: Uuid, now: u64, open: F) -> Result<Zeroizing<Vec<u8>>> {
        match self {
            Self::Redb(store) => {
                let store = store.clone();
                blocking(move || store.reveal(id, now, open)).await
            }
            Self::Postgres(store) => store.reveal(id, now, open).await,
        }
    }

    async fn sweep(&self, now: u64) -> Result<u64> {
        match self {
            Self::Redb(store) => {
                let store = store.clone();
                blocking(move || store.sweep(now)).await
            }
            Self::Postgres(store) => store.sweep(now).await,
        }
    }

    async fn check(&self) -> Result<()> {
        match self {
            // The file is open for the life of the process; nothing can go away.
            Self::Redb(_) => Ok(()),
            Self::Postgres(store) => store.ping().await,
        }
    }
}

/// A `--store` value: a PostgreSQL connection string, which may hold a password, so `Debug`
/// prints only a placeholder.
#[derive(Clone)]
pub struct StoreUrl(String);

impl StoreUrl {
    /// The connection string.
    fn expose(&self) -> &str {
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
            Err(Error::Config(
                "--store must be a postgres:// or postgresql:// URL".to_owned(),
            ))
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
                matches!(bad.parse::<StoreUrl>(), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }
}
