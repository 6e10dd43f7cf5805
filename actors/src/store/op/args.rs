//! The arguments of each Store operation, one struct per variant of `Op`. Plain data: they
//! name what to do and never touch the database.

use std::time::Duration;

use super::super::fail::Recovery;
use super::super::retention::PruneBatch;
use super::super::{Charge, Round};
use crate::alerts::AlertKind;
use crate::clock::Timestamp;
use crate::job::{DeadQuery, JobQuery, NewJob, Selector};

/// Enqueue one job (idempotent on its key).
#[derive(Debug)]
pub(crate) struct EnqueueArgs {
    pub(crate) job: NewJob,
    pub(crate) now: Timestamp,
}

/// Enqueue many jobs as one: all are checked first, so a bad one writes nothing.
#[derive(Debug)]
pub(crate) struct EnqueueAllArgs {
    pub(crate) jobs: Vec<NewJob>,
    pub(crate) now: Timestamp,
}

/// A Dispatcher round: settle, insert, claim.
#[derive(Debug)]
pub(crate) struct RoundArgs {
    pub(crate) round: Round,
    pub(crate) now: Timestamp,
}

/// Extend the leases `(key, token)` by `lease`.
#[derive(Debug)]
pub(crate) struct HeartbeatArgs {
    pub(crate) leases: Vec<(String, String)>,
    pub(crate) lease: Duration,
    pub(crate) now: Timestamp,
}

/// Fail every attempt whose lease `owner` (a crashed worker incarnation) holds.
#[derive(Debug)]
pub(crate) struct FailOwnerArgs {
    pub(crate) owner: String,
    pub(crate) error: String,
    pub(crate) now: Timestamp,
}

/// Count an interrupted attempt for the running jobs `which` selects.
#[derive(Debug)]
pub(crate) struct RecoverArgs {
    pub(crate) which: Recovery,
    pub(crate) now: Timestamp,
}

/// Store a signal's payload for the job waiting for it.
#[derive(Debug)]
pub(crate) struct SignalArgs {
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) payload: String,
    pub(crate) now: Timestamp,
}

/// Cancel jobs.
#[derive(Debug)]
pub(crate) struct CancelArgs {
    pub(crate) which: super::super::CancelWhich,
    pub(crate) now: Timestamp,
}

/// Move dead letters back to the queue, due at once.
#[derive(Debug)]
pub(crate) struct ReplayArgs {
    pub(crate) which: Selector,
    pub(crate) now: Timestamp,
    /// Whether the replayed jobs keep their recorded steps.
    pub(crate) steps: ReplaySteps,
}

/// What a replay does with the replayed jobs' recorded steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplaySteps {
    /// Kept: the job resumes after its last recorded step (`dlq replay`).
    Keep,
    /// Deleted: the job starts over (`dlq replay --fresh`).
    Forget,
}

/// Read a running job's step, extending its lease `(key, token)`.
#[derive(Debug)]
pub(crate) struct StepGetArgs {
    pub(crate) key: String,
    pub(crate) token: String,
    pub(crate) name: String,
    pub(crate) lease: Duration,
    pub(crate) now: Timestamp,
}

/// Record a running job's step and charge its cost, extending its lease `(key, token)`.
#[derive(Debug)]
pub(crate) struct StepPutArgs {
    pub(crate) key: String,
    pub(crate) token: String,
    pub(crate) name: String,
    pub(crate) output: String,
    pub(crate) charge: Charge,
    pub(crate) lease: Duration,
    pub(crate) now: Timestamp,
}

/// The steps recorded for a job.
#[derive(Debug)]
pub(crate) struct StepsArgs {
    pub(crate) key: String,
}

/// Delete dead letters for good.
#[derive(Debug)]
pub(crate) struct PurgeDeadArgs {
    pub(crate) which: Selector,
}

/// Delete pending and finished jobs for good (running ones are refused).
#[derive(Debug)]
pub(crate) struct PurgeJobsArgs {
    pub(crate) keys: Vec<String>,
}

/// One retention batch, across the kinds of a round.
#[derive(Debug)]
pub(crate) struct PruneBatchArgs {
    pub(crate) batch: PruneBatch,
    pub(crate) now: Timestamp,
}

/// Turn the kill switch on (with a reason) or off.
#[derive(Debug)]
pub(crate) struct SetPausedArgs {
    pub(crate) paused: bool,
    pub(crate) reason: Option<String>,
    pub(crate) now: Timestamp,
}

/// Record the daily cap this runner holds claims to (the Store's own configured cap).
#[derive(Debug)]
pub(crate) struct RecordCapArgs {
    pub(crate) set_by: Option<String>,
    pub(crate) now: Timestamp,
}

/// Owe an alert of `kind`, deliverable at once.
#[derive(Debug)]
pub(crate) struct OweAlertArgs {
    pub(crate) kind: AlertKind,
    pub(crate) body: serde_json::Value,
    pub(crate) now: Timestamp,
}

/// Record an alert delivered.
#[derive(Debug)]
pub(crate) struct AlertDeliveredArgs {
    pub(crate) id: i64,
    pub(crate) now: Timestamp,
}

/// Alerts due by `now`, and the next due time among the rest.
#[derive(Debug)]
pub(crate) struct AlertsDueArgs {
    pub(crate) now: Timestamp,
    pub(crate) limit: u32,
}

/// Every dead-letter alert held for the DeadLetter actor's decision.
#[derive(Debug)]
pub(crate) struct AlertsHeldArgs;

/// Release held dead-letter alerts: each alone (`digest` None), or as one digest.
#[derive(Debug)]
pub(crate) struct AlertsReleaseArgs {
    pub(crate) ids: Vec<i64>,
    pub(crate) digest: Option<i64>,
    pub(crate) now: Timestamp,
}

/// Alerts taken for delivery by an Alert actor that was killed before recording them, by the
/// time their delivery lease ends: due again at `now`.
#[derive(Debug)]
pub(crate) struct AlertsGiveBackArgs {
    pub(crate) leases: Vec<Timestamp>,
    pub(crate) now: Timestamp,
}

/// The kill switch and its reason.
#[derive(Debug)]
pub(crate) struct PauseStateArgs;

/// Counts, gates and spend.
#[derive(Debug)]
pub(crate) struct StatusArgs {
    pub(crate) now: Timestamp,
}

/// `status --prom`: `status` with the tallies by queue.
#[derive(Debug)]
pub(crate) struct TalliesArgs {
    pub(crate) now: Timestamp,
}

/// The dashboard's hourly activity: the last `hours` UTC hours up to `now`.
#[derive(Debug)]
pub(crate) struct ActivityArgs {
    pub(crate) hours: u32,
    pub(crate) now: Timestamp,
}

/// The alert outbox's newest rows.
#[derive(Debug)]
pub(crate) struct OutboxArgs {
    pub(crate) limit: u32,
}

/// The newest tick key of each schedule named.
#[derive(Debug)]
pub(crate) struct NewestTicksArgs {
    pub(crate) schedules: Vec<String>,
}

/// One job by key.
#[derive(Debug)]
pub(crate) struct JobArgs {
    pub(crate) key: String,
}

/// A page of jobs, newest first.
#[derive(Debug)]
pub(crate) struct JobsArgs {
    pub(crate) query: JobQuery,
}

/// How many jobs [`JobsArgs`] would list without a limit or a cursor.
#[derive(Debug)]
pub(crate) struct CountJobsArgs {
    pub(crate) query: JobQuery,
}

/// One dead letter by key.
#[derive(Debug)]
pub(crate) struct DeadLetterArgs {
    pub(crate) key: String,
}

/// A page of dead letters, newest first.
#[derive(Debug)]
pub(crate) struct DeadLettersArgs {
    pub(crate) query: DeadQuery,
}

/// The spend ledger of the last `days` UTC days.
#[derive(Debug)]
pub(crate) struct SpendArgs {
    pub(crate) days: u32,
    pub(crate) now: Timestamp,
}

/// The spend ledger of the last `days` UTC days, grouped `by`.
#[derive(Debug)]
pub(crate) struct SpendByArgs {
    pub(crate) by: crate::job::SpendBy,
    pub(crate) days: u32,
    pub(crate) now: Timestamp,
}

/// What a drain waits on.
#[derive(Debug)]
pub(crate) struct DrainStateArgs {
    pub(crate) now: Timestamp,
}

/// When the next pending job falls due.
#[derive(Debug)]
pub(crate) struct NextDueArgs;

/// Whether a running attempt's lease is still held.
#[derive(Debug)]
pub(crate) struct LeaseHeldArgs {
    pub(crate) key: String,
    pub(crate) token: String,
}

/// The earliest deadline of a waiting job.
#[derive(Debug)]
pub(crate) struct NextWaitArgs;

/// This runner's row written or its heartbeat refreshed (PostgreSQL).
#[derive(Debug)]
pub(crate) struct RunnerBeatArgs {
    pub(crate) me: super::super::runners::RunnerRow,
}

/// This runner's row removed: it stops (PostgreSQL).
#[derive(Debug)]
pub(crate) struct RunnerGoneArgs {
    pub(crate) instance: String,
}

/// The runners with a heartbeat at or after `since` (PostgreSQL; none on SQLite).
#[derive(Debug)]
pub(crate) struct RunnersArgs {
    pub(crate) since: Timestamp,
}

/// A test's own SQL, run as one operation of a batch.
#[cfg(test)]
pub(crate) struct ProbeArgs(
    #[allow(clippy::type_complexity)]
    pub(crate)  Box<
        dyn Fn(
                &rusqlite::Connection,
                &super::super::StoreCtx,
            ) -> Result<(), crate::error::StoreError>
            + Send,
    >,
);

#[cfg(test)]
impl std::fmt::Debug for ProbeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProbeArgs")
    }
}
