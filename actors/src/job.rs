//! The job types the engine's API speaks in: what is enqueued, what a handler sees and returns,
//! and what the tables hold.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

pub(crate) mod listing;
mod reason;
mod status;
pub(crate) mod step;
mod summary;
mod usage;
mod wait;
pub use listing::{DeadFilter, DeadQuery, JobPage, JobQuery};
pub use reason::DeadReason;
pub use status::JobStatus;
pub use step::{MAX_STEP_NAME, StepAnswer, StepError, StepOutput, StepRecord, Steps};
pub use summary::Status;
pub(crate) use usage::ClassEffect;
pub use usage::{ErrorClass, GroupSpend, SpendBy, Usage};
pub use wait::{Cancelled, JobWait, OnTimeout, Signalled, signal_command};

/// A job to enqueue. Only `key` and `payload` are required; the rest default from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The idempotency key: 1 to 255 bytes of UTF-8, no control characters.
    pub key: String,
    /// UTF-8 text handed to the handler (JSON by convention).
    pub payload: String,
    /// The queue name, `default` unless set.
    pub queue: String,
    /// Attempts before the job is dead-lettered; `None` takes `[retry] max_attempts`.
    pub max_attempts: Option<u32>,
    /// Higher runs first.
    pub priority: i64,
    /// Earliest time to run; `None` is now.
    pub run_at: Option<Timestamp>,
    /// Per-job handler timeout; `None` takes the engine's.
    pub timeout: Option<Duration>,
    /// The `[[limit]]` the job counts against, if any.
    pub limit: Option<String>,
}

impl NewJob {
    /// A job on the `default` queue with the configured defaults.
    pub fn new(key: impl Into<String>, payload: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            payload: payload.into(),
            queue: "default".to_owned(),
            max_attempts: None,
            priority: 0,
            run_at: None,
            timeout: None,
            limit: None,
        }
    }
}

/// The answer to an enqueue.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Enqueued {
    /// A new row was written.
    Enqueued,
    /// The key exists with the same payload; nothing changed.
    Duplicate {
        /// The existing job's status.
        status: JobStatus,
    },
    /// The key exists with a different payload; nothing changed.
    Conflict {
        /// The existing job's status.
        status: JobStatus,
    },
    /// The key is in the dead letter; nothing changed (`replay` brings it back).
    DeadLettered,
    /// The key was cancelled (`nightshift cancel`); nothing changed.
    Cancelled,
}

/// What a handler is given: one claimed attempt of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The idempotency key; pass it downstream so a repeated attempt is recognised.
    pub key: String,
    /// The queue name.
    pub queue: String,
    /// The payload text.
    pub payload: String,
    /// This attempt's number, 1-based.
    pub attempt: u32,
    /// Attempts allowed before the job is dead-lettered.
    pub max_attempts: u32,
    /// The handler timeout for this attempt.
    pub timeout: Duration,
    /// This attempt's memoized steps ([`Job::step`]); `Steps::default()` is detached.
    pub steps: Steps,
}

/// What a handler returns for one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The job is done; `result` is kept in the `result` column.
    Success {
        /// Kept as the job's result (the command handler keeps stdout).
        result: Option<String>,
        /// Money this attempt spent, in US dollars.
        cost_usd: f64,
    },
    /// The attempt failed and may succeed later: retried with backoff until attempts run out.
    Retry {
        /// Why, kept in `last_error` and the dead letter's history.
        error: String,
        /// Money this attempt spent, in US dollars.
        cost_usd: f64,
        /// Wait this long instead of the backoff (an upstream's Retry-After).
        delay: Option<Duration>,
    },
    /// Retrying cannot help: the job is dead-lettered at once.
    Permanent {
        /// Why, kept in the dead letter.
        error: String,
        /// Money this attempt spent, in US dollars.
        cost_usd: f64,
    },
    /// Not now, and not the job's fault (an upstream's 429): the job is due again after
    /// `delay`, no attempt is counted and the breaker counts no failure. Past `[retry]
    /// max_snoozes` snoozes a snooze counts as a failed attempt. ([`Outcome::snooze`])
    Snooze {
        /// How long to wait; `None` waits the backoff of the current attempt.
        delay: Option<Duration>,
        /// Money this attempt spent, in US dollars.
        cost_usd: f64,
    },
    /// Park the job until `nightshift signal KEY NAME` (or [`EngineHandle::signal`]) stores
    /// a payload as its step `name`, or until `timeout` passes: it holds no worker meanwhile.
    /// The next attempt finds the signal with `step.get` ([`Job::step`]). A wait that times
    /// out is a failed attempt, or a dead letter when `dead_on_timeout`. ([`Outcome::wait`])
    ///
    /// [`EngineHandle::signal`]: crate::EngineHandle::signal
    Wait {
        /// The signal's name, and the step its payload is stored as.
        name: String,
        /// How long to wait for it.
        timeout: Duration,
        /// Dead-letter the job when the wait times out (else: a failed attempt).
        dead_on_timeout: bool,
        /// Money this attempt spent, in US dollars.
        cost_usd: f64,
    },
    /// A failure the upstream classified: the class decides what happens next (see
    /// [`ErrorClass`]). Built by [`Outcome::class`].
    Failed {
        /// What kind of failure.
        class: ErrorClass,
        /// Why, kept in `last_error` and the dead letter's history.
        error: String,
        /// Money this attempt spent, in US dollars.
        cost_usd: f64,
        /// Wait this long instead of the backoff (an upstream's Retry-After).
        delay: Option<Duration>,
    },
    /// `outcome`, with what the attempt used of a model, for the spend ledger. Built by
    /// [`Outcome::usage`].
    Metered {
        /// How the attempt ended.
        outcome: Box<Outcome>,
        /// The model and tokens it used.
        usage: Usage,
    },
    /// The job never ran, for a reason that is the runner's and not the job's (the handler
    /// program is gone). The job goes back to `pending` without counting an attempt, and the
    /// engine stops claiming and fails with `error`, so the host exits non-zero and a person
    /// fixes the runner instead of watching good jobs burn their attempts.
    RunnerFailed {
        /// What is wrong with the runner, and the fix.
        error: String,
    },
}

impl Outcome {
    /// Success with no result and no cost.
    pub fn success() -> Self {
        Outcome::Success { result: None, cost_usd: 0.0 }
    }

    /// A retryable failure with the backoff delay.
    pub fn retry(error: impl Into<String>) -> Self {
        Outcome::Retry { error: error.into(), cost_usd: 0.0, delay: None }
    }

    /// A permanent failure.
    pub fn permanent(error: impl Into<String>) -> Self {
        Outcome::Permanent { error: error.into(), cost_usd: 0.0 }
    }

    /// The attempt's cost in US dollars.
    pub fn cost_usd(&self) -> f64 {
        match self {
            Outcome::Success { cost_usd, .. }
            | Outcome::Retry { cost_usd, .. }
            | Outcome::Permanent { cost_usd, .. }
            | Outcome::Snooze { cost_usd, .. }
            | Outcome::Wait { cost_usd, .. }
            | Outcome::Failed { cost_usd, .. } => *cost_usd,
            Outcome::Metered { outcome, .. } => outcome.cost_usd(),
            Outcome::RunnerFailed { .. } => 0.0,
        }
    }
}

/// The code a host program plugs in: runs one attempt of a job.
///
/// Handlers must be idempotent on `job.key`: delivery is at least once, and an attempt may be
/// cut short (worker killed, shutdown past the grace period) and run again. A panic is counted
/// as a failed attempt.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Runs one attempt.
    async fn run(&self, job: Job) -> Outcome;
}

/// A row of `dead_letter`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadJob {
    /// The idempotency key.
    pub key: String,
    /// The queue name.
    pub queue: String,
    /// The payload text.
    pub payload: String,
    /// The last attempt's error.
    pub error: String,
    /// Attempts made.
    pub attempts: u32,
    /// When it was buried, unix ms like every other time here (the `died` column holds
    /// seconds, as DESIGN.md section 4 fixes it).
    pub died: Timestamp,
    /// Why it was buried.
    pub reason: DeadReason,
    /// Every attempt's error and time, oldest first (the `errors` column's JSON array).
    pub errors: Vec<AttemptError>,
}

/// One failed attempt in a dead-lettered job's history.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptError {
    /// The attempt, 1-based (what the handler saw as `NIGHTSHIFT_ATTEMPT`).
    pub attempt: u32,
    /// What went wrong.
    pub error: String,
    /// When it failed, unix ms.
    pub at: Timestamp,
    /// When it started, unix ms (absent from attempts recorded before nightshift kept it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// What it cost, micro-dollars (absent: nothing reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_micros: Option<i64>,
}

/// A row of `jobs`, as `jobs show` and tests read it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRecord {
    /// The idempotency key.
    pub key: String,
    /// The queue name.
    pub queue: String,
    /// The payload text.
    pub payload: String,
    /// `pending`, `running` or `done`.
    pub status: JobStatus,
    /// Failed or interrupted attempts so far.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Times the job was snoozed (not counted as attempts), against `[retry] max_snoozes`.
    pub snoozes: u32,
    /// Higher runs first.
    pub priority: i64,
    /// When it may next run, unix ms.
    pub run_at: Timestamp,
    /// The last failed attempt's error.
    pub last_error: Option<String>,
    /// The handler's result, once done.
    pub result: Option<String>,
    /// When the running or last attempt started, unix ms (none before the first).
    pub started_at: Option<Timestamp>,
    /// When the job was done, unix ms.
    pub finished_at: Option<Timestamp>,
    /// What the attempt that finished the job cost, micro-dollars (none: nothing reported).
    pub cost_micros: Option<i64>,
    /// Every failed or interrupted attempt, oldest first: its error, start, end and cost.
    pub errors: Vec<AttemptError>,
    /// The `[[limit]]` it counts against: the one it named, or the one listing its queue (null:
    /// none).
    pub limit: Option<String>,
    /// What it waits for, while it is `waiting` (null otherwise).
    pub wait: Option<JobWait>,
}

impl JobRecord {
    /// Attempts started so far, the one running included: `attempts` counts failed ones, and a
    /// running or done job has made one more (a job done on its first try made 1, and ran
    /// with `NIGHTSHIFT_ATTEMPT=1`).
    pub fn attempts_made(&self) -> u32 {
        match self.status {
            JobStatus::Pending | JobStatus::Cancelled => self.attempts,
            // A waiting job's attempt ran, uncounted (the next runs under the same number).
            JobStatus::Running | JobStatus::Done | JobStatus::Waiting => {
                self.attempts.saturating_add(1)
            }
        }
    }
}

/// One UTC day of the spend ledger.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaySpend {
    /// The UTC date, `YYYY-MM-DD`.
    pub day: String,
    /// Cost recorded that day, micro-dollars.
    pub micros: i64,
    /// Attempts that recorded a cost.
    pub attempts: u64,
}

/// Which dead-lettered jobs a replay or purge takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// These keys.
    Keys(Vec<String>),
    /// Every row.
    All,
    /// The rows of a queue, or of a reason, or both.
    Matching(DeadFilter),
}

/// What a purge from `jobs` did, key by key.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgedJobs {
    /// Pending or finished jobs deleted for good.
    pub purged: Vec<String>,
    /// Jobs left as they are because a worker is running them.
    pub running: Vec<String>,
    /// Keys not in `jobs`.
    pub missing: Vec<String>,
}
