//! The Store: the single writer. A `ThreadLocalActor` on its own OS thread owns the one rusqlite
//! connection, so blocking SQLite calls never stall the tokio workers the other actors run on.
//! Its operations are the typed `op::Op`, applied by `op`'s one path, which `Admin` shares.
//!
//! Group commit: a write is buffered, and the first buffered write self-casts a `Flush`. The
//! Flush lands behind everything already in the mailbox, so one `BEGIN IMMEDIATE` transaction
//! absorbs the whole burst: applied whole, and only when one write failed applied again with
//! each write in its own SAVEPOINT, so a failing write rolls back alone. Callers are answered
//! only after COMMIT: an acknowledged write is durable. If the Store dies with a buffer, those
//! callers see `Unavailable` and nothing of theirs committed, because a flush never awaits and
//! so a Kill cannot land inside one.
//!
//! It owns the connection, the write buffer and the watch on other processes' commits. It never
//! decides what a job becomes (the operations do), never retries (callers decide by the error's
//! kind), and never sends to another actor but to answer a caller or report a foreign commit.

pub(crate) mod activity;
pub(crate) mod alerts;
#[cfg(test)]
pub(crate) mod both;
mod breaker;
mod claim;
pub(crate) mod control;
pub(crate) mod db;
pub(crate) mod dead;
pub(crate) mod enqueue;
mod fail;
pub(crate) mod gates;
mod lease;
pub(crate) mod ledger;
pub(crate) mod limits;
pub(crate) mod migrate;
mod notices;
pub(crate) mod op;
pub(crate) mod open;
mod pace;
pub(crate) mod pg;
pub(crate) mod purge;
pub(crate) mod read;
mod remote;
pub(crate) mod retention;
mod round;
pub(crate) mod runners;
mod snooze;
pub(crate) mod steps;
pub(crate) mod tally;
pub(crate) mod wait;

use std::time::{Duration, Instant};

use ractor::thread_local::ThreadLocalActor;
use ractor::{ActorProcessingErr, ActorRef};
use rusqlite::Connection;

use crate::config::{EngineConfig, RetryConfig, Synchronous};
use crate::error::StoreError;
use crate::policy::breaker::BreakerConfig;

pub(crate) use alerts::{AlertRow, DELIVERY_LEASE, DeliveryFailed, HeldAlert};
pub(crate) use claim::{Claim, ClaimArgs, Claimed};
pub(crate) use fail::{FailKind, Failed, Recovery};
pub(crate) use handle::{StoreHandle, retry_transient};
pub(crate) use ledger::Charge;
pub(crate) use round::{Round, RoundOut, Settle, Settled};
pub(crate) use snooze::Snoozed;
pub(crate) use steps::{StepRead, StepWrite};
pub(crate) use wait::{CancelWhich, WaitSpec, Waited};

mod calls;
mod handle;
#[cfg(test)]
pub(crate) mod inline;
#[cfg(test)]
mod tests;

/// What every operation may read besides the connection.
#[derive(Debug, Clone)]
pub(crate) struct StoreCtx {
    pub(crate) retry: RetryConfig,
    pub(crate) max_payload: usize,
    pub(crate) daily_cap_micros: Option<i64>,
    pub(crate) breaker: BreakerConfig,
    /// The provider limits this runner knows, by name.
    pub(crate) limits: std::sync::Arc<[crate::limit::LimitConfig]>,
    /// Whether a webhook is configured: a `waiting` alert is owed only then.
    pub(crate) alerting: bool,
    /// Events raised inside the transaction in progress, emitted only once it commits.
    pub(crate) notices: notices::Notices,
    /// Whether the operation being applied runs guarded: in a savepoint of its own, its
    /// items (a round's settles, inserts and claim) each in one too. False while a batch is
    /// first applied whole, when a failure rolls back the whole batch instead.
    pub(crate) guarded: std::cell::Cell<bool>,
}

impl StoreCtx {
    pub(crate) fn from_config(config: &EngineConfig) -> Self {
        Self {
            retry: config.retry,
            max_payload: config.max_payload,
            daily_cap_micros: config.daily_cap_micros,
            breaker: config.breaker,
            limits: config.limits.clone().into(),
            alerting: config.alert.webhook.is_some(),
            notices: notices::Notices::default(),
            guarded: std::cell::Cell::new(true),
        }
    }
}

/// The Store's mailbox.
// An operation travels by value, not boxed: boxing would cost an allocation per operation on
// the hot path to save a couple of hundred bytes on the rare Flush and Watch ticks.
#[allow(clippy::large_enum_variant)]
pub(crate) enum StoreMsg {
    /// An operation. A write is buffered and group-committed; a read is answered at once. A
    /// read sees every acknowledged write; writes still in the buffer are not acknowledged
    /// yet, so it need not (and does not) force them out early.
    Op(op::Op),
    /// Self-cast: commit the buffer.
    Flush,
    /// Periodic: has another connection (another process) committed since the last look?
    Watch,
    /// PostgreSQL: the batch on the connection's thread is answered.
    Flushed,
    /// PostgreSQL: the connection is gone; the Store stops with an error, to be restarted.
    Lost,
}

#[cfg(feature = "cluster")]
impl ractor::Message for StoreMsg {}

/// How the Store is started.
#[derive(Clone)]
pub(crate) struct StoreArgs {
    /// Called when another process commits to the database (an enqueue, a pause from the
    /// CLI), with the kill switch as it now stands: the runner's wake-up for what it did not
    /// write itself.
    pub(crate) on_external_commit: Option<ExternalCommit>,
    pub(crate) db: std::path::PathBuf,
    pub(crate) synchronous: Synchronous,
    pub(crate) max_batch: usize,
    pub(crate) ctx: StoreCtx,
}

impl StoreArgs {
    pub(crate) fn from_config(config: &EngineConfig) -> Self {
        Self {
            on_external_commit: None,
            db: config.db.clone(),
            synchronous: config.synchronous,
            max_batch: config.max_batch.max(1),
            ctx: StoreCtx::from_config(config),
        }
    }
}

/// The actor; its state is the connection and the write buffer.
#[derive(Default)]
pub(crate) struct Store;

/// The database the Store writes.
enum Backend {
    Lite {
        conn: Connection,
        /// SQLite's `data_version` at the last look: it changes only when another connection
        /// commits, so watching it costs one cheap read and no scan.
        data_version: i64,
    },
    Pg(remote::Remote),
}

pub(crate) struct StoreState {
    backend: Backend,
    ctx: StoreCtx,
    buf: Vec<op::Op>,
    max_batch: usize,
    flush_queued: bool,
    /// How the last batch went, to decide whether the next one is worth a short wait.
    pace: pace::Pace,
    on_external_commit: Option<ExternalCommit>,
    _watch: Option<ractor::concurrency::JoinHandle<()>>,
}

impl ThreadLocalActor for Store {
    type Msg = StoreMsg;
    type State = StoreState;
    type Arguments = StoreArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: StoreArgs,
    ) -> Result<StoreState, ActorProcessingErr> {
        let backend = match pg::url_of(&args.db) {
            Some(url) => Backend::Pg(remote::Remote::open(url, args.ctx.clone())?),
            None => {
                let conn = open::open(&args.db, args.synchronous, true)?;
                let data_version = data_version(&conn)?;
                Backend::Lite { conn, data_version }
            }
        };
        let lite = matches!(backend, Backend::Lite { .. });
        let watch = args
            .on_external_commit
            .is_some()
            .then(|| myself.send_interval(WATCH_EVERY, || StoreMsg::Watch));
        Ok(StoreState {
            backend,
            ctx: args.ctx,
            buf: Vec::with_capacity(args.max_batch),
            max_batch: args.max_batch,
            flush_queued: false,
            pace: pace::Pace::new(lite && args.synchronous == Synchronous::Full),
            on_external_commit: args.on_external_commit,
            _watch: watch,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: StoreMsg,
        st: &mut StoreState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            StoreMsg::Op(op) if op.access() == op::Access::Read => match &st.backend {
                Backend::Lite { conn, .. } => op::read(db::Db::Lite(conn), &st.ctx, op),
                Backend::Pg(remote) => remote.read(op, &myself),
            },
            StoreMsg::Op(op) => {
                st.buf.push(op);
                if st.buf.len() >= st.max_batch {
                    st.flush(&myself);
                } else if !st.flush_queued {
                    st.flush_queued = true;
                    // Lands behind every message already queued: the batch is the burst.
                    myself.cast(StoreMsg::Flush)?;
                }
            }
            StoreMsg::Flush => {
                if st.buf.len() < st.max_batch && st.pace.linger() {
                    // Let the callers answered by the last commit come back first.
                    std::thread::yield_now();
                    myself.cast(StoreMsg::Flush)?;
                } else {
                    st.flush_queued = false;
                    st.flush(&myself);
                }
            }
            StoreMsg::Flushed => {
                if let Backend::Pg(remote) = &mut st.backend {
                    remote.flushed();
                    st.flush(&myself);
                }
            }
            StoreMsg::Lost => {
                return Err("the connection to PostgreSQL was lost; the Store starts again".into());
            }
            StoreMsg::Watch => st.watch(&myself),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        st: &mut StoreState,
    ) -> Result<(), ActorProcessingErr> {
        // A drain processed every queued message; commit what they buffered.
        if let Some(watch) = st._watch.take() {
            watch.abort();
        }
        match &mut st.backend {
            Backend::Lite { .. } => st.flush(&myself),
            Backend::Pg(remote) => remote.finish(&mut st.buf),
        }
        Ok(())
    }
}

impl StoreState {
    /// Commits the buffer in one transaction (`op::commit`), then answers every caller. On
    /// SQLite, here and now: it never awaits, so nothing can interrupt it between COMMIT and
    /// the replies. On PostgreSQL, on the connection's thread, one batch at a time.
    fn flush(&mut self, myself: &ActorRef<StoreMsg>) {
        match &mut self.backend {
            Backend::Lite { .. } => self.commit_here(),
            Backend::Pg(remote) => remote.flush(&mut self.buf, myself),
        }
    }

    /// SQLite: commits the buffer now.
    fn commit_here(&mut self) {
        if let Backend::Lite { conn, .. } = &self.backend
            && !self.buf.is_empty()
        {
            let started = Instant::now();
            let ops = self.buf.len();
            op::commit(db::Db::Lite(conn), &self.ctx, &mut self.buf);
            self.pace.committed(ops, started.elapsed());
        }
    }

    /// Has another process committed since the last look? Then wake the runner.
    fn watch(&mut self, myself: &ActorRef<StoreMsg>) {
        let Some(wake) = &self.on_external_commit else { return };
        match &mut self.backend {
            Backend::Lite { conn, data_version } => {
                // Our own commits do not change it; an error is left for the next look.
                if let Ok(seen) = self::data_version(conn)
                    && seen != *data_version
                {
                    *data_version = seen;
                    if let Ok(control) = gates::load_control(db::Db::Lite(conn)) {
                        wake(control.paused, control.pause_reason.as_deref());
                    }
                }
            }
            Backend::Pg(remote) => remote.watch(wake, myself),
        }
    }
}

/// What the Store calls when another process commits: with the kill switch and its reason.
pub(crate) type ExternalCommit = std::sync::Arc<dyn Fn(bool, Option<&str>) + Send + Sync>;

/// How often the Store looks for commits by other processes: the bound on how long a job
/// enqueued by `nightshift enqueue` waits before an idle runner notices it.
const WATCH_EVERY: Duration = Duration::from_millis(20);

fn data_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
}

/// How long a caller waits for the Store before treating the outcome as unknown.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(30);
