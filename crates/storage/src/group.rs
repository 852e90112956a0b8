//! Group commit for SQLite: the write transactions of this process that
//! queue behind one another share one SQLite transaction.
//!
//! SQLite has one writer. Every write of the process goes through one
//! connection kept out of the pool (its page cache is never invalidated by
//! another connection's writes), one writer at a time: callers of
//! [`Store::write`](crate::Store::write) take their turn on a mutex, and
//! async callers of [`Store::write_queued`](crate::Store::write_queued)
//! hand their write to the `sqlite-writer` thread, which runs all that is
//! queued back to back. The first write of a run opens `BEGIN IMMEDIATE`;
//! each runs inside a savepoint of it (its own `Err` or panic rolls back
//! only its own writes). The writer that finds nobody queued behind it (or
//! the batch full), and the writer thread at the end of what it took,
//! commits the whole batch; the others wait for that commit. So:
//!
//! - nothing is acknowledged before it is committed: `Ok` comes only after
//!   the `COMMIT` that holds its writes succeeded, and a failed `COMMIT`
//!   fails every writer of the batch;
//! - writers run one at a time, each seeing the writes of those before it:
//!   the same serial order as one transaction each, so every single-use
//!   rule (`UPDATE ... WHERE used = 0`) holds as before;
//! - under load one commit (its WAL frames, locks and wal-index update)
//!   serves many writers; alone, a writer commits at once, as before.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::r2d2::R2D2Connection;
use diesel::RunQueryDsl;
use portcullis_core::ports::StoreError;
use tokio::sync::oneshot;

use crate::conn::{one_line, AnyConnection, Target};
use crate::error::db_error;
use crate::store::{begin, Tx};

/// The most writers one commit serves: bounds how long the first of them
/// waits for its answer under a steady stream of writers.
const MAX_BATCH: usize = 64;

/// The queue of this process's SQLite writers.
pub(crate) struct Group {
    /// Writers waiting for the lock below.
    queued: AtomicUsize,
    /// The writers' connection and the open batch: one writer at a time.
    state: Mutex<State>,
    /// Where to connect the writers' connection.
    target: Target,
    /// Something was committed since the last checkpoint.
    dirty: AtomicBool,
    /// The background checkpoint could not keep the log short (writers
    /// kept adding to it): the next committing writer checkpoints it.
    log_long: AtomicBool,
    /// Commits made, and the writes they held (`/metrics`).
    commits: AtomicU64,
    writes: AtomicU64,
}

/// The connection all writes of this process go through (kept apart from
/// the pool, so its page cache is never invalidated by another
/// connection's writes), inside a transaction while `batch` is `Some`.
#[derive(Default)]
struct State {
    conn: Option<AnyConnection>,
    batch: Option<Batch>,
}

/// The writers whose writes the open transaction holds.
struct Batch {
    /// Writers whose closures succeeded and who wait for the commit.
    jobs: usize,
    outcome: Arc<Outcome>,
}

/// Group commit counters: their ratio is the writes per commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupStats {
    /// SQLite commits of the writers' connection.
    pub commits: u64,
    /// Writes (`Store::write` / `write_queued` calls) they committed.
    pub writes: u64,
}

/// How a batch ended: `None` while it is open.
#[derive(Default)]
struct Outcome {
    result: Mutex<Option<Result<(), StoreError>>>,
    ended: Condvar,
}

impl Outcome {
    fn publish(&self, result: Result<(), StoreError>) {
        *lock(&self.result) = Some(result);
        self.ended.notify_all();
    }

    fn wait(&self) -> Result<(), StoreError> {
        let mut result = lock(&self.result);
        loop {
            if let Some(r) = result.as_ref() {
                return r.clone();
            }
            result = self.ended.wait(result).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A poisoned lock here means a panic between our own steps, each of which
/// leaves the state consistent (a panicking closure ends its batch first).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Group {
    /// Writers waiting for their turn, for tests.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// The writers' connection is opened now, while the file is surely
    /// the one the pool opened (or at the first write, if this fails).
    pub(crate) fn new(target: Target) -> Group {
        let conn = writer_connection(&target).ok();
        Group {
            queued: AtomicUsize::new(0),
            state: Mutex::new(State { conn, batch: None }),
            target,
            dirty: AtomicBool::new(false),
            log_long: AtomicBool::new(false),
            commits: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        }
    }

    /// Commits made so far, and the writes they held.
    pub(crate) fn stats(&self) -> GroupStats {
        GroupStats {
            commits: self.commits.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }

    /// Take the turn: the state, with nobody else writing.
    fn turn(&self) -> MutexGuard<'_, State> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let guard = lock(&self.state);
        self.queued.fetch_sub(1, Ordering::SeqCst);
        guard
    }

    /// The writers' connection inside the open batch's transaction (one is
    /// opened if none is).
    fn open_batch<'s>(&self, state: &'s mut State) -> Result<&'s mut AnyConnection, StoreError> {
        if state.conn.is_none() {
            state.conn = Some(writer_connection(&self.target)?);
        }
        let Some(conn) = state.conn.as_mut() else {
            return Err(StoreError::Backend("no writer connection".into()));
        };
        if state.batch.is_none() {
            begin(conn, true).map_err(db_error)?;
            state.batch = Some(Batch {
                jobs: 0,
                outcome: Arc::new(Outcome::default()),
            });
        }
        Ok(conn)
    }

    /// Commit the open batch, for every writer in it; the result is also
    /// published to the writers waiting on it.
    fn commit(&self, state: &mut State) -> Result<(), StoreError> {
        let Some(batch) = state.batch.take() else {
            return Err(StoreError::Backend("no write batch is open".into()));
        };
        let Some(conn) = state.conn.as_mut() else {
            // Never so (a batch is open on the connection); its writers
            // must hear of it all the same.
            let lost = StoreError::Backend("the writers' connection is gone".into());
            batch.outcome.publish(Err(lost.clone()));
            return Err(lost);
        };
        let committed = AnyConnection::commit_transaction(conn).map_err(db_error);
        if committed.is_ok() {
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.writes.fetch_add(batch.jobs as u64, Ordering::Relaxed);
        }
        self.dirty.store(true, Ordering::Release);
        if committed.is_ok() && self.log_long.swap(false, Ordering::AcqRel) {
            // No transaction is open and no other writer can start: copy
            // the whole log back and start it again from its beginning
            // (waiting for readers, which are short).
            if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(RESTART);") {
                tracing::debug!(error = %e, "restart checkpoint failed");
            }
        }
        if conn.is_broken() {
            state.conn = None;
        }
        batch.outcome.publish(committed.clone());
        committed
    }

    /// Run `f` as one writer of a batch (see the module documentation).
    pub(crate) fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut guard = self.turn();
        let state = &mut *guard;
        let conn = self.open_batch(state)?;
        let result = match in_savepoint(conn, f, Result::is_ok) {
            Ran::Done(result) => result,
            Ran::Failed(e) => {
                end_failed(state, e.clone());
                return Err(e.into());
            }
            Ran::Panicked(payload) => {
                // The writers before this one lose their writes too: the
                // batch's transaction cannot be trusted after a panic.
                end_failed(state, StoreError::Backend("a write panicked".into()));
                panic::resume_unwind(payload);
            }
        };
        let Some(batch) = state.batch.as_mut() else {
            return Err(StoreError::Backend("the write batch vanished".into()).into());
        };
        if result.is_ok() {
            batch.jobs += 1;
        }
        let outcome = batch.outcome.clone();
        if self.queued.load(Ordering::SeqCst) == 0 || batch.jobs >= MAX_BATCH {
            // Nobody behind (or the batch is full): commit for everyone.
            let committed = self.commit(state);
            let value = result?;
            committed?;
            return Ok(value);
        }
        // A writer is queued behind: it carries the batch on (and one of
        // those after it commits). A refused writer has nothing to wait for.
        drop(guard);
        let value = result?;
        outcome.wait()?;
        Ok(value)
    }

    /// Run the writes handed to the writer thread, in order, as one batch
    /// (joining a batch that writers of [`Group::write`] left open for it),
    /// then commit and answer each.
    fn run_jobs(&self, jobs: Vec<Box<dyn Job>>) {
        let mut guard = self.turn();
        let state = &mut *guard;
        let mut waiting: Vec<Box<dyn Pending>> = Vec::with_capacity(jobs.len());
        let mut jobs = jobs.into_iter();
        let failure = loop {
            let Some(job) = jobs.next() else {
                break None;
            };
            let conn = match self.open_batch(state) {
                Ok(conn) => conn,
                Err(e) => {
                    job.fail(e.clone());
                    break Some(e);
                }
            };
            let broken = match in_savepoint(conn, |tx| job.run(tx), |p| p.succeeded()) {
                Ran::Done(p) if p.succeeded() => {
                    if let Some(batch) = state.batch.as_mut() {
                        batch.jobs += 1;
                    }
                    waiting.push(p);
                    continue;
                }
                // Its own writes are undone: it has nothing to wait for.
                Ran::Done(p) => {
                    p.finish(Ok(()));
                    continue;
                }
                Ran::Failed(e) => e,
                // Its answer is dropped: its caller hears the write failed.
                Ran::Panicked(_) => StoreError::Backend("a write panicked".into()),
            };
            // The batch so far is lost; the jobs after this one start a
            // new one.
            end_failed(state, broken.clone());
            for p in waiting.drain(..) {
                p.finish(Err(broken.clone()));
            }
        };
        let committed = match failure {
            None => self.commit(state),
            Some(e) => {
                end_failed(state, e.clone());
                for job in jobs {
                    job.fail(e.clone());
                }
                Err(e)
            }
        };
        drop(guard);
        for p in waiting {
            p.finish(committed.clone());
        }
    }
}

/// How one writer's closure went.
enum Ran<R> {
    /// It returned; its writes are kept (released savepoint) or undone.
    Done(R),
    /// The savepoint itself failed: the batch cannot go on.
    Failed(StoreError),
    /// It panicked: the batch cannot go on.
    Panicked(Box<dyn std::any::Any + Send>),
}

/// Run `f` inside a savepoint of the open transaction: released when
/// `kept` says so, else rolled back to.
fn in_savepoint<R>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut Tx<'_>) -> R,
    kept: impl FnOnce(&R) -> bool,
) -> Ran<R> {
    if let Err(e) = AnyConnection::begin_transaction(conn) {
        return Ran::Failed(db_error(e));
    }
    let result = match panic::catch_unwind(AssertUnwindSafe(|| f(&mut Tx { conn: &mut *conn }))) {
        Ok(result) => result,
        Err(payload) => return Ran::Panicked(payload),
    };
    let closed = if kept(&result) {
        AnyConnection::commit_transaction(conn)
    } else {
        AnyConnection::rollback_transaction(conn)
    };
    match closed {
        Ok(()) => Ran::Done(result),
        Err(e) => Ran::Failed(db_error(e)),
    }
}

/// A write handed to the writer thread ([`Queue`]).
trait Job: Send {
    /// Run it (inside its savepoint); its result waits for the commit.
    fn run(self: Box<Self>, tx: &mut Tx<'_>) -> Box<dyn Pending>;
    /// Answer it with `error` without running it.
    fn fail(self: Box<Self>, error: StoreError);
}

/// A job's result, held until its batch's commit.
trait Pending: Send {
    fn succeeded(&self) -> bool;
    /// Answer the caller: its result if `committed` (an `Err` result is
    /// answered as is), else the commit's error.
    fn finish(self: Box<Self>, committed: Result<(), StoreError>);
}

struct Queued<F, T, E> {
    f: F,
    reply: oneshot::Sender<Result<T, E>>,
}

struct Held<T, E> {
    result: Result<T, E>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for Queued<F, T, E>
where
    F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, tx: &mut Tx<'_>) -> Box<dyn Pending> {
        let result = (self.f)(tx);
        Box::new(Held {
            result,
            reply: self.reply,
        })
    }

    fn fail(self: Box<Self>, error: StoreError) {
        // The caller may have stopped waiting: nothing to answer then.
        let _ = self.reply.send(Err(error.into()));
    }
}

impl<T: Send, E: From<StoreError> + Send> Pending for Held<T, E> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn finish(self: Box<Self>, committed: Result<(), StoreError>) {
        let answer = match (self.result, committed) {
            (Ok(_), Err(e)) => Err(e.into()),
            (result, _) => result,
        };
        let _ = self.reply.send(answer);
    }
}

/// The writer thread's inbox: writes from async callers, run back to back
/// on one thread (no hand-over between threads per write), as many per
/// commit as arrived while the previous batch ran.
#[derive(Clone)]
pub(crate) struct Queue(mpsc::Sender<Box<dyn Job>>);

impl Queue {
    /// Start the writer thread of `group`. It ends once every `Queue` is
    /// dropped.
    pub(crate) fn start(group: &Arc<Group>) -> Option<Queue> {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let group = group.clone();
        let spawned = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut jobs = vec![first];
                    while jobs.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(job) => jobs.push(job),
                            Err(_) => break,
                        }
                    }
                    group.run_jobs(jobs);
                }
            });
        match spawned {
            Ok(_) => Some(Queue(tx)),
            Err(e) => {
                tracing::warn!(error = %e, "no writer thread: writes run on their callers' threads");
                None
            }
        }
    }

    /// Hand `f` to the writer thread; the receiver answers once it ran and
    /// its batch was committed (or failed).
    pub(crate) fn push<F, T, E>(&self, f: F) -> oneshot::Receiver<Result<T, E>>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::SendError(job)) = self.0.send(Box::new(Queued { f, reply })) {
            job.fail(StoreError::Backend("the writer thread has stopped".into()));
        }
        answer
    }
}

/// How often the checkpointer looks for committed writes to copy from the
/// write-ahead log into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The writers' connection: SQLite's automatic checkpoint is off on it, so
/// no commit waits for a checkpoint (copying pages and two fsyncs) while
/// every other writer waits for that commit; [`spawn_checkpointer`] does
/// that work on its own connection, beside the writers.
fn writer_connection(target: &Target) -> Result<AnyConnection, StoreError> {
    let failed = |e: &dyn std::fmt::Display| {
        StoreError::Backend(format!(
            "no database connection: {}",
            one_line(&e.to_string())
        ))
    };
    let mut conn = target.connect().map_err(|e| failed(&e))?;
    conn.batch_execute("PRAGMA wal_autocheckpoint = 0;")
        .map_err(|e| failed(&e))?;
    Ok(conn)
}

/// A thread that, every [`CHECKPOINT_EVERY`] after a commit, runs a
/// PASSIVE checkpoint (it never waits for readers or writers; frames still
/// in use are copied on a later round). It ends once the store is dropped.
/// When this process closes the database last, SQLite checkpoints the rest.
pub(crate) fn spawn_checkpointer(group: &Arc<Group>) {
    let group = Arc::downgrade(group);
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let mut conn: Option<AnyConnection> = None;
            loop {
                std::thread::sleep(CHECKPOINT_EVERY);
                let Some(group) = group.upgrade() else {
                    return;
                };
                if !group.dirty.swap(false, Ordering::AcqRel) {
                    continue;
                }
                let c = match conn.as_mut() {
                    Some(c) => c,
                    None => match group.target.connect() {
                        Ok(c) => conn.insert(c),
                        Err(e) => {
                            tracing::debug!(error = %e, "checkpoint: no connection");
                            continue;
                        }
                    },
                };
                match checkpoint(c) {
                    Ok(frames) => {
                        if frames > LONG_LOG_FRAMES {
                            group.log_long.store(true, Ordering::Release);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "checkpoint failed");
                        conn = None;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no checkpoint thread: the write-ahead log is checkpointed at close");
    }
}

/// A log this long (frames of one page, 4 KiB each: 16 MiB) after a
/// background checkpoint is checkpointed by the next writer, which waits
/// for nothing else: under a steady stream of writes a PASSIVE checkpoint
/// may never catch up with the end of the log, and SQLite starts the log
/// again from its beginning only once it has.
const LONG_LOG_FRAMES: i64 = 4096;

/// A PASSIVE checkpoint; the frames in the log after it.
fn checkpoint(conn: &mut AnyConnection) -> diesel::QueryResult<i64> {
    #[derive(diesel::QueryableByName)]
    struct Checkpoint {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        log: i64,
    }
    let done: Checkpoint = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(conn)?;
    Ok(done.log)
}

/// End the open batch without committing: roll its transaction back and
/// fail every writer waiting on it. A connection that fails to roll back
/// is closed (which rolls back) and opened again by the next writer.
fn end_failed(state: &mut State, error: StoreError) {
    if let Some(batch) = state.batch.take() {
        if let Some(conn) = state.conn.as_mut() {
            // Out of the savepoint (if inside one), then out of the transaction.
            while AnyConnection::rollback_transaction(conn).is_ok() {}
            if conn.is_broken() {
                state.conn = None;
            }
        }
        batch.outcome.publish(Err(error));
    }
}
