//! Time on PostgreSQL is the database's: several instances share the notes, so none of their
//! clocks may decide when a note expires.
//!
//! Every decision reads the database's clock in the statement that fetches what it decides on
//! ([`NOW_SQL`], the start of that statement): a peek or a reveal selects it beside the row, the
//! sweeper reads it once per sweep and deletes by it, a create reads it to compute the expiry it
//! seals, and the store key file is advanced (its old hour keys erased) by it. An instance whose
//! clock is minutes off therefore neither deletes live notes nor keeps expired ones, its sweeper
//! deletes what every other instance's would, and all instances seal and erase the same hour
//! keys.
//!
//! A [`Clock`] moved by hand ([`Clock::is_manual`]) stands in for the database's clock, so that
//! tests move time alike on redb and PostgreSQL.

use std::sync::Arc;

use tokio_postgres::GenericClient;

use super::schema::from_db_time;
use crate::Result;
use crate::clock::Clock;

/// The database's clock, in whole Unix seconds, as an SQL expression: the start of the current
/// statement.
pub(super) const NOW_SQL: &str = "floor(extract(epoch FROM statement_timestamp()))::bigint";

/// Where the PostgreSQL store reads the time.
#[derive(Clone, Debug)]
pub(super) struct DbClock {
    /// A clock moved by hand, standing in for the database's; `None`: the database's own.
    manual: Option<Arc<dyn Clock>>,
}

impl DbClock {
    /// The database's clock, or `clock` if it is moved by hand. An instance's own clock is
    /// never used.
    pub(super) fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            manual: clock.is_manual().then_some(clock),
        }
    }

    /// The time a decision takes, given the database's clock `db_now` read with [`NOW_SQL`] in
    /// its statement.
    ///
    /// # Errors
    ///
    /// [`Error::CorruptRecord`](crate::Error::CorruptRecord) if the database's clock stands
    /// before 1970.
    pub(super) fn now(&self, db_now: i64) -> Result<u64> {
        match &self.manual {
            Some(clock) => Ok(clock.now_unix()),
            None => from_db_time(db_now),
        }
    }

    /// Reads the time with a statement of its own on `client`.
    pub(super) async fn read(&self, client: &impl GenericClient) -> Result<u64> {
        let db_now = match &self.manual {
            Some(_) => 0,
            None => client
                .query_one(&format!("SELECT {NOW_SQL}"), &[])
                .await?
                .try_get(0)?,
        };
        self.now(db_now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualClock, SystemClock};

    #[test]
    fn only_a_manual_clock_replaces_the_database_clock() {
        let database = DbClock::new(Arc::new(SystemClock::new()));
        assert_eq!(database.now(1_234).unwrap(), 1_234);
        assert!(database.now(-1).is_err());
        let manual = DbClock::new(Arc::new(ManualClock::new(77)));
        assert_eq!(manual.now(1_234).unwrap(), 77);
    }
}
