//! Direct access to a database for the commands that run beside a runner (`enqueue`, `status`,
//! `jobs`, `dlq`, `pause`): no actors and no runner lock, the same SQL operations as the Store,
//! each in its own `BEGIN IMMEDIATE` transaction under `busy_timeout`. A running runner sees
//! the changes at its next rescan (gates at its next claim).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use crate::clock::{Clock, Timestamp};
use crate::config::EngineConfig;
use crate::error::StoreError;
use crate::job::{
    DaySpend, DeadJob, Enqueued, JobRecord, JobStatus, NewJob, PurgedJobs, Selector, Status,
};
use crate::store::retention::{self, PruneArgs, PruneKind};
use crate::store::{StoreCtx, control, dead, enqueue, open, purge, read};

/// An open database, for administration.
pub struct Admin {
    conn: Connection,
    ctx: StoreCtx,
    clock: Arc<dyn Clock>,
    /// For [`Admin::prune`]: the batch size and the schedules whose newest tick is kept.
    retention: crate::config::RetentionConfig,
}

impl Admin {
    /// Opens an existing database; refuses a missing, empty, foreign or read-only file.
    pub fn open(config: &EngineConfig) -> Result<Self, StoreError> {
        open::check_existing(&config.db)?;
        Self::open_or_create(config)
    }

    /// Opens the database, creating it (and its schema) if the file is missing.
    pub fn create(config: &EngineConfig) -> Result<Self, StoreError> {
        if config.db.exists() {
            open::check_existing(&config.db)?;
        }
        Self::open_or_create(config)
    }

    fn open_or_create(config: &EngineConfig) -> Result<Self, StoreError> {
        let conn = open::open(&config.db, config.synchronous, false)?;
        let ctx = StoreCtx::from_config(config);
        let retention = config.retention.clone();
        Ok(Self { conn, ctx, clock: config.clock.clone(), retention })
    }

    /// Checks that `db` exists and is a SQLite file, without opening it.
    pub fn check(db: &Path) -> Result<(), StoreError> {
        open::check_existing(db)
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Runs `f` in one IMMEDIATE transaction; rolls back on error.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Connection, &StoreCtx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx, &self.ctx).and_then(|out| Ok(tx.commit().map(|()| out)?));
        match &out {
            Ok(_) => self.ctx.notices.committed(),
            Err(_) => self.ctx.notices.rolled_back(),
        }
        out
    }

    /// Enqueues one job.
    pub fn enqueue(&mut self, job: &NewJob) -> Result<Enqueued, StoreError> {
        let now = self.now();
        self.write(|c, ctx| enqueue::run(c, ctx, job, now))
    }

    /// Enqueues many jobs in one transaction: all are validated first, so a bad one writes
    /// nothing; then each is enqueued idempotently.
    pub fn enqueue_all(&mut self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        for (i, job) in jobs.iter().enumerate() {
            enqueue::validate(job, self.ctx.max_payload).map_err(|e| {
                StoreError::InvalidValue(format!("job {} ({:?}): {e}", i + 1, job.key))
            })?;
        }
        let now = self.now();
        self.write(|c, ctx| jobs.iter().map(|job| enqueue::run(c, ctx, job, now)).collect())
    }

    /// Counts, gates and spend.
    pub fn status(&self) -> Result<Status, StoreError> {
        read::status(&self.conn, &self.ctx, self.now())
    }

    /// One job by key.
    pub fn job(&self, key: &str) -> Result<Option<JobRecord>, StoreError> {
        read::job(&self.conn, key)
    }

    /// Jobs, optionally of one status and queue, the newest (last inserted) first.
    pub fn jobs(
        &self,
        status: Option<JobStatus>,
        queue: Option<&str>,
        limit: u32,
    ) -> Result<Vec<JobRecord>, StoreError> {
        read::jobs(&self.conn, status, queue, limit)
    }

    /// How many jobs [`Admin::jobs`] would list without a limit.
    pub fn count_jobs(
        &self,
        status: Option<JobStatus>,
        queue: Option<&str>,
    ) -> Result<u64, StoreError> {
        read::count_jobs(&self.conn, status, queue)
    }

    /// One dead-lettered job.
    pub fn dead_letter(&self, key: &str) -> Result<Option<DeadJob>, StoreError> {
        dead::get(&self.conn, key)
    }

    /// Dead-lettered jobs, newest first.
    pub fn dead_letters(&self, limit: u32) -> Result<Vec<DeadJob>, StoreError> {
        dead::list(&self.conn, limit)
    }

    /// Moves dead-lettered jobs back to the queue, due at once; returns the keys moved.
    pub fn replay(&mut self, which: &Selector) -> Result<Vec<String>, StoreError> {
        let now = self.now();
        self.write(|c, _| dead::replay(c, which, now))
    }

    /// Deletes dead-lettered jobs for good; returns the keys deleted.
    pub fn purge(&mut self, which: &Selector) -> Result<Vec<String>, StoreError> {
        self.write(|c, _| dead::purge(c, which))
    }

    /// Deletes pending and finished jobs from `jobs` for good, so their keys can be enqueued
    /// afresh; running jobs are left as they are and reported, like keys not in `jobs`.
    pub fn purge_jobs(&mut self, keys: &[String]) -> Result<PurgedJobs, StoreError> {
        self.write(|c, _| purge::jobs(c, keys))
    }

    /// Deletes every `kind` row older than `older_than` by retention's rules (done jobs only,
    /// never the newest tick of a schedule, never today's spend, never an undelivered alert),
    /// one batch per transaction so a runner beside it waits for one batch at most. Returns
    /// how many rows went.
    pub fn prune(&mut self, kind: PruneKind, older_than: Duration) -> Result<u64, StoreError> {
        let limit = self.retention.batch.max(1);
        let schedules: Arc<[String]> = self.retention.schedules.clone().into();
        let args = PruneArgs { kind, older_than, limit, schedules };
        let mut total = 0;
        loop {
            let now = self.now();
            let n = self.write(|c, _| retention::run(c, &args, now))?;
            total += n;
            if n < u64::from(limit) {
                return Ok(total);
            }
        }
    }

    /// The spend ledger of the last `days` UTC days, newest first.
    pub fn spend(&self, days: u32) -> Result<Vec<DaySpend>, StoreError> {
        read::ledger(&self.conn, days, self.now())
    }

    /// Turns the kill switch on or off; returns whether it changed.
    pub fn set_paused(&mut self, paused: bool, reason: Option<&str>) -> Result<bool, StoreError> {
        let now = self.now();
        self.write(|c, _| control::set_paused(c, paused, reason, now))
    }
}
