//! Group commit: one writer thread runs queued jobs in shared write transactions, one fsync per
//! batch, and answers each job only after its batch has committed.
//!
//! Jobs of a batch run one after another inside the same transaction, each seeing the changes of
//! the jobs before it, exactly as if each had its own transaction in the same order. A job must
//! not write anything unless it also wants its changes committed: "change nothing" is expressed
//! by returning without writing (there is no per-job rollback). If a job meets a storage error, or
//! the commit fails, the whole batch is aborted and every job of it is answered with an error, so
//! nothing is ever answered as done that is not durable.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use redb::{Database, WriteTransaction};

use crate::{Error, Result};

/// Most jobs in one transaction: bounds the latency a batch adds to its first job.
const MAX_BATCH: usize = 128;

/// The writer thread and the queue to it. Dropping the last handle stops and joins the thread.
#[derive(Debug)]
pub(super) struct GroupCommit {
    queue: Option<Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    /// Starts the writer thread on `db`.
    pub(super) fn start(db: Arc<Database>) -> Result<Self> {
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>();
        let thread = std::thread::Builder::new()
            .name("paravoid-writer".to_owned())
            .spawn(move || write_loop(&db, &jobs))
            .map_err(|_| Error::Internal("cannot start the writer thread"))?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Runs `work` in the next batch's write transaction and returns its value once the batch
    /// has committed. Blocks the calling thread until then.
    ///
    /// `work` returns `Err` only for storage failures, which abort the batch.
    pub(super) fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Box::new(Pending {
            work: Some(work),
            value: None,
            reply,
        });
        self.queue
            .as_ref()
            .ok_or(Error::Internal("the writer has stopped"))?
            .send(job)
            .map_err(|_| Error::Internal("the writer has stopped"))?;
        answer
            .recv()
            .map_err(|_| Error::Internal("the writer has stopped"))?
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        // Closing the queue ends the loop after the jobs already queued.
        drop(self.queue.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the writer thread panicked");
        }
    }
}

/// A queued unit of work, type-erased.
trait Job: Send {
    /// Runs the work in `txn`; `false` if it met a storage failure.
    fn apply(&mut self, txn: &WriteTransaction) -> bool;
    /// Answers the caller: the work's value if the batch committed, an error otherwise.
    fn finish(self: Box<Self>, committed: bool);
}

/// A job with its typed result and reply channel.
struct Pending<T, F> {
    work: Option<F>,
    value: Option<T>,
    reply: SyncSender<Result<T>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&WriteTransaction) -> Result<T> + Send,
{
    fn apply(&mut self, txn: &WriteTransaction) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        match work(txn) {
            Ok(value) => {
                self.value = Some(value);
                true
            }
            Err(err) => {
                tracing::error!(error = %err, "a write job failed; aborting its batch");
                false
            }
        }
    }

    fn finish(self: Box<Self>, committed: bool) {
        let answer = match (committed, self.value) {
            (true, Some(value)) => Ok(value),
            _ => Err(Error::Internal("the database transaction failed")),
        };
        // The caller may have gone (its request timed out); the work is done either way.
        let _ignored = self.reply.send(answer);
    }
}

/// Takes whatever is queued (up to [`MAX_BATCH`]) and commits it as one transaction, until the
/// queue closes.
fn write_loop(db: &Database, jobs: &Receiver<Box<dyn Job>>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(db, batch);
    }
}

/// Runs one batch: apply every job in order, commit once, then answer all.
fn run_batch(db: &Database, mut batch: Vec<Box<dyn Job>>) {
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(err) => {
            tracing::error!(error = %err, "cannot begin a write transaction");
            batch.into_iter().for_each(|job| job.finish(false));
            return;
        }
    };
    let applied = batch.iter_mut().all(|job| job.apply(&txn));
    let committed = if applied {
        match txn.commit() {
            Ok(()) => true,
            Err(err) => {
                tracing::error!(error = %err, "a batch commit failed");
                false
            }
        }
    } else {
        if let Err(err) = txn.abort() {
            tracing::error!(error = %err, "aborting a failed batch failed");
        }
        false
    };
    batch.into_iter().for_each(|job| job.finish(committed));
}

#[cfg(test)]
mod tests {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};

    use super::*;

    const TABLE: TableDefinition<'_, u64, u64> = TableDefinition::new("test");

    /// A job and the receiving end of its answer.
    fn job<T, F>(work: F) -> (Box<dyn Job>, Receiver<Result<T>>)
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Box::new(Pending {
            work: Some(work),
            value: None,
            reply,
        });
        (job, answer)
    }

    fn insert(key: u64) -> impl FnOnce(&WriteTransaction) -> Result<()> + Send + 'static {
        move |txn| {
            txn.open_table(TABLE)?.insert(key, key * 10)?;
            Ok(())
        }
    }

    fn stored(db: &Database, key: u64) -> Option<u64> {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(TABLE).ok()?;
        table.get(key).unwrap().map(|v| v.value())
    }

    #[test]
    fn jobs_of_a_batch_see_each_other_and_commit_together() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("db.redb")).unwrap();
        let (first, first_answer) = job(insert(1));
        let (second, second_answer) = job(|txn: &WriteTransaction| {
            let table = txn.open_table(TABLE)?;
            Ok(table.get(1)?.map(|v| v.value()))
        });
        run_batch(&db, vec![first, second]);
        first_answer.recv().unwrap().unwrap();
        assert_eq!(second_answer.recv().unwrap().unwrap(), Some(10));
        assert_eq!(stored(&db, 1), Some(10));
    }

    #[test]
    fn a_failing_job_aborts_its_whole_batch() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("db.redb")).unwrap();
        let (first, first_answer) = job(insert(1));
        let (failing, failing_answer) =
            job(|_: &WriteTransaction| -> Result<()> { Err(Error::Internal("storage failed")) });
        let (after, after_answer) = job(insert(2));
        run_batch(&db, vec![first, failing, after]);
        assert!(first_answer.recv().unwrap().is_err());
        assert!(failing_answer.recv().unwrap().is_err());
        assert!(after_answer.recv().unwrap().is_err());
        assert_eq!(stored(&db, 1), None);
        assert_eq!(stored(&db, 2), None);
    }

    #[test]
    fn concurrent_callers_are_all_answered_after_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let db = Arc::new(Database::create(&path).unwrap());
        let writer = Arc::new(GroupCommit::start(db.clone()).unwrap());
        let threads: Vec<_> = (0..32u64)
            .map(|key| {
                let (writer, db) = (writer.clone(), db.clone());
                std::thread::spawn(move || {
                    writer.run(insert(key)).unwrap();
                    // Answered means committed: a fresh read transaction sees it.
                    assert_eq!(stored(&db, key), Some(key * 10));
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(writer);
        drop(db);
        // The writer thread has released the database: it can be opened again.
        let db = Database::open(&path).unwrap();
        assert_eq!(stored(&db, 31), Some(310));
    }
}
