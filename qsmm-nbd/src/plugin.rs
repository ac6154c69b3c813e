//! The nbdkit plugin: global state across nbdkit's callbacks and one handle per connection.
//!
//! nbdkit calls `config` for each parameter, `config_complete`, then `get_ready` (where every
//! volume is opened on clones of one medium, so they protect each other), `after_fork` (where the
//! periodic commit threads start, in the process that serves), then `open` per
//! connection, the data callbacks, and `unload` at shutdown (where the volumes are flushed and
//! closed).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use nbdkit::{CacheFlags, Flags, FuaFlags, Server, ThreadModel};

use crate::config::Config;
use crate::error::{Error, Report};
use qsmm_volume::{AutoCommit, Medium, Volume};

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
    })
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
fn close_all(served: Served) {
    // Stop the commit threads first: each holds a reference to its volume.
    let volumes: Vec<Arc<Volume>> = served
        .exports
        .into_iter()
        .map(|export| {
            drop(export.committer);
            export.volume
        })
        .collect();
    let volumes = volumes
        .into_iter()
        .enumerate()
        .map(|(index, volume)| ("exported", index, volume))
        .chain(
            served
                .protected
                .into_iter()
                .enumerate()
                .map(|(index, volume)| ("protected", index, Arc::new(volume))),
        );
    for (role, index, volume) in volumes {
        let result = match Arc::try_unwrap(volume) {
            Ok(volume) => volume.close(),
            // A connection still holds it (nbdkit closes connections before unloading, so this
            // is not expected): make it durable at least.
            Err(shared) => shared.flush(),
        };
        if let Err(error) = result {
            eprintln!(
                "qsmm: closing {role} volume {index} failed: {}",
                Report(Error::Volume(error))
            );
        }
    }
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
            Some(served) => Ok(start_committers(served)?),
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
