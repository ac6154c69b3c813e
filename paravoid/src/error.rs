//! The service's error type and its HTTP form: `{"error": "<message>"}` with a 4xx or 500 status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::path::PathBuf;

/// A `Result` whose error defaults to the paravoid [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// The message of every "no such note" answer: unknown, expired, already read and malformed ids
/// all get exactly this, so an answer never tells them apart.
pub const NOT_FOUND_MESSAGE: &str = "not found";

/// Everything a request or the server's start-up can fail with.
///
/// Each variant maps to one HTTP status ([`Error::status_code`]). Messages never contain request
/// data: no secret, no key, no echo of the body — only names of fields and limits.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not syntactically valid JSON (400).
    #[error("request body is not valid JSON")]
    InvalidJson,

    /// The body could not be read from the connection (400).
    #[error("could not read the request body")]
    UnreadableBody,

    /// The request has no `Content-Type: application/json` (415).
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,

    /// The body is larger than the server accepts (413).
    #[error("request body too large")]
    BodyTooLarge,

    /// The message is longer than `--max-message-bytes` (413).
    #[error("message too large: at most {max} bytes")]
    MessageTooLarge {
        /// The configured limit in bytes.
        max: usize,
    },

    /// A file upload is larger than `--max-file-bytes` allows once sealed (413). Nothing of it
    /// is kept.
    #[error("file too large: at most {max} bytes")]
    FileTooLarge {
        /// The configured limit in bytes (of the file before sealing).
        max: u64,
    },

    /// Files are not supported by this server's store (501). Both stores keep files since the
    /// PostgreSQL store does; kept so that callers matching on it still build.
    #[error("files are not supported by this server's store")]
    FilesUnsupported,

    /// Well-formed JSON that breaks the request schema: a field missing, of the wrong type,
    /// unknown, or out of range (422). The message names the field, never its value.
    #[error("{0}")]
    Unprocessable(String),

    /// No note with this id: unknown, expired, already read, or not a UUID at all (404).
    #[error("not found")]
    NotFound,

    /// The request for a secret has expired: it takes no response (410).
    #[error("this request has expired")]
    RequestExpired,

    /// The request for a secret already has its one response (409). Nothing is changed.
    #[error("this request has already been answered")]
    AlreadyAnswered,

    /// The link keys do not open this note (403). Nothing is changed.
    #[error("wrong link keys")]
    WrongKeys,

    /// The note needs a passphrase and none was given (403). Not counted as an attempt.
    #[error("this note needs a passphrase")]
    PassphraseRequired,

    /// The link keys are right but the passphrase is wrong (403). The failed attempt has been
    /// recorded durably; at zero attempts left the note has been destroyed.
    #[error("wrong passphrase")]
    WrongPassphrase {
        /// Attempts left before the note is destroyed.
        attempts_left: u8,
    },

    /// The server is at its bound for passphrase stretching (Argon2id) work (503,
    /// `Retry-After`). No attempt was counted.
    #[error("server busy; retry later")]
    Overloaded,

    /// The store holds as many notes as it may (`--max-notes`): nothing was stored (507,
    /// `Retry-After`). Notes leave as they are read or expire.
    #[error("the server is full; retry later")]
    StoreFull,

    /// This client sent too many requests (429, `Retry-After`).
    #[error("too many requests; retry later")]
    RateLimited {
        /// Seconds after which a request will be accepted again.
        retry_after_secs: u64,
    },

    /// The configuration is inconsistent, or names a store key file that is missing, malformed
    /// or not the database's (start-up only).
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),

    /// The database failed (500). The backend's error is kept as the source, for the log.
    #[error("storage error: {0}")]
    Storage(#[source] StorageError),

    /// PostgreSQL cannot be reached right now: no connection could be had from the pool in time,
    /// or the connection broke (PostgreSQL restarting, network down) (503). Retrying later can
    /// succeed; paravoid reconnects by itself.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// A stored record does not decode or does not open under its key: the database (or its key
    /// file) was damaged or edited (500). Nothing is handed out.
    #[error("a stored record is corrupt")]
    CorruptRecord,

    /// The redb key file (the per-note keys) cannot be read or written (500): the disk is
    /// failing or full.
    #[error("the key file failed: {0}")]
    KeyFile(#[source] std::io::Error),

    /// The redb writer thread has stopped (500; `/healthz` answers 503): restart the process.
    #[error("the database writer has stopped")]
    WriterStopped,

    /// The write transaction this request was part of did not commit (500): nothing it did is
    /// durable; retrying can succeed.
    #[error("the database transaction failed")]
    TransactionFailed,

    /// A new note drew the id of a stored one (500; nothing was written): retrying draws another.
    #[error("note id collision")]
    IdCollision,

    /// A note's expiry falls in an hour whose PostgreSQL sealing key this instance has already
    /// erased (500): its clock is far behind the database's.
    #[error("the note's expiry hour has ended for this instance's store key")]
    EpochEnded,

    /// Something that cannot happen with a correct server did (500); the detail is only logged.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// The error of a database backend, kept opaque so the public [`Error`] does not depend on the
/// backends' crates. Its `Display` and `source` are the backend's.
#[derive(Debug)]
pub struct StorageError(Box<dyn std::error::Error + Send + Sync>);

impl StorageError {
    /// Wraps a backend error.
    pub(crate) fn new(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(err))
    }

    /// A PostgreSQL error by its severity, message and SQLSTATE only: its detail, hint and
    /// context may quote a row (a note id, sealed bytes), and these errors are logged.
    pub(crate) fn postgres(err: &tokio_postgres::Error) -> Self {
        let text = match err.as_db_error() {
            Some(db) => format!(
                "{}: {} (SQLSTATE {})",
                db.severity(),
                db.message(),
                db.code().code()
            ),
            None => err.to_string(),
        };
        Self(text.into())
    }
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl Error {
    /// The HTTP status this error is answered with.
    #[must_use]
    pub const fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidJson | Self::UnreadableBody => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BodyTooLarge | Self::MessageTooLarge { .. } | Self::FileTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::FilesUnsupported => StatusCode::NOT_IMPLEMENTED,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::RequestExpired => StatusCode::GONE,
            Self::AlreadyAnswered => StatusCode::CONFLICT,
            Self::WrongKeys | Self::PassphraseRequired | Self::WrongPassphrase { .. } => {
                StatusCode::FORBIDDEN
            }
            Self::Overloaded | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::StoreFull => StatusCode::INSUFFICIENT_STORAGE,
            Self::Config(_)
            | Self::Storage(_)
            | Self::CorruptRecord
            | Self::KeyFile(_)
            | Self::WriterStopped
            | Self::TransactionFailed
            | Self::IdCollision
            | Self::EpochEnded
            | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `Retry-After` seconds this error is answered with, if any.
    #[must_use]
    pub const fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Overloaded | Self::Unavailable(_) => Some(1),
            Self::StoreFull => Some(60),
            Self::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// Whether this error answers the request rather than reporting a failure: the request was
    /// served and refused (absent, wrong keys or passphrase, full store, …). A store commits what
    /// it wrote before such an answer (a counted try, an expired note deleted); it rolls back
    /// before any other error.
    pub(crate) const fn is_answer(&self) -> bool {
        matches!(
            self,
            Self::NotFound
                | Self::RequestExpired
                | Self::AlreadyAnswered
                | Self::WrongKeys
                | Self::PassphraseRequired
                | Self::WrongPassphrase { .. }
                | Self::StoreFull
                | Self::IdCollision
        )
    }

    /// A 422 error with a fixed message.
    pub(crate) fn unprocessable(message: &str) -> Self {
        Self::Unprocessable(message.to_owned())
    }
}

/// What is wrong with a configuration ([`Error::Config`]); each names the flag to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A numeric flag is outside its range.
    #[error("{flag} must be between {min} and {max}")]
    OutOfRange {
        /// The flag, without dashes.
        flag: &'static str,
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
    },
    /// `metrics-bind` equals `bind`.
    #[error("metrics-bind must differ from bind: metrics stay off the public listener")]
    MetricsOnPublicListener,
    /// `--store` without `--store-key`.
    #[error("--store needs --store-key")]
    StoreNeedsKey,
    /// Only one of `--tls-cert` and `--tls-key`.
    #[error("tls-cert and tls-key go together")]
    TlsHalfPair,
    /// A `--store` value that is not a PostgreSQL URL.
    #[error("--store must be a postgres:// or postgresql:// URL")]
    StoreUrl,
    /// A `--store` value PostgreSQL's client does not parse (never repeated: it may hold a
    /// password).
    #[error("the PostgreSQL connection string does not parse")]
    ConnectionString,
    /// The store key file is missing or malformed.
    #[error(
        "the store key file {path} must exist and hold 32 random bytes (the same file for every instance)"
    )]
    StoreKeyFile {
        /// The file.
        path: PathBuf,
    },
    /// The store key file is not the one the database was first used with.
    #[error("the store key file differs from the one this database was used with")]
    StoreKeyMismatch,
    /// The store key file already holds a rotation whose first hour has not passed.
    #[error(
        "the store key file holds a rotation still pending: rotate again after its first hour has passed"
    )]
    RotationPending,
    /// The file a store key rotation would write already exists.
    #[error("the new store key file {path} must not exist yet")]
    RotationTarget {
        /// The file.
        path: PathBuf,
    },
    /// Paravoid instances are connected to the database a store key rotation would change.
    #[error(
        "stop every paravoid instance before rotating the store key ({connected} still connected)"
    )]
    InstancesRunning {
        /// How many of their connections are open.
        connected: i64,
    },
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts_left: Option<u8>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let message = if matches!(self, Self::Unavailable(_)) {
            tracing::warn!(error = %self, source = ?std::error::Error::source(&self), "request failed");
            self.to_string()
        } else if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "request failed");
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        let retry_after = self.retry_after_secs();
        let attempts_left = match self {
            Self::WrongPassphrase { attempts_left } => Some(attempts_left),
            _ => None,
        };
        let body = ErrorBody {
            error: &message,
            attempts_left,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<tokio_postgres::Error> for Error {
    /// A broken or refused connection, or PostgreSQL shutting down, is [`Error::Unavailable`];
    /// any other error of a statement is [`Error::Storage`].
    fn from(err: tokio_postgres::Error) -> Self {
        let redacted = StorageError::postgres(&err);
        if is_connection_failure(&err) {
            Self::Unavailable(Box::new(redacted))
        } else {
            Self::Storage(redacted)
        }
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    /// Errors of the connection itself are classified as in `From<tokio_postgres::Error>`; a
    /// pool that could not hand out a connection in time is [`Error::Unavailable`].
    fn from(err: deadpool_postgres::PoolError) -> Self {
        match err {
            deadpool_postgres::PoolError::Backend(err) => err.into(),
            other => Self::Unavailable(Box::new(other)),
        }
    }
}

/// Whether `err` means "PostgreSQL cannot be reached" rather than "this statement failed": the
/// connection is closed, an I/O error broke it, or the server reports a connection exception
/// (SQLSTATE class 08), a shutdown (57P01–57P03) or too many connections (53300).
fn is_connection_failure(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300");
    }
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        if inner.is::<std::io::Error>() {
            return true;
        }
        source = inner.source();
    }
    false
}

macro_rules! storage_errors {
    ($($source:ty),* $(,)?) => {$(
        impl From<$source> for Error {
            fn from(err: $source) -> Self {
                Self::Storage(StorageError::new(redb::Error::from(err)))
            }
        }
    )*};
}

storage_errors!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let cases = [
            (Error::InvalidJson, 400),
            (Error::UnreadableBody, 400),
            (Error::UnsupportedMediaType, 415),
            (Error::BodyTooLarge, 413),
            (Error::MessageTooLarge { max: 1 }, 413),
            (Error::unprocessable("x"), 422),
            (Error::NotFound, 404),
            (Error::WrongKeys, 403),
            (Error::PassphraseRequired, 403),
            (Error::WrongPassphrase { attempts_left: 2 }, 403),
            (Error::Overloaded, 503),
            (Error::Unavailable("x".into()), 503),
            (
                Error::RateLimited {
                    retry_after_secs: 2,
                },
                429,
            ),
            (Error::Internal("x"), 500),
            (Error::CorruptRecord, 500),
            (Error::WriterStopped, 500),
            (Error::StoreFull, 507),
            (Error::Config(ConfigError::StoreNeedsKey), 500),
        ];
        for (err, status) in cases {
            assert_eq!(err.status_code().as_u16(), status, "{err:?}");
        }
    }

    #[test]
    fn server_errors_hide_their_detail() {
        let response = Error::Internal("detail that must not leak").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn busy_answers_say_when_to_retry() {
        let response = Error::Overloaded.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let response = Error::RateLimited {
            retry_after_secs: 7,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        let response = Error::NotFound.into_response();
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }
}
