//! The Store's operations as one typed enum, and the one path that applies them. The Store
//! actor (group commit, many operations a transaction) and `Admin` (the CLI's own connection,
//! one operation a transaction) both go through [`commit`] and [`read`]; `StoreHandle`,
//! `EngineHandle` and `Admin` only build an [`Op`] and wait for its answer.
//!
//! Each variant of [`Op`] is a [`Call`]: an `XArgs` struct (plain data, in `op/args.rs`), the
//! operation's typed answer, and where that answer goes. The answer's type is fixed per variant
//! where the enum is declared, so a caller gets `Result<Enqueued, _>` from an enqueue and
//! `Result<RoundOut, _>` from a round with no output enum to unpack and no mismatch possible at
//! run time; [`Args`] maps each args struct to its variant, so `store.call(StatusArgs { now })`
//! is typed by the arguments alone. [`Op::apply`] is the one `match` that names, per variant,
//! the function in `store/` that runs it on the transaction.
//!
//! What the path guarantees: writes run inside `BEGIN IMMEDIATE`, each in a SAVEPOINT of its
//! own (a failing operation rolls back alone and is answered with its error); every caller is
//! answered only after COMMIT, or with the commit's own error (kept as the source, so a busy
//! database stays transient and a full disk is `DiskFull`); an operation dropped unanswered
//! answers `Unavailable`. It never awaits, never retries (callers decide by the error's kind),
//! and never decides what to batch (the Store does).

mod args;
mod call;

pub(crate) use args::*;
pub(crate) use call::{Call, Reply};

use super::activity::{self, HourActivity, OutboxAlert};
use super::alerts::{AlertRow, DeliveryFailed, HeldAlert};
use super::db::{Db, ps};
use super::fail::Failed;
use super::round::RoundOut;
use super::runners::{self, RunnerRow};
use super::steps::{self, StepRead, StepWrite};
use super::tally::{self, Tallies};
use super::{StoreCtx, alerts, claim, control, dead, enqueue, fail, gates, lease, purge, read};
use super::{ledger, retention, round, wait};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::{DaySpend, DeadJob, Enqueued, JobPage, JobRecord, PurgedJobs, Status, StepRecord};

/// Whether an operation writes (buffered, in a transaction) or only reads (answered at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// Arguments of one operation: what it answers, and how it becomes an [`Op`].
pub(crate) trait Args: Send + 'static {
    /// The operation's answer.
    type Out: Send + 'static;
    /// The operation, answering to `reply`.
    fn into_op(self, reply: Reply<Self::Out>) -> Op;
}

/// Declares [`Op`], its [`Args`] impls, and the per-variant plumbing that only forwards to
/// [`Call`] (the part of each `match` that is the same for every variant).
macro_rules! ops {
    ($(
        $(#[doc = $doc:literal])* $(#[cfg($cfg:meta)])?
        $access:ident $name:ident($args:ty) -> $out:ty;
    )*) => {
        /// One Store operation in flight: its arguments, its answer, where that goes.
        pub(crate) enum Op {
            $( $(#[doc = $doc])* $(#[cfg($cfg)])? $name(Call<$args, $out>), )*
        }

        $( $(#[cfg($cfg)])? impl Args for $args {
            type Out = $out;
            fn into_op(self, reply: Reply<$out>) -> Op {
                Op::$name(Call::new(self, reply))
            }
        } )*

        impl Op {
            /// Whether it writes.
            pub(crate) fn access(&self) -> Access {
                match self { $( $(#[cfg($cfg)])? Op::$name(_) => Access::$access, )* }
            }

            /// Answers the caller once the batch's fate is known.
            fn answer(self, commit: Result<(), &StoreError>) {
                match self { $( $(#[cfg($cfg)])? Op::$name(call) => call.answer(commit), )* }
            }
        }

        impl std::fmt::Debug for Op {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self { $( $(#[cfg($cfg)])? Op::$name(call) => call.args.fmt(f), )* }
            }
        }
    };
}

ops! {
    /// A job enqueued through the engine's handle.
    Write Enqueue(EnqueueArgs) -> Enqueued;
    /// Jobs enqueued together by the CLI (`enqueue --batch`).
    Write EnqueueAll(EnqueueAllArgs) -> Vec<Enqueued>;
    /// The Dispatcher's settle-insert-claim round.
    Write Round(RoundArgs) -> RoundOut;
    /// Leases extended.
    Write Heartbeat(HeartbeatArgs) -> Vec<bool>;
    /// A crashed worker's attempts failed.
    Write FailOwner(FailOwnerArgs) -> Vec<(String, Failed)>;
    /// Interrupted attempts counted (start-up, expired leases).
    Write Recover(RecoverArgs) -> Vec<(String, Failed)>;
    /// Dead letters replayed.
    Write Replay(ReplayArgs) -> Vec<String>;
    /// A waiting job signalled.
    Write Signal(SignalArgs) -> crate::job::Signalled;
    /// Jobs cancelled.
    Write Cancel(CancelArgs) -> Vec<crate::job::Cancelled>;
    /// A running job's step read (its lease extended).
    Write StepGet(StepGetArgs) -> StepRead;
    /// A running job's step recorded (its lease extended).
    Write StepPut(StepPutArgs) -> StepWrite;
    /// `jobs show`'s steps.
    Read Steps(StepsArgs) -> Vec<StepRecord>;
    /// Dead letters purged.
    Write PurgeDead(PurgeDeadArgs) -> Vec<String>;
    /// Jobs purged.
    Write PurgeJobs(PurgeJobsArgs) -> PurgedJobs;
    /// One retention batch.
    Write Prune(PruneBatchArgs) -> Vec<u64>;
    /// The kill switch.
    Write SetPaused(SetPausedArgs) -> bool;
    /// The daily cap recorded.
    Write RecordCap(RecordCapArgs) -> ();
    /// An alert owed.
    Write OweAlert(OweAlertArgs) -> i64;
    /// An alert delivered.
    Write AlertDelivered(AlertDeliveredArgs) -> ();
    /// An alert's delivery failed.
    Write AlertFailed(DeliveryFailed) -> ();
    /// Alerts due, taken for delivery.
    Write AlertsDue(AlertsDueArgs) -> (Vec<AlertRow>, Option<Timestamp>);
    /// Dead-letter alerts held for DeadLetter's decision.
    Read AlertsHeld(AlertsHeldArgs) -> Vec<HeldAlert>;
    /// Held dead-letter alerts released, alone or as a digest.
    Write AlertsRelease(AlertsReleaseArgs) -> ();
    /// Alerts a killed Alert actor had taken, due again.
    Write AlertsGiveBack(AlertsGiveBackArgs) -> ();
    /// The kill switch read.
    Read PauseState(PauseStateArgs) -> (bool, Option<String>);
    /// `status`.
    Read Status(StatusArgs) -> Status;
    /// `status --prom`.
    Read Tallies(TalliesArgs) -> Tallies;
    /// The dashboard's jobs done, failed and dead-lettered per hour.
    Read Activity(ActivityArgs) -> Vec<HourActivity>;
    /// The alert outbox's newest rows.
    Read Outbox(OutboxArgs) -> Vec<OutboxAlert>;
    /// Each schedule's newest tick key.
    Read NewestTicks(NewestTicksArgs) -> Vec<Option<String>>;
    /// `jobs show`.
    Read Job(JobArgs) -> Option<JobRecord>;
    /// `jobs`.
    Read Jobs(JobsArgs) -> JobPage;
    /// `jobs`' total.
    Read CountJobs(CountJobsArgs) -> u64;
    /// `dlq show`.
    Read DeadLetter(DeadLetterArgs) -> Option<DeadJob>;
    /// `dlq`.
    Read DeadLetters(DeadLettersArgs) -> Vec<DeadJob>;
    /// `spend`.
    Read Spend(SpendArgs) -> Vec<DaySpend>;
    /// `spend --by`.
    Read SpendBy(SpendByArgs) -> Vec<crate::job::GroupSpend>;
    /// What a drain waits on.
    Read DrainState(DrainStateArgs) -> read::DrainState;
    /// The Retry scheduler's next wake-up.
    Read NextDue(NextDueArgs) -> Option<Timestamp>;
    /// The earliest deadline of a waiting job.
    Read NextWait(NextWaitArgs) -> Option<Timestamp>;
    /// Whether a running attempt's lease is still held (not cancelled, not taken over).
    Read LeaseHeld(LeaseHeldArgs) -> bool;
    /// A runner's row written or refreshed.
    Write RunnerBeat(RunnerBeatArgs) -> ();
    /// A runner's row removed.
    Write RunnerGone(RunnerGoneArgs) -> ();
    /// The runners alive.
    Read Runners(RunnersArgs) -> Vec<RunnerRow>;
    /// A test's own SQL as one operation of a batch, to test the batch itself.
    #[cfg(test)]
    Write Probe(ProbeArgs) -> ();
}

impl Op {
    /// Runs the operation on `c` (inside the caller's transaction for a write) and keeps its
    /// answer; false when it failed and its savepoint must roll back.
    fn apply(&mut self, db: Db<'_>, ctx: &StoreCtx) -> bool {
        let c = db;
        match self {
            Op::Enqueue(call) => call.run(|a| enqueue::run(c, ctx, &a.job, a.now)),
            Op::EnqueueAll(call) => call.run(|a| enqueue::run_all(c, ctx, &a.jobs, a.now)),
            Op::Round(call) => call.run(|a| round::run(c, ctx, &a.round, a.now)),
            Op::Heartbeat(call) => call.run(|a| lease::heartbeat(c, &a.leases, a.lease, a.now)),
            Op::FailOwner(call) => {
                call.run(|a| fail::fail_owner(c, ctx, &a.owner, &a.error, a.now))
            }
            Op::Recover(call) => call.run(|a| fail::recover(c, ctx, a.which, a.now)),
            Op::Replay(call) => call.run(|a| dead::replay(c, &a.which, a.steps, a.now)),
            Op::Signal(call) => call.run(|a| wait::signal(c, &a.key, &a.name, &a.payload, a.now)),
            Op::Cancel(call) => call.run(|a| wait::cancel(c, &a.which, a.now)),
            Op::StepGet(call) => {
                call.run(|a| steps::get(c, &a.key, &a.token, &a.name, a.lease, a.now))
            }
            Op::StepPut(call) => call.run(|a| {
                steps::put(c, &a.key, &a.token, &a.name, &a.output, &a.charge, a.lease, a.now)
            }),
            Op::Steps(call) => call.run(|a| steps::list(c, &a.key)),
            Op::PurgeDead(call) => call.run(|a| dead::purge(c, &a.which)),
            Op::PurgeJobs(call) => call.run(|a| purge::jobs(c, &a.keys)),
            Op::Prune(call) => call.run(|a| retention::run_batch(c, &a.batch, a.now)),
            Op::SetPaused(call) => {
                call.run(|a| control::set_paused(c, a.paused, a.reason.as_deref(), a.now))
            }
            Op::RecordCap(call) => call
                .run(|a| control::record_cap(c, ctx.daily_cap_micros, a.set_by.as_deref(), a.now)),
            Op::OweAlert(call) => call.run(|a| alerts::owe(c, a.kind, None, &a.body, a.now, a.now)),
            Op::AlertDelivered(call) => call.run(|a| alerts::delivered(c, a.id, a.now)),
            Op::AlertFailed(call) => call.run(|a| alerts::failed(c, a)),
            Op::AlertsDue(call) => call.run(|a| alerts::due(c, a.now, a.limit)),
            Op::AlertsHeld(call) => call.run(|_| alerts::held(c)),
            Op::AlertsRelease(call) => call.run(|a| alerts::release(c, &a.ids, a.digest, a.now)),
            Op::AlertsGiveBack(call) => call.run(|a| alerts::give_back(c, &a.leases, a.now)),
            Op::PauseState(call) => call.run(|_| {
                let control = gates::load_control(c)?;
                Ok((control.paused, control.pause_reason))
            }),
            Op::Status(call) => call.run(|a| read::status(c, ctx, a.now)),
            Op::Tallies(call) => call.run(|a| tally::read(c, ctx, a.now)),
            Op::Activity(call) => call.run(|a| activity::activity(c, a.hours, a.now)),
            Op::Outbox(call) => call.run(|a| activity::outbox(c, a.limit)),
            Op::NewestTicks(call) => call
                .run(|a| a.schedules.iter().map(|name| retention::newest_tick(c, name)).collect()),
            Op::Job(call) => call.run(|a| read::job(c, &a.key)),
            Op::Jobs(call) => call.run(|a| read::jobs(c, &a.query)),
            Op::CountJobs(call) => call.run(|a| read::count_jobs(c, &a.query)),
            Op::DeadLetter(call) => call.run(|a| dead::get(c, &a.key)),
            Op::DeadLetters(call) => call.run(|a| dead::list(c, &a.query)),
            Op::Spend(call) => call.run(|a| read::ledger(c, a.days, a.now)),
            Op::SpendBy(call) => call.run(|a| ledger::by(c, a.by, a.days, a.now)),
            Op::DrainState(call) => call.run(|a| read::drain_state(c, ctx, a.now)),
            Op::NextDue(call) => call.run(|_| claim::next_due(c)),
            Op::NextWait(call) => call.run(|_| wait::next_deadline(c)),
            Op::LeaseHeld(call) => call.run(|a| wait::lease_held(c, &a.key, &a.token)),
            Op::RunnerBeat(call) => call.run(|a| runners::beat(c, &a.me)),
            Op::RunnerGone(call) => call.run(|a| runners::gone(c, &a.instance)),
            Op::Runners(call) => call.run(|a| runners::alive(c, a.since)),
            #[cfg(test)]
            Op::Probe(call) => call.run(|a| (a.0)(c.lite()?, ctx)),
        }
    }
}

/// The write path: applies `ops` in one transaction (SQLite's `BEGIN IMMEDIATE`), each in a
/// savepoint of its own when one fails, then answers every caller, emptying `ops`. Never
/// awaits, so nothing can come between COMMIT and the answers.
pub(crate) fn commit(db: Db<'_>, ctx: &StoreCtx, ops: &mut Vec<Op>) {
    let outcome = transaction(db, ctx, ops);
    for op in ops.drain(..) {
        op.answer(outcome.as_ref().map(|_| ()));
    }
}

/// The read path: runs `op` on `db` as it stands and answers at once.
pub(crate) fn read(db: Db<'_>, ctx: &StoreCtx, mut op: Op) {
    op.apply(db, ctx);
    op.answer(Ok(()));
}

/// Applies one operation on `db` now (a write in a transaction of its own) and returns its
/// answer: how `Admin` runs every call, and how a test drives the path without an actor.
pub(crate) fn run<A: Args>(db: Db<'_>, ctx: &StoreCtx, args: A) -> Result<A::Out, StoreError> {
    let (port, mut answer) = ractor::concurrency::oneshot();
    let op = args.into_op(Reply::Port(port.into()));
    match op.access() {
        Access::Write => commit(db, ctx, &mut vec![op]),
        Access::Read => read(db, ctx, op),
    }
    // Answered before `commit` and `read` return: a Call answers, or answers as it drops.
    answer.try_recv().unwrap_or_else(|_| {
        Err(StoreError::Unavailable("the operation was dropped unanswered".to_owned()))
    })
}

/// How a write transaction begins. IMMEDIATE takes SQLite's write lock up front: a deferred
/// read-then-write transaction cannot be rescued by busy_timeout when another process (a CLI
/// enqueue) writes. PostgreSQL's default (read committed) is what its operations are written
/// for: they lock the rows they decide on (`FOR UPDATE`, `SKIP LOCKED`).
fn begin(db: Db<'_>) -> Result<(), StoreError> {
    db.batch(db.pick("BEGIN IMMEDIATE", "BEGIN"))
}

fn transaction(db: Db<'_>, ctx: &StoreCtx, ops: &mut [Op]) -> Result<(), StoreError> {
    begin(db).map_err(StoreError::failed_commit)?;
    // Almost every batch succeeds whole, so it is first applied with no savepoint at all (a
    // savepoint per operation copies every page it touches into the statement journal: a
    // tenth of the Store's work in a profile). Only when an operation failed is the batch
    // rolled back and applied again, each operation in a savepoint of its own, so the failure
    // rolls back alone. Operations are plain data: applying one twice is applying it once.
    let applied = if apply_whole(db, ctx, ops) { Ok(()) } else { again_guarded(db, ctx, ops) };
    match applied.and_then(|()| db.batch("COMMIT")) {
        Ok(()) => {
            ctx.notices.committed();
            Ok(())
        }
        Err(e) => {
            ctx.notices.rolled_back();
            let _ = db.batch("ROLLBACK");
            Err(StoreError::failed_commit(e))
        }
    }
}

/// Applies every operation straight into the transaction; false when one failed (the batch
/// must then be applied again, guarded).
fn apply_whole(db: Db<'_>, ctx: &StoreCtx, ops: &mut [Op]) -> bool {
    ctx.guarded.set(false);
    let all = ops.iter_mut().all(|op| op.apply(db, ctx));
    ctx.guarded.set(true);
    all
}

/// Undoes the unguarded attempt and applies the batch again, a savepoint per operation.
fn again_guarded(db: Db<'_>, ctx: &StoreCtx, ops: &mut [Op]) -> Result<(), StoreError> {
    ctx.notices.rolled_back();
    db.batch("ROLLBACK")?;
    begin(db)?;
    apply_each(db, ctx, ops)
}

fn apply_each(db: Db<'_>, ctx: &StoreCtx, ops: &mut [Op]) -> Result<(), StoreError> {
    for op in ops.iter_mut() {
        db.exec("SAVEPOINT op", ps![])?;
        let mark = ctx.notices.mark();
        if op.apply(db, ctx) {
            db.exec("RELEASE op", ps![])?;
        } else {
            ctx.notices.roll_back_to(mark);
            db.exec("ROLLBACK TO op", ps![])?;
            db.exec("RELEASE op", ps![])?;
        }
    }
    Ok(())
}
