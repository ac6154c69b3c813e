//! The plugin's error type and the mapping of errors to the errno values NBD clients see.

use std::error::Error as StdError;
use std::io;
use std::path::PathBuf;

use qsmm_volume::Error as VolumeError;

/// Errors of the plugin's configuration and of serving a volume.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter the plugin does not know.
    #[error(
        "unknown parameter `{0}` (expected medium, passphrase-file, passphrase-fd, protect, commit-interval or tick-rate)"
    )]
    UnknownKey(String),
    /// `medium` was given twice.
    #[error("`medium` given more than once")]
    DuplicateMedium,
    /// A required parameter is missing (or empty).
    #[error("missing parameter `{0}`")]
    MissingParameter(&'static str),
    /// `passphrase-fd` or `commit-interval` was given twice.
    #[error("`{0}` given more than once")]
    DuplicateParameter(&'static str),
    /// A parameter's value is not a number in its range.
    #[error("invalid value for `{0}`")]
    InvalidValue(&'static str),
    /// A passphrase file could not be read, or holds no passphrase or too long a one.
    #[error(transparent)]
    Passphrase(#[from] qsmm_volume::PassphraseError),
    /// The descriptor of `passphrase-fd` could not be opened or read.
    #[error("cannot read passphrases from file descriptor {fd}")]
    PassphraseFd {
        /// The descriptor.
        fd: u32,
        /// Why it could not be read.
        #[source]
        source: io::Error,
    },
    /// A passphrase stream ends inside a record.
    #[error("the passphrase stream is cut short")]
    BadPassphraseStream,
    /// More volumes than one server opens.
    #[error("more than {max} volumes")]
    TooManyVolumes {
        /// The largest accepted number.
        max: usize,
    },
    /// A volume could not be opened, for instance because no volume on the medium opens with
    /// that passphrase. The message never includes the passphrase.
    #[error(
        "cannot open {role} volume {index} (wrong passphrase, or not a volume of this medium?)"
    )]
    OpenVolume {
        /// `"exported"` or `"protected"`.
        role: &'static str,
        /// Its position among the `passphrase-file` (or `protect`) parameters, from 0.
        index: usize,
        /// The volume layer's error.
        #[source]
        source: VolumeError,
    },
    /// The medium could not be opened (missing, not formatted, or in use by another process).
    #[error("cannot open medium {}", path.display())]
    OpenMedium {
        /// The medium.
        path: PathBuf,
        /// The volume layer's error.
        #[source]
        source: VolumeError,
    },
    /// A client asked for an export name the server does not have.
    #[error("no export named {0:?} (exports are \"\" and \"0\", \"1\", …)")]
    NoSuchExport(String),
    /// A request before the volumes were opened or after they were closed.
    #[error("the volumes are not open")]
    NotReady,
    /// The volume layer failed during I/O.
    #[error("volume I/O failed")]
    Volume(#[from] VolumeError),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The errno that nbdkit reports to the client for this error (which NBD maps to its own
    /// error codes: `EIO`, `EINVAL`, `ENOSPC`, `EPERM`, `ENOMEM`, …).
    ///
    /// An error with an [`io::Error`] in its source chain reports that error's errno; a full
    /// medium reports `ENOSPC`; an out-of-range request `EINVAL`; a missing export `ENOENT`;
    /// everything else `EIO`.
    #[must_use]
    pub fn errno(&self) -> i32 {
        match self {
            Self::UnknownKey(_)
            | Self::DuplicateMedium
            | Self::MissingParameter(_)
            | Self::DuplicateParameter(_)
            | Self::InvalidValue(_)
            | Self::BadPassphraseStream
            | Self::Passphrase(_)
            | Self::TooManyVolumes { .. } => libc::EINVAL,
            Self::NoSuchExport(_) => libc::ENOENT,
            Self::NotReady => libc::ESHUTDOWN,
            Self::PassphraseFd { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
            Self::OpenVolume { source, .. }
            | Self::OpenMedium { source, .. }
            | Self::Volume(source) => volume_errno(source),
        }
    }
}

impl From<Error> for nbdkit::Error {
    fn from(error: Error) -> Self {
        let errno = error.errno();
        Self::new(errno, Report(error).to_string())
    }
}

/// The errno for a volume-layer error: `ENOSPC` for a full medium, `EINVAL` for an access outside
/// the volume or a bad parameter, `EBUSY` for a medium locked by another process, `ENOENT` when no
/// volume opens with a passphrase, the errno of an I/O error, and `EIO` for everything else
/// (integrity failures included).
#[must_use]
pub fn volume_errno(error: &VolumeError) -> i32 {
    match error {
        VolumeError::NoSpace => libc::ENOSPC,
        VolumeError::OutOfRange { .. }
        | VolumeError::InvalidParameter(_)
        | VolumeError::InvalidVolumeSize { .. }
        | VolumeError::InvalidMediumSize { .. } => libc::EINVAL,
        VolumeError::Locked => libc::EBUSY,
        VolumeError::NoVolume => libc::ENOENT,
        VolumeError::Io(io) => io.raw_os_error().unwrap_or(libc::EIO),
        _ => libc::EIO,
    }
}

/// An error with its source chain on one line, for nbdkit's log.
#[derive(Debug)]
pub(crate) struct Report<E>(pub(crate) E);

impl<E: StdError> std::fmt::Display for Report<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(source) = next {
            write!(f, ": {source}")?;
            next = source.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_errors_are_einval() {
        assert_eq!(Error::DuplicateMedium.errno(), libc::EINVAL);
        assert_eq!(Error::MissingParameter("medium").errno(), libc::EINVAL);
        assert_eq!(Error::UnknownKey("x".into()).errno(), libc::EINVAL);
        assert_eq!(Error::NoSuchExport("7".into()).errno(), libc::ENOENT);
        assert_eq!(Error::NotReady.errno(), libc::ESHUTDOWN);
    }

    #[test]
    fn io_errors_keep_their_errno() {
        let missing = Error::PassphraseFd {
            fd: 3,
            source: io::Error::from_raw_os_error(libc::EACCES),
        };
        assert_eq!(missing.errno(), libc::EACCES);
        let kind_only = Error::PassphraseFd {
            fd: 3,
            source: io::Error::other("no errno"),
        };
        assert_eq!(kind_only.errno(), libc::EIO);
    }

    #[test]
    fn volume_errors_map_to_their_class() {
        assert_eq!(volume_errno(&VolumeError::NoSpace), libc::ENOSPC);
        assert_eq!(
            volume_errno(&VolumeError::OutOfRange { offset: 0, len: 1 }),
            libc::EINVAL
        );
        assert_eq!(volume_errno(&VolumeError::Locked), libc::EBUSY);
        assert_eq!(volume_errno(&VolumeError::NoVolume), libc::ENOENT);
        assert_eq!(volume_errno(&VolumeError::Integrity), libc::EIO);
        let io = VolumeError::Io(io::Error::from_raw_os_error(libc::EROFS));
        assert_eq!(volume_errno(&io), libc::EROFS);
        assert_eq!(Error::Volume(io).errno(), libc::EROFS);
        let no_errno = VolumeError::Io(io::Error::other("no errno"));
        assert_eq!(volume_errno(&no_errno), libc::EIO);
        let open = Error::OpenVolume {
            role: "exported",
            index: 0,
            source: VolumeError::NoVolume,
        };
        assert_eq!(open.errno(), libc::ENOENT);
    }

    #[test]
    fn report_shows_the_source_chain() {
        let error = Error::Passphrase(qsmm_volume::PassphraseError::Read {
            path: "pw".into(),
            source: io::Error::from_raw_os_error(libc::ENOENT),
        });
        let shown = Report(&error).to_string();
        assert!(
            shown.starts_with("cannot read passphrase file pw: "),
            "{shown}"
        );
        assert!(shown.contains("No such file"), "{shown}");
    }
}
