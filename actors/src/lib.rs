//! nightshift's embeddable engine: a durable job queue in one SQLite file, worked by a ractor
//! supervision tree.
//!
//! # Layout
//!
//! - [`admin`]: direct, lock-free access for commands that run beside a runner, applying the
//!   Store's own operations through the Store's own path.
//! - [`engine`]: [`Engine::start`] / [`Engine::start_linked`] and the [`EngineHandle`] a host
//!   program drives (enqueue, status, replay, pause, drain, shutdown).
//! - `supervisor`: starts the tree in order, restarts crashed children, answers drain, shutdown
//!   and status; owns the worker table and the slots actors reach each other through (`links`).
//! - `store`: the single writer. A `ThreadLocalActor` owning the one rusqlite connection; every
//!   write is group-committed and answered only after COMMIT. Its operations are one typed enum
//!   (`store::op`); one SQL operation per file below it.
//! - `dispatcher`: owns the jobs between the table and the workers: claims for free workers,
//!   settles what they report, one Store round (one commit) at a time.
//! - `worker`: a fixed pool; each runs one job at a time with the [`Handler`], as handed out.
//! - `retry`: wake-ups for jobs whose `run_at` is in the future; the due times live in SQLite.
//! - `rescuer`: takes back jobs whose lease ran out, the interrupted attempt counted.
//! - `pruner`: deletes finished rows past their retention, a small batch at a time.
//! - `dead_letter`: learns of buried jobs and decides how their alerts go out (alone, or as one
//!   digest in a storm); serves replay and purge.
//! - `alert`: the outbox's transport: delivers released alerts to a webhook, with retries and
//!   backoff.
//! - [`alerts`]: the webhook formats (Slack, Discord, ntfy, Telegram, JSON) and one delivery.
//! - [`fields`]: an engine event's fields as JSON, for printing or recording events.
//! - [`policy`]: pure decisions with no I/O (backoff).
//! - [`job`], [`config`], [`clock`], [`error`]: the types the API speaks in.
//! - `bench` (hidden, not for host programs): the Store's operations, applied through its own
//!   path, for the criterion benchmarks in `benches/`.
#![warn(missing_docs, unreachable_pub)]

pub mod admin;
mod alert;
pub mod alerts;
#[doc(hidden)]
pub mod bench;
pub mod clock;
pub mod config;
mod dead_letter;
mod dispatcher;
pub mod engine;
pub mod error;
mod events;
pub mod fields;
pub mod job;
pub mod limit;
mod links;
mod lock;
pub mod policy;
mod pruner;
mod rescuer;
mod retry;
mod shared;
mod store;
mod supervisor;
mod wakeup;
mod worker;

pub use admin::Admin;
pub use alerts::{AlertFormat, AlertKind};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp, TokioClock};
pub use config::{AlertConfig, EngineConfig, RetentionConfig, RetryConfig, Synchronous};
pub use engine::{ChaosHandle, Engine, EngineHandle, Enqueuer, Operator};
pub use error::{EngineError, StoreError};
pub use job::AttemptError;
pub use job::PurgedJobs;
pub use job::{Cancelled, JobWait, OnTimeout, Signalled, signal_command};
pub use job::{
    DaySpend, DeadFilter, DeadJob, DeadQuery, DeadReason, Enqueued, ErrorClass, GroupSpend,
    Handler, Job, JobPage, JobQuery, JobRecord, JobStatus, NewJob, Outcome, Selector, SpendBy,
    Status, Usage,
};
pub use job::{StepAnswer, StepError, StepOutput, StepRecord, Steps};
pub use limit::{LimitConfig, LimitStatus, Rate};
pub use lock::runner_holder;
pub use policy::breaker::BreakerConfig;
pub use shared::RunState;
pub use store::activity::{HourActivity, OutboxAlert};
pub use store::gates::Gate;
pub use store::retention::PruneKind;
pub use store::runners::RunnerRow;
pub use store::tally::{DURATION_BUCKETS_MS, QueueTally, Tallies};
pub use supervisor::TreeStatus;

/// Helpers for nightshift's own test suites: a scratch PostgreSQL database per test.
#[doc(hidden)]
pub mod testing {
    pub use crate::store::pg::scratch::{ScratchDb, TEST_URL_VAR};
}

pub use store::pg::{is_url as is_postgres_url, redact as redact_url};

/// Moving a SQLite database into PostgreSQL (`nightshift migrate`).
pub mod migrate {
    pub use crate::store::migrate::{Copied, copy};
}
