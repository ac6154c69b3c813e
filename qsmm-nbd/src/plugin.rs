//! The nbdkit plugin: global state across nbdkit's callbacks and one handle per connection.
//!
//! nbdkit calls `config` for each parameter, `config_complete`, then `get_ready` (where every
//! volume is opened on clones of one medium, so they protect each other), `after_fork` (where the
//! periodic commit threads and, on a multi-snapshot medium, the timed tick start, in the process
//! that serves), then `open` per connection, the data callbacks, and `unload` at shutdown (where
//! the volumes are flushed and closed: higher volumes first, while the tick still carries their
//! last blocks, then the base volumes, which end the mount).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use nbdkit::{CacheFlags, Flags, FuaFlags, Server, ThreadModel};

use crate::config::Config;
use crate::error::{Error, Report};
use qsmm_volume::{AutoCommit, Medium, SnapshotMode, Ticker, Volume};

/// The parameters seen so far (until `get_ready`).
static CONFIG: Mutex<Option<Config>> = Mutex::new(None);

/// The open volumes, from `get_ready` until `unload`.
static SERVED: Mutex<Option<Served>> = Mutex::new(None);

/// What the server holds open.
struct Served {
    /// Exported volumes, in export order; each connection holds a clone of one.
    exports: Vec<Export>,
    /// The commit interval, applied in `after_fork` (threads do not survive nbdkit's fork).
    commit_interval: Option<std::time::Duration>,
    /// Volumes opened only so that the exported ones never allocate their blocks.
    protected: Vec<Volume>,
    /// The medium all of them are on.
    medium: Medium,
    /// Slots per second on a multi-snapshot medium (`None`: the per-mount budget).
    tick_rate: Option<u32>,
    /// The timed tick, from `after_fork` until the higher volumes are closed.
    ticker: Option<Ticker>,
}

/// An exported volume and its periodic commit (none with `commit-interval=0`).
#[derive(Clone)]
struct Export {
    volume: Arc<Volume>,
    committer: Option<Arc<AutoCommit>>,
}

/// One client connection, bound to the volume its export name chose.
struct Handle {
    export: Export,
}

const DESCRIPTION: &str = "\
Serves qsmm deniable volumes: each volume is a logical block device hidden on a noise-filled
medium and opened by its passphrase. All volumes given are opened together and protect each
other's blocks.";

const CONFIG_HELP: &str = "\
medium=PATH            The formatted medium (image file or block device). Required.
passphrase-file=FILE   A volume to export (repeatable). The n-th one, from 0, is the export
                       named \"n\"; the first is also the default export \"\".
passphrase-fd=N        Further volumes to export, read from the inherited descriptor N
                       (each passphrase: 2-byte big-endian length, then its bytes).
protect=FILE           A volume to open and protect, but not export (repeatable).
commit-interval=SECS   Commit a volume at most SECS after its first unflushed write
                       (default 5; 0 = only when a client flushes).
tick-rate=SLOTS        Multi-snapshot media: blocks of cover traffic written per second
                       while served, whatever the volumes do (default 256; 0 = none).
Passphrase files hold the passphrase; one trailing line break is ignored.";

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic cannot leave the state half-updated: every update is one assignment.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens the configured volumes on one medium.
fn open_all(config: &Config) -> Result<Served, Error> {
    let path = config.medium().ok_or(Error::MissingParameter("medium"))?;
    let medium = Medium::open(path).map_err(|source| Error::OpenMedium {
        path: path.to_owned(),
        source,
    })?;
    let mut exports = Vec::with_capacity(config.exports().len());
    for (index, passphrase) in config.exports().iter().enumerate() {
        let volume = Volume::open(&medium.clone(), passphrase.as_bytes()).map_err(|source| {
            Error::OpenVolume {
                role: "exported",
                index,
                source,
            }
        })?;
        let volume = Arc::new(volume);
        exports.push(Export {
            volume,
            committer: None,
        });
    }
    let mut protected = Vec::with_capacity(config.protected().len());
    for (index, passphrase) in config.protected().iter().enumerate() {
        let volume = Volume::open(&medium.clone(), passphrase.as_bytes()).map_err(|source| {
            Error::OpenVolume {
                role: "protected",
                index,
                source,
            }
        })?;
        protected.push(volume);
    }
    Ok(Served {
        exports,
        commit_interval: config.commit_interval(),
        protected,
        medium,
        tick_rate: config.tick_rate(),
        ticker: None,
    })
}

/// On a multi-snapshot medium, starts the timed tick.
fn start_ticker(served: &mut Served) -> Result<(), Error> {
    let multi = served
        .exports
        .iter()
        .map(|e| &*e.volume)
        .chain(&served.protected)
        .any(|v| v.snapshot_mode() == SnapshotMode::Multi);
    if let (true, Some(rate), None) = (multi, served.tick_rate, &served.ticker) {
        let ticker = Ticker::start(&served.medium, rate, |error| {
            eprintln!("qsmm: a timed slot failed (retrying): {}", Report(error));
        })?;
        served.ticker = Some(ticker);
    }
    Ok(())
}

/// Starts the periodic commit of every exported volume.
fn start_committers(served: &mut Served) -> Result<(), Error> {
    let Some(interval) = served.commit_interval else {
        return Ok(());
    };
    for (index, export) in served.exports.iter_mut().enumerate() {
        let committer = AutoCommit::new(Arc::clone(&export.volume), interval, move |error| {
            eprintln!(
                "qsmm: periodic commit of volume {index} failed (retrying): {}",
                Report(error)
            );
        })?;
        export.committer = Some(Arc::new(committer));
    }
    Ok(())
}

/// Flushes and closes every volume; reports failures on nbdkit's standard error.
///
/// Higher volumes of a multi-snapshot medium close first, while the timed tick still carries
/// their last blocks; then the tick stops and the base volumes close, which ends the mount
/// (a base volume closed earlier would end it before the higher volumes' last flush, which
/// would then spend slots beyond the budget). When no base volume was served by a handle of
/// its own, the mount is ended once everything is closed.
fn close_all(served: Served) {
    // Stop the commit threads first: each holds a reference to its volume.
    let volumes: Vec<(&str, usize, Arc<Volume>)> = served
        .exports
        .into_iter()
        .enumerate()
        .map(|(index, export)| {
            drop(export.committer);
            ("exported", index, export.volume)
        })
        .chain(
            served
                .protected
                .into_iter()
                .enumerate()
                .map(|(index, volume)| ("protected", index, Arc::new(volume))),
        )
        .collect();
    let multi = volumes
        .iter()
        .any(|(_, _, v)| v.snapshot_mode() == SnapshotMode::Multi);
    let (higher, base): (Vec<_>, Vec<_>) = volumes.into_iter().partition(|(_, _, v)| v.is_higher());
    for (role, index, volume) in higher {
        close_one(role, index, volume);
    }
    drop(served.ticker);
    let mut ended = false;
    for (role, index, volume) in base {
        ended |= close_one(role, index, volume);
    }
    if multi
        && !ended
        && let Err(error) = served.medium.end_mount()
    {
        eprintln!(
            "qsmm: ending the mount failed: {}",
            Report(Error::Volume(error))
        );
    }
}

/// Closes one volume (or flushes it, if a connection still holds it); whether it was closed.
fn close_one(role: &str, index: usize, volume: Arc<Volume>) -> bool {
    let result = match Arc::try_unwrap(volume) {
        Ok(volume) => volume.close().map(|()| true),
        // A connection still holds it (nbdkit closes connections before unloading, so this
        // is not expected): make it durable at least.
        Err(shared) => shared.flush().map(|()| false),
    };
    result.unwrap_or_else(|error| {
        eprintln!(
            "qsmm: closing {role} volume {index} failed: {}",
            Report(Error::Volume(error))
        );
        false
    })
}

impl Handle {
    /// After a write or trim: flush now for FUA, else arm the periodic commit.
    fn written(&self, flags: Flags) -> nbdkit::Result<()> {
        if flags.contains(Flags::FUA) {
            self.flush_now()
        } else {
            if let Some(committer) = &self.export.committer {
                committer.note_write();
            }
            Ok(())
        }
    }

    fn flush_now(&self) -> nbdkit::Result<()> {
        let result = match &self.export.committer {
            Some(committer) => committer.flush(),
            None => self.export.volume.flush(),
        };
        Ok(result.map_err(Error::Volume)?)
    }
}

impl Server for Handle {
    fn name() -> &'static str {
        "qsmm"
    }

    fn longname() -> Option<&'static str> {
        Some("qsmm deniable volumes")
    }

    fn version() -> Option<&'static str> {
        Some(env!("CARGO_PKG_VERSION"))
    }

    fn description() -> Option<&'static str> {
        Some(DESCRIPTION)
    }

    fn config_help() -> Option<&'static str> {
        Some(CONFIG_HELP)
    }

    fn load() {
        // Before any parameter (and passphrase) is read: no core dump holds the passphrases or
        // keys, and no other process of the user reads this one's memory.
        if let Err(error) = crate::harden::harden_process() {
            eprintln!("qsmm: cannot disable core dumps: {error}");
        }
    }

    fn config(key: &str, value: &str) -> nbdkit::Result<()> {
        lock(&CONFIG)
            .get_or_insert_with(Config::default)
            .set(key, value)
            .map_err(Into::into)
    }

    fn config_complete() -> nbdkit::Result<()> {
        lock(&CONFIG)
            .get_or_insert_with(Config::default)
            .check()
            .map_err(Into::into)
    }

    fn thread_model() -> nbdkit::Result<ThreadModel> {
        // Volumes take `&self` for every operation and are `Sync`.
        Ok(ThreadModel::Parallel)
    }

    fn get_ready() -> nbdkit::Result<()> {
        // The passphrases are dropped (and zeroized) once the volumes are open.
        let config = lock(&CONFIG)
            .take()
            .ok_or(Error::MissingParameter("medium"))?;
        let served = open_all(&config)?;
        *lock(&SERVED) = Some(served);
        Ok(())
    }

    fn after_fork() -> nbdkit::Result<()> {
        // nbdkit may have forked into the background since `get_ready`: start the commit
        // threads in the process that serves.
        match lock(&SERVED).as_mut() {
            Some(served) => {
                start_ticker(served)?;
                Ok(start_committers(served)?)
            }
            None => Err(Error::NotReady.into()),
        }
    }

    fn unload() {
        if let Some(served) = lock(&SERVED).take() {
            close_all(served);
        }
    }

    fn open(_readonly: bool) -> nbdkit::Result<Box<dyn Server>> {
        let name = nbdkit::export_name().unwrap_or_default();
        let served = lock(&SERVED);
        let exports = served
            .as_ref()
            .map(|s| s.exports.as_slice())
            .ok_or(Error::NotReady)?;
        let index =
            crate::config::export_index(&name, exports.len()).ok_or(Error::NoSuchExport(name))?;
        let export = exports.get(index).ok_or(Error::NotReady)?;
        Ok(Box::new(Self {
            export: export.clone(),
        }))
    }

    fn get_size(&self) -> nbdkit::Result<i64> {
        i64::try_from(self.export.volume.logical_size())
            .map_err(|_| nbdkit::Error::new(libc::EOVERFLOW, "volume larger than NBD can export"))
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> nbdkit::Result<()> {
        Ok(self
            .export
            .volume
            .read_at(offset, buf)
            .map_err(Error::Volume)?)
    }

    fn write_at(&self, buf: &[u8], offset: u64, flags: Flags) -> nbdkit::Result<()> {
        self.export
            .volume
            .write_at(offset, buf)
            .map_err(Error::Volume)?;
        self.written(flags)
    }

    fn flush(&self) -> nbdkit::Result<()> {
        self.flush_now()
    }

    fn trim(&self, count: u32, offset: u64, flags: Flags) -> nbdkit::Result<()> {
        self.export
            .volume
            .trim_at(offset, u64::from(count))
            .map_err(Error::Volume)?;
        self.written(flags)
    }

    fn zero(&self, count: u32, offset: u64, flags: Flags) -> nbdkit::Result<()> {
        // Trimmed ranges read back as zeros and cost no data blocks, so a zero request is a trim
        // whether or not the client allowed holes (MAY_TRIM), and it is always fast (FAST_ZERO).
        self.trim(count, offset, flags)
    }

    fn can_write(&self) -> nbdkit::Result<bool> {
        Ok(true)
    }

    fn can_flush(&self) -> nbdkit::Result<bool> {
        Ok(true)
    }

    fn can_fua(&self) -> nbdkit::Result<FuaFlags> {
        Ok(FuaFlags::Native)
    }

    fn can_trim(&self) -> nbdkit::Result<bool> {
        Ok(true)
    }

    fn can_zero(&self) -> nbdkit::Result<bool> {
        Ok(true)
    }

    fn can_fast_zero(&self) -> nbdkit::Result<bool> {
        Ok(true)
    }

    fn can_multi_conn(&self) -> nbdkit::Result<bool> {
        // Every connection to an export shares one `Volume`: a read sees every completed write
        // of any connection, and `flush` makes all of them durable, so a flush on one connection
        // covers the writes of all (the condition NBD sets for multi-conn).
        Ok(true)
    }

    fn can_cache(&self) -> nbdkit::Result<CacheFlags> {
        Ok(CacheFlags::None)
    }
}

/// The plugin's entry point, `plugin_init`, which nbdkit looks up after `dlopen`.
#[allow(unsafe_code)]
// SAFETY: `nbdkit::plugin!` expands to the `#[no_mangle] extern "C" fn plugin_init` that nbdkit
// calls once, returning a pointer to a static plugin table whose callbacks the `nbdkit` crate
// implements (each converts the C arguments and calls the `Server` method above). This is the
// only unsafe code of the workspace; nothing else in this crate uses `unsafe`.
mod entry {
    nbdkit::plugin!(super::Handle {
        load,
        config,
        config_complete,
        config_help,
        thread_model,
        get_ready,
        after_fork,
        unload,
        write_at,
        flush,
        trim,
        zero,
        can_write,
        can_flush,
        can_fua,
        can_trim,
        can_zero,
        can_fast_zero,
        can_multi_conn,
        can_cache
    });
}
