//! Group commit: one writer thread runs queued jobs in shared write transactions, one fsync per
//! batch, and answers each job only after its batch has committed and the key slots it freed
//! have been overwritten and synced.
//!
//! Jobs of a batch run one after another inside the same transaction, each seeing the changes of
//! the jobs before it, exactly as if each had its own transaction in the same order. A job must
//! not write anything unless it also wants its changes committed: "change nothing" is expressed
//! by returning without writing.
//!
//! A job returns one flat `Result`. An error that is an answer to the request
//! ([`Error::is_answer`]: not found, wrong keys, a wrong passphrase whose try the job counted, a
//! full store, …) commits whatever the job wrote, like a value, and is answered after the
//! commit. Any other error (a storage error, a corrupt record) or a panic fails the job
//! **alone**: the transaction is aborted, the failing job is answered with its error, and the
//! other jobs of the batch run again in a fresh transaction. This is why a job is `FnMut` and must not have effects
//! outside the [`Batch`] it is given. Only a failed commit (or key-slot write) fails the whole
//! batch, so nothing is ever answered as done that is not durable.
//!
//! If the writer thread itself stops (a panic outside any job), [`GroupCommit::is_alive`] turns
//! `false` and [`GroupCommit::stopped`] completes, so the server can report itself unhealthy and
//! exit for its supervisor to restart it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{Database, WriteTransaction};
use tokio::sync::watch;

use super::key_slots::{KeySlots, SlotIndex};
use crate::metrics::Metrics;
use crate::store::envelope::RecordKey;
use crate::{Error, Result};

/// Most jobs in one transaction: bounds the latency a batch adds to its first job.
const MAX_BATCH: usize = 128;

/// What one job sees of its batch: the write transaction and the key slots.
pub(crate) struct Batch<'a> {
    txn: &'a WriteTransaction,
    slots: &'a mut KeySlots,
    /// Slots taken in this attempt, with their fresh keys, written before the commit.
    new_keys: Vec<(SlotIndex, RecordKey)>,
    /// Slots whose records this attempt deletes, overwritten after the commit.
    shredded: Vec<SlotIndex>,
}

impl<'a> Batch<'a> {
    fn new(txn: &'a WriteTransaction, slots: &'a mut KeySlots) -> Self {
        Self {
            txn,
            slots,
            new_keys: Vec::new(),
            shredded: Vec::new(),
        }
    }

    /// The batch's write transaction.
    pub(crate) const fn txn(&self) -> &WriteTransaction {
        self.txn
    }

    /// Takes a free key slot and draws a fresh random key for it. The key reaches the slot file
    /// (synced) before the batch commits.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] if the operating system has no randomness.
    pub(crate) fn new_key(&mut self) -> Result<(SlotIndex, RecordKey)> {
        let key = RecordKey::random()?;
        let slot = self.slots.allocate();
        self.new_keys.push((slot, key.clone_key()));
        Ok((slot, key))
    }

    /// The key in `slot`, including one taken earlier in this batch.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] if the slot is out of range or already erased, or the file fails.
    pub(crate) fn key(&mut self, slot: SlotIndex) -> Result<RecordKey> {
        if let Some((_, key)) = self.new_keys.iter().find(|(taken, _)| *taken == slot) {
            return Ok(key.clone_key());
        }
        if self.shredded.contains(&slot) {
            return Err(Error::Internal("record key already erased"));
        }
        self.slots.read(slot)
    }

    /// Erases `slot` once the batch has committed: its key is overwritten with zeros and synced
    /// before any job of the batch is answered, then the slot is reused.
    pub(crate) fn shred(&mut self, slot: SlotIndex) {
        if let Some(position) = self.new_keys.iter().position(|(taken, _)| *taken == slot) {
            // Taken and dropped in the same batch: never written, so nothing to erase.
            self.new_keys.swap_remove(position);
            self.slots.release(slot);
        } else if !self.shredded.contains(&slot) {
            self.shredded.push(slot);
        }
    }

    /// Undoes this attempt's slot allocations (the transaction is being aborted).
    fn roll_back(self) {
        for (slot, _) in self.new_keys {
            self.slots.release(slot);
        }
    }
}

/// The writer thread and the queue to it. Dropping the last handle stops and joins the thread.
#[derive(Debug)]
pub(super) struct GroupCommit {
    queue: Option<Sender<Message>>,
    thread: Option<JoinHandle<()>>,
    alive: Arc<AtomicBool>,
    stopped: watch::Receiver<bool>,
    /// Test hook: milliseconds the writer sleeps before each batch.
    #[cfg_attr(
        not(any(test, feature = "test-hooks")),
        allow(dead_code, reason = "set only by the test hooks")
    )]
    delay_ms: Arc<AtomicU64>,
}

impl GroupCommit {
    /// Starts the writer thread on `db`, owning the key slots.
    pub(super) fn start(db: Arc<Database>, slots: KeySlots, metrics: Arc<Metrics>) -> Result<Self> {
        let (queue, jobs) = mpsc::channel::<Message>();
        let alive = Arc::new(AtomicBool::new(true));
        let (stop_tx, stopped) = watch::channel(false);
        let delay_ms = Arc::new(AtomicU64::new(0));
        let thread = {
            let (alive, delay_ms) = (alive.clone(), delay_ms.clone());
            std::thread::Builder::new()
                .name("paravoid-writer".to_owned())
                .spawn(move || {
                    let mut writer = Writer {
                        db: &db,
                        slots,
                        metrics: &metrics,
                        delay_ms: &delay_ms,
                    };
                    let outcome = catch_unwind(AssertUnwindSafe(|| writer.write_loop(&jobs)));
                    alive.store(false, Ordering::SeqCst);
                    if outcome.is_err() {
                        tracing::error!("the writer thread panicked; the store is unusable");
                    }
                    // Receivers may all be gone; the flag above is enough then.
                    let _ignored = stop_tx.send(true);
                })
                .map_err(|_| Error::Internal("cannot start the writer thread"))?
        };
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
            alive,
            stopped,
            delay_ms,
        })
    }

    /// Runs `work` in the next batch's write transaction and returns its value once the batch
    /// has committed (and the slots it shredded are erased). Blocks the calling thread until
    /// then.
    ///
    /// `work` may run more than once (if another job of its batch fails) and must have no
    /// effect outside the [`Batch`]. An error that [`Error::is_answer`] keeps its changes (they
    /// commit with the batch); any other error is a failure of its own (a storage error, a
    /// corrupt record): its changes are dropped and it alone is answered with the error.
    pub(super) fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut Batch<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Box::new(Pending {
            work,
            value: None,
            reply,
        });
        let stopped = || Error::WriterStopped;
        self.queue
            .as_ref()
            .ok_or_else(stopped)?
            .send(Message::Job(job))
            .map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }

    /// Whether the writer thread still runs.
    pub(super) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Completes once the writer thread has stopped.
    pub(super) async fn stopped(&self) {
        let mut stopped = self.stopped.clone();
        // An error means the thread is gone, which is what we wait for.
        let _ignored = stopped.wait_for(|stopped| *stopped).await;
    }

    /// Test hook: makes the writer sleep `delay` before each batch.
    #[cfg(any(test, feature = "test-hooks"))]
    pub(super) fn set_delay(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(millis, Ordering::SeqCst);
    }

    /// Test hook: stops the writer thread as a panic outside any job would.
    #[cfg(any(test, feature = "test-hooks"))]
    pub(super) fn crash(&self) {
        if let Some(queue) = &self.queue {
            // Already stopped if this fails.
            let _ignored = queue.send(Message::Crash);
        }
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

/// What the queue carries.
enum Message {
    /// A job to run in the next batch.
    Job(Box<dyn Job>),
    /// Test hook: stop the thread as if it had crashed.
    #[cfg_attr(
        not(any(test, feature = "test-hooks")),
        allow(dead_code, reason = "sent only by the test hooks")
    )]
    Crash,
}

/// A queued unit of work, type-erased.
trait Job: Send {
    /// Runs the work in `batch`; `false` if the job failed (its answer is then an error).
    fn apply(&mut self, batch: &mut Batch<'_>) -> bool;
    /// Answers the caller: the work's value if the batch committed, an error otherwise.
    fn finish(self: Box<Self>, committed: bool);
}

/// A job with its typed result and reply channel.
struct Pending<T, F> {
    work: F,
    value: Option<Outcome<T>>,
    reply: SyncSender<Result<T>>,
}

/// What a job's work returned.
enum Outcome<T> {
    /// A value or an answer: its changes commit with the batch.
    Done(Result<T>),
    /// A failure of its own: its changes were dropped.
    Failed(Error),
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnMut(&mut Batch<'_>) -> Result<T> + Send,
{
    fn apply(&mut self, batch: &mut Batch<'_>) -> bool {
        let outcome = catch_unwind(AssertUnwindSafe(|| (self.work)(batch)));
        let outcome = match outcome {
            Ok(Err(err)) if !err.is_answer() => {
                tracing::error!(error = %err, "a write job failed; running its batch without it");
                Outcome::Failed(err)
            }
            Ok(done) => Outcome::Done(done),
            Err(_) => {
                tracing::error!("a write job panicked; running its batch without it");
                Outcome::Failed(Error::Internal("a write job panicked"))
            }
        };
        let ok = matches!(outcome, Outcome::Done(_));
        self.value = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, committed: bool) {
        let answer = match (committed, self.value) {
            // A job that failed alone keeps its own error whatever the batch did.
            (_, Some(Outcome::Failed(err))) => Err(err),
            (true, Some(Outcome::Done(done))) => done,
            _ => Err(Error::TransactionFailed),
        };
        // Callers wait for their answer; if one has gone, the work is done either way.
        let _ignored = self.reply.send(answer);
    }
}

/// The state of the writer thread.
struct Writer<'a> {
    db: &'a Database,
    slots: KeySlots,
    metrics: &'a Metrics,
    delay_ms: &'a AtomicU64,
}

impl Writer<'_> {
    /// Takes whatever is queued (up to [`MAX_BATCH`]) and commits it as one transaction, until
    /// the queue closes.
    fn write_loop(&mut self, queue: &Receiver<Message>) {
        while let Ok(first) = queue.recv() {
            let Message::Job(first) = first else {
                return;
            };
            let mut batch = vec![first];
            let mut crash = false;
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(Message::Job(job)) => batch.push(job),
                    Ok(Message::Crash) => {
                        crash = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            let delay = self.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                std::thread::sleep(Duration::from_millis(delay));
            }
            if !self.run_batch(batch) || crash {
                return;
            }
        }
    }

    /// Runs one batch: apply every job in order (dropping any that fails and starting over
    /// without it), write new keys, commit once, erase shredded keys, then answer all.
    ///
    /// Returns `false` if the writer must stop: record keys of deleted records could not be
    /// erased, and only a restart (which erases every unreferenced slot) makes that good.
    fn run_batch(&mut self, mut jobs: Vec<Box<dyn Job>>) -> bool {
        self.metrics.observe_batch(jobs.len());
        loop {
            let txn = match self.db.begin_write() {
                Ok(txn) => txn,
                Err(err) => {
                    tracing::error!(error = %err, "cannot begin a write transaction");
                    jobs.into_iter().for_each(|job| job.finish(false));
                    return true;
                }
            };
            let mut batch = Batch::new(&txn, &mut self.slots);
            let failed = jobs.iter_mut().position(|job| !job.apply(&mut batch));
            if let Some(index) = failed {
                batch.roll_back();
                if let Err(err) = txn.abort() {
                    tracing::error!(error = %err, "aborting a transaction failed");
                }
                jobs.remove(index).finish(false);
                if jobs.is_empty() {
                    return true;
                }
                continue;
            }
            let Batch {
                new_keys, shredded, ..
            } = batch;
            let started = Instant::now();
            let committed = self.commit(txn, &new_keys);
            self.metrics.observe_commit(started.elapsed());
            if !committed {
                jobs.into_iter().for_each(|job| job.finish(false));
                return true;
            }
            if let Err(err) = self.slots.erase(&shredded) {
                // The records are gone but their keys may still be on disk: stop serving, so a
                // restart erases every unreferenced slot before anything is answered.
                tracing::error!(error = %err, "erasing record keys failed; stopping the writer");
                jobs.into_iter().for_each(|job| job.finish(false));
                return false;
            }
            jobs.into_iter().for_each(|job| job.finish(true));
            return true;
        }
    }

    /// Writes the batch's new keys (synced), then commits. On failure nothing is durable and
    /// the new slots are released.
    fn commit(&mut self, txn: WriteTransaction, new_keys: &[(SlotIndex, RecordKey)]) -> bool {
        let release = |slots: &mut KeySlots| {
            for (slot, _) in new_keys {
                slots.release(*slot);
            }
        };
        if let Err(err) = self.slots.write(new_keys) {
            tracing::error!(error = %err, "writing record keys failed");
            if let Err(err) = txn.abort() {
                tracing::error!(error = %err, "aborting a transaction failed");
            }
            release(&mut self.slots);
            return false;
        }
        match txn.commit() {
            Ok(()) => true,
            Err(err) => {
                tracing::error!(error = %err, "a batch commit failed");
                let taken: Vec<SlotIndex> = new_keys.iter().map(|(slot, _)| *slot).collect();
                // The keys are unreferenced: erase them now (or at the next start).
                if let Err(err) = self.slots.erase(&taken) {
                    tracing::error!(error = %err, "erasing unused record keys failed");
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};

    use super::*;

    const TABLE: TableDefinition<'_, u64, u64> = TableDefinition::new("test");

    fn start(dir: &std::path::Path) -> (Arc<Database>, GroupCommit) {
        let db = Arc::new(Database::create(dir.join("db.redb")).unwrap());
        let slots = KeySlots::open(&dir.join("db.keys"), &Default::default()).unwrap();
        let writer = GroupCommit::start(db.clone(), slots, Arc::new(Metrics::new())).unwrap();
        (db, writer)
    }

    fn writer_of(db: &Arc<Database>, dir: &std::path::Path) -> Writer<'static> {
        let db: &'static Database = Box::leak(Box::new(db.clone()));
        Writer {
            db,
            slots: KeySlots::open(&dir.join("db.keys"), &Default::default()).unwrap(),
            metrics: Box::leak(Box::new(Metrics::new())),
            delay_ms: Box::leak(Box::new(AtomicU64::new(0))),
        }
    }

    /// A job and the receiving end of its answer.
    fn job<T, F>(work: F) -> (Box<dyn Job>, Receiver<Result<T>>)
    where
        T: Send + 'static,
        F: FnMut(&mut Batch<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Box::new(Pending {
            work,
            value: None,
            reply,
        });
        (job, answer)
    }

    fn insert(key: u64) -> impl FnMut(&mut Batch<'_>) -> Result<()> + Send + 'static {
        move |batch| {
            batch.txn().open_table(TABLE)?.insert(key, key * 10)?;
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
        let db = Arc::new(Database::create(dir.path().join("db.redb")).unwrap());
        let mut writer = writer_of(&db, dir.path());
        let (first, first_answer) = job(insert(1));
        let (second, second_answer) = job(|batch: &mut Batch<'_>| {
            let table = batch.txn().open_table(TABLE)?;
            Ok(table.get(1)?.map(|v| v.value()))
        });
        writer.run_batch(vec![first, second]);
        first_answer.recv().unwrap().unwrap();
        assert_eq!(second_answer.recv().unwrap().unwrap(), Some(10));
        assert_eq!(stored(&db, 1), Some(10));
    }

    #[test]
    fn a_failing_or_panicking_job_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join("db.redb")).unwrap());
        let mut writer = writer_of(&db, dir.path());
        let (first, first_answer) = job(insert(1));
        let (failing, failing_answer) = job(|batch: &mut Batch<'_>| -> Result<()> {
            // Writes, then fails: its write must not survive.
            batch.txn().open_table(TABLE)?.insert(7, 70)?;
            Err(Error::Internal("corrupt record"))
        });
        let (panicking, panicking_answer) = job(|batch: &mut Batch<'_>| -> Result<()> {
            batch.txn().open_table(TABLE)?.insert(8, 80)?;
            panic!("a bug in a job");
        });
        let (after, after_answer) = job(insert(2));
        writer.run_batch(vec![first, failing, panicking, after]);
        assert!(first_answer.recv().unwrap().is_ok());
        assert!(failing_answer.recv().unwrap().is_err());
        assert!(panicking_answer.recv().unwrap().is_err());
        assert!(after_answer.recv().unwrap().is_ok());
        assert_eq!(stored(&db, 1), Some(10));
        assert_eq!(stored(&db, 2), Some(20));
        assert_eq!(stored(&db, 7), None);
        assert_eq!(stored(&db, 8), None);
    }

    /// An answer (here: a counted wrong passphrase) keeps what its job wrote; it is answered
    /// after the commit, and a failing job beside it does not undo it.
    #[test]
    fn an_answer_commits_what_its_job_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join("db.redb")).unwrap());
        let mut writer = writer_of(&db, dir.path());
        let (counted, counted_answer) = job(|batch: &mut Batch<'_>| -> Result<()> {
            batch.txn().open_table(TABLE)?.insert(5, 50)?;
            Err(Error::WrongPassphrase { attempts_left: 2 })
        });
        let (failing, failing_answer) =
            job(|_: &mut Batch<'_>| -> Result<()> { Err(Error::CorruptRecord) });
        writer.run_batch(vec![counted, failing]);
        assert!(matches!(
            counted_answer.recv().unwrap(),
            Err(Error::WrongPassphrase { attempts_left: 2 })
        ));
        assert!(matches!(
            failing_answer.recv().unwrap(),
            Err(Error::CorruptRecord)
        ));
        assert_eq!(stored(&db, 5), Some(50));
    }

    #[test]
    fn the_writer_survives_a_panicking_job() {
        let dir = tempfile::tempdir().unwrap();
        let (db, writer) = start(dir.path());
        let panicked = writer.run(|_: &mut Batch<'_>| -> Result<()> { panic!("a bug") });
        assert!(panicked.is_err());
        assert!(writer.is_alive());
        writer.run(insert(3)).unwrap();
        assert_eq!(stored(&db, 3), Some(30));
    }

    #[test]
    fn a_crashed_writer_reports_itself() {
        let dir = tempfile::tempdir().unwrap();
        let (_db, writer) = start(dir.path());
        assert!(writer.is_alive());
        writer.crash();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(writer.stopped());
        assert!(!writer.is_alive());
        assert!(writer.run(insert(4)).is_err());
    }

    #[test]
    fn concurrent_callers_are_all_answered_after_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (db, writer) = start(dir.path());
        let writer = Arc::new(writer);
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
        let path = dir.path().join("db.redb");
        drop(db);
        // The writer thread has released the database: it can be opened again.
        let db = Database::open(&path).unwrap();
        assert_eq!(stored(&db, 31), Some(310));
    }
}
