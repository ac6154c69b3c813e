//! `paravoid store-key rotate`: limits what one leaked copy of a PostgreSQL store key file opens.
//!
//! The PostgreSQL store seals each note under the key of its expiry hour, derived from a one-way
//! chain kept in every instance's `--store-key` file: one copy of the file derives every later
//! hour's key. A rotation writes a new file whose keys from the next hour on come from a new
//! random chain, re-seals the stored notes of those hours under it, and makes the database refuse
//! the old file; the old chain stays in the new file only for the notes expiring before the next
//! hour, and leaves it by itself once that hour has passed. Procedure (paravoid's `SECURITY.md`):
//! stop every instance, rotate, copy the new file to every instance, destroy every copy of the old
//! one, start the instances.
//!
//! The redb store needs no rotation: its key file holds one random key per stored note, so a copy
//! of it opens only the notes stored when it was taken, and each is erased at its reveal.
//!
//! ```no_run
//! use std::path::Path;
//!
//! let url = "postgres://paravoid@localhost/paravoid".parse()?;
//! let rotation = paravoid::rotate_store_key(
//!     &url,
//!     Path::new("/etc/paravoid/store.key"),
//!     Path::new("/etc/paravoid/store.key.new"),
//! )?;
//! println!("{} notes re-sealed", rotation.resealed);
//! # Ok::<(), paravoid::Error>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::SystemClock;
use crate::store::StoreUrl;
use crate::store::postgres::rotation;
pub use crate::store::postgres::rotation::Rotation;

/// Rotates the store key of the PostgreSQL database at `url` (module docs): reads the current
/// key file `key_file`, writes the new one to `out` and re-seals the notes of the hours it takes
/// over. Every instance must be stopped: the rotation waits five seconds for their connections
/// (those with `application_name` `paravoid`, the default) to close, then refuses.
///
/// # Errors
///
/// [`Error::Config`](crate::Error::Config) if the key file is missing, malformed or not the one
/// the database was first used with ([`ConfigError::StoreKeyMismatch`](crate::ConfigError)), if
/// it already holds a rotation that has not taken effect, if `out` exists, or if instances are
/// still connected; [`Error::Unavailable`](crate::Error::Unavailable) if PostgreSQL cannot be
/// reached. On any error the database is unchanged and `out` is not left behind.
pub fn rotate_store_key(url: &StoreUrl, key_file: &Path, out: &Path) -> crate::Result<Rotation> {
    rotation::rotate(url.expose(), key_file, out, Arc::new(SystemClock::new()))
}

/// The command line of `paravoid store-key`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "paravoid store-key",
    bin_name = "paravoid store-key",
    about = "Manage the PostgreSQL store key file"
)]
#[non_exhaustive]
pub struct StoreKeyCommand {
    /// What to do.
    #[command(subcommand)]
    pub action: StoreKeyAction,
}

/// A `paravoid store-key` subcommand.
#[derive(Debug, clap::Subcommand)]
#[non_exhaustive]
pub enum StoreKeyAction {
    /// Write a new store key file whose later hour keys the old one cannot derive, and re-seal
    /// the stored notes under it. Stop every instance first.
    Rotate {
        /// The PostgreSQL database (`postgres://…`).
        #[arg(long, env = "PARAVOID_STORE")]
        store: StoreUrl,
        /// The current store key file.
        #[arg(long, env = "PARAVOID_STORE_KEY")]
        store_key: PathBuf,
        /// Where to write the new store key file (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
}

impl StoreKeyCommand {
    /// Runs the command, printing what it did.
    ///
    /// # Errors
    ///
    /// As [`rotate_store_key`].
    pub fn run(&self) -> crate::Result<()> {
        match &self.action {
            StoreKeyAction::Rotate {
                store,
                store_key,
                out,
            } => {
                let rotation = rotate_store_key(store, store_key, out)?;
                println!(
                    "wrote {}: notes expiring from Unix time {} on are sealed under its new keys \
                     ({} re-sealed, {} failing their authentication left to be destroyed).\n\
                     Copy it to every instance's --store-key, destroy every copy of the old file, \
                     then start the instances.",
                    out.display(),
                    rotation.new_keys_from,
                    rotation.resealed,
                    rotation.skipped,
                );
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[test]
    fn the_rotate_command_line_parses_and_refuses_what_it_must() {
        let parse = |args: &[&str]| {
            StoreKeyCommand::try_parse_from(
                std::iter::once("paravoid store-key").chain(args.iter().copied()),
            )
        };
        let command = parse(&[
            "rotate",
            "--store",
            "postgres://paravoid@localhost/paravoid",
            "--store-key",
            "old.key",
            "--out",
            "new.key",
        ])
        .unwrap();
        assert!(
            !format!("{command:?}").contains("localhost"),
            "the URL is never printed"
        );
        let StoreKeyAction::Rotate { store_key, out, .. } = command.action;
        assert_eq!(
            (store_key.as_path(), out.as_path()),
            (Path::new("old.key"), Path::new("new.key"))
        );
        for refused in [
            &[
                "rotate",
                "--store",
                "postgres://h/db",
                "--store-key",
                "old.key",
            ][..],
            &[
                "rotate",
                "--store",
                "mysql://h/db",
                "--store-key",
                "a",
                "--out",
                "b",
            ],
            &["rekey"],
        ] {
            assert!(parse(refused).is_err(), "{refused:?}");
        }
    }
}
