//! Direct access to a database for the commands that run beside a runner (`enqueue`, `status`,
//! `jobs`, `dlq`, `pause`): no actors and no runner lock. Each call builds one of the Store's
//! own operations (`store::op::Op`) and applies it through the Store's own path, a write in its
//! own `BEGIN IMMEDIATE` transaction under `busy_timeout`; it never runs SQL of its own. A
//! running runner notices the commit at its next look at `data_version` (gates at its next
//! claim).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use crate::clock::{Clock, Timestamp};
use crate::config::EngineConfig;
use crate::error::StoreError;
use crate::job::{
    DaySpend, DeadJob, DeadQuery, Enqueued, JobPage, JobQuery, JobRecord, JobStatus, NewJob,
    PurgedJobs, Selector, Status, StepRecord,
};
use crate::store::db::Db;
use crate::store::op::{self, *};
use crate::store::retention::{PruneBatch, PruneKind};
use crate::store::{StoreCtx, open, pg};

/// The connection an `Admin` works through.
enum Conn {
    Lite(Connection),
    /// PostgreSQL's connection, on its thread (see `store::pg`).
    Pg(pg::Link),
}

/// An open database, for administration.
pub struct Admin {
    conn: Conn,
    ctx: StoreCtx,
    clock: Arc<dyn Clock>,
    /// For [`Admin::prune`]: the batch size and the schedules whose newest tick is kept.
    retention: crate::config::RetentionConfig,
}

impl Admin {
    /// Opens an existing database; refuses a missing, empty, foreign or read-only file.
    pub fn open(config: &EngineConfig) -> Result<Self, StoreError> {
        if let Some(url) = pg::url_of(&config.db) {
            return Self::connect(config, url, false);
        }
        open::check_existing(&config.db)?;
        Self::open_or_create(config)
    }

    /// Opens the database, creating it (and its schema) if the file is missing.
    pub fn create(config: &EngineConfig) -> Result<Self, StoreError> {
        if let Some(url) = pg::url_of(&config.db) {
            return Self::connect(config, url, true);
        }
        if config.db.exists() {
            open::check_existing(&config.db)?;
        }
        Self::open_or_create(config)
    }

    fn open_or_create(config: &EngineConfig) -> Result<Self, StoreError> {
        let conn = Conn::Lite(open::open(&config.db, config.synchronous, false)?);
        Ok(Self::with(config, conn))
    }

    fn connect(config: &EngineConfig, url: &str, create: bool) -> Result<Self, StoreError> {
        let link = pg::Link::open(url, create, StoreCtx::from_config(config))?;
        Ok(Self::with(config, Conn::Pg(link)))
    }

    fn with(config: &EngineConfig, conn: Conn) -> Self {
        let ctx = StoreCtx::from_config(config);
        Self { conn, ctx, clock: config.clock.clone(), retention: config.retention.clone() }
    }

    /// Checks that `db` exists and is a SQLite file, without opening it (a PostgreSQL URL is
    /// checked by connecting).
    pub fn check(db: &Path) -> Result<(), StoreError> {
        if pg::url_of(db).is_some() {
            return Ok(());
        }
        open::check_existing(db)
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Applies one Store operation through the Store's own path (`store::op`): a write in a
    /// `BEGIN IMMEDIATE` transaction of its own under `busy_timeout`, a read as the database
    /// stands.
    fn run<A: Args>(&self, args: A) -> Result<A::Out, StoreError> {
        match &self.conn {
            Conn::Lite(conn) => op::run(Db::Lite(conn), &self.ctx, args),
            Conn::Pg(link) => link.run(move |pg, ctx| op::run(Db::Pg(pg), ctx, args))?,
        }
    }

    /// Enqueues one job.
    pub fn enqueue(&mut self, job: &NewJob) -> Result<Enqueued, StoreError> {
        self.run(EnqueueArgs { job: job.clone(), now: self.now() })
    }

    /// Enqueues many jobs in one transaction: all are validated first, so a bad one writes
    /// nothing; then each is enqueued idempotently.
    pub fn enqueue_all(&mut self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        self.run(EnqueueAllArgs { jobs: jobs.to_vec(), now: self.now() })
    }

    /// Counts, gates and spend.
    pub fn status(&self) -> Result<Status, StoreError> {
        self.run(StatusArgs { now: self.now() })
    }

    /// What `status --prom` shows: [`Admin::status`] with the breaker's state and the tallies
    /// by queue. Reads every row of `jobs` and `dead_letter` (in aggregate), unlike `status`.
    pub fn tallies(&self) -> Result<crate::Tallies, StoreError> {
        self.run(TalliesArgs { now: self.now() })
    }

    /// One job by key.
    pub fn job(&self, key: &str) -> Result<Option<JobRecord>, StoreError> {
        self.run(JobArgs { key: key.to_owned() })
    }

    /// Jobs, optionally of one status and queue, the newest (last inserted) first.
    pub fn jobs(
        &self,
        status: Option<JobStatus>,
        queue: Option<&str>,
        limit: u32,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let query =
            JobQuery { status, queue: queue.map(str::to_owned), limit, ..JobQuery::default() };
        Ok(self.jobs_page(&query)?.jobs)
    }

    /// A page of jobs, the newest (last inserted) first: filtered by status, queue and key
    /// prefix, continuing after the page whose [`JobPage::next`] is `query.after`.
    pub fn jobs_page(&self, query: &JobQuery) -> Result<JobPage, StoreError> {
        self.run(JobsArgs { query: query.clone() })
    }

    /// How many jobs [`Admin::jobs`] would list without a limit.
    pub fn count_jobs(
        &self,
        status: Option<JobStatus>,
        queue: Option<&str>,
    ) -> Result<u64, StoreError> {
        let query = JobQuery { status, queue: queue.map(str::to_owned), ..JobQuery::default() };
        self.count_matching(&query)
    }

    /// How many jobs [`Admin::jobs_page`] would list for `query` without a limit or a cursor.
    pub fn count_matching(&self, query: &JobQuery) -> Result<u64, StoreError> {
        self.run(CountJobsArgs { query: query.clone() })
    }

    /// One dead-lettered job.
    pub fn dead_letter(&self, key: &str) -> Result<Option<DeadJob>, StoreError> {
        self.run(DeadLetterArgs { key: key.to_owned() })
    }

    /// Dead-lettered jobs, newest first.
    pub fn dead_letters(&self, limit: u32) -> Result<Vec<DeadJob>, StoreError> {
        self.dead_letters_page(&DeadQuery { limit, ..DeadQuery::default() })
    }

    /// Dead-lettered jobs that `query` filters, newest first, after `query.after`.
    pub fn dead_letters_page(&self, query: &DeadQuery) -> Result<Vec<DeadJob>, StoreError> {
        self.run(DeadLettersArgs { query: query.clone() })
    }

    /// Moves dead-lettered jobs back to the queue, due at once; returns the keys moved.
    pub fn replay(&mut self, which: &Selector) -> Result<Vec<String>, StoreError> {
        self.run(ReplayArgs { which: which.clone(), now: self.now(), steps: ReplaySteps::Keep })
    }

    /// Like [`Admin::replay`], but the replayed jobs start over: their recorded steps are
    /// deleted in the same transaction (`dlq replay --fresh`).
    pub fn replay_fresh(&mut self, which: &Selector) -> Result<Vec<String>, StoreError> {
        self.run(ReplayArgs { which: which.clone(), now: self.now(), steps: ReplaySteps::Forget })
    }

    /// Stores `payload` as the step `name` of the job `key` waiting for the signal `name`,
    /// and makes it due now (`nightshift signal`); a job that does not wait for it is left as
    /// it was. A runner notices at its next look at the database.
    pub fn signal(
        &mut self,
        key: &str,
        name: &str,
        payload: &str,
    ) -> Result<crate::Signalled, StoreError> {
        let (key, name, payload) = (key.to_owned(), name.to_owned(), payload.to_owned());
        self.run(SignalArgs { key, name, payload, now: self.now() })
    }

    /// Cancels the jobs `keys`, or (with `queue`) every pending, waiting or running job of
    /// that queue (`nightshift cancel`). A running one's runner stops its handler when it
    /// notices (within its watch interval).
    pub fn cancel(
        &mut self,
        keys: &[String],
        queue: Option<&str>,
    ) -> Result<Vec<crate::Cancelled>, StoreError> {
        let which = match queue {
            Some(q) => crate::store::CancelWhich::Queue(q.to_owned()),
            None => crate::store::CancelWhich::Keys(keys.to_vec()),
        };
        self.run(CancelArgs { which, now: self.now() })
    }

    /// The steps recorded for the job `key`, oldest first (`jobs show`).
    pub fn steps(&self, key: &str) -> Result<Vec<StepRecord>, StoreError> {
        self.run(StepsArgs { key: key.to_owned() })
    }

    /// Deletes dead-lettered jobs for good; returns the keys deleted.
    pub fn purge(&mut self, which: &Selector) -> Result<Vec<String>, StoreError> {
        self.run(PurgeDeadArgs { which: which.clone() })
    }

    /// Deletes pending and finished jobs from `jobs` for good, so their keys can be enqueued
    /// afresh; running jobs are left as they are and reported, like keys not in `jobs`.
    pub fn purge_jobs(&mut self, keys: &[String]) -> Result<PurgedJobs, StoreError> {
        self.run(PurgeJobsArgs { keys: keys.to_vec() })
    }

    /// Deletes every `kind` row older than `older_than` by retention's rules (done jobs only,
    /// never the newest tick of a schedule, never today's spend, never an undelivered alert),
    /// one batch per transaction so a runner beside it waits for one batch at most. Returns
    /// how many rows went.
    pub fn prune(&mut self, kind: PruneKind, older_than: Duration) -> Result<u64, StoreError> {
        let limit = self.retention.batch.max(1);
        let schedules: Arc<[String]> = self.retention.schedules.clone().into();
        let batch = PruneBatch { kinds: vec![(kind, older_than)], limit, schedules };
        let mut total = 0;
        loop {
            let deleted = self.run(PruneBatchArgs { batch: batch.clone(), now: self.now() })?;
            let n = deleted.first().copied().unwrap_or(0);
            total += n;
            if n < u64::from(limit) {
                return Ok(total);
            }
        }
    }

    /// The spend ledger of the last `days` UTC days, newest first.
    pub fn spend(&self, days: u32) -> Result<Vec<DaySpend>, StoreError> {
        self.run(SpendArgs { days, now: self.now() })
    }

    /// The spend ledger of the last `days` UTC days, per model or per queue, the costliest
    /// first.
    pub fn spend_by(
        &self,
        by: crate::SpendBy,
        days: u32,
    ) -> Result<Vec<crate::GroupSpend>, StoreError> {
        self.run(SpendByArgs { by, days, now: self.now() })
    }

    /// Jobs done, attempts failed and jobs dead-lettered in each of the last `hours` UTC
    /// hours, oldest first; the last hour is the one now is in.
    pub fn activity(&self, hours: u32) -> Result<Vec<crate::HourActivity>, StoreError> {
        self.run(ActivityArgs { hours, now: self.now() })
    }

    /// The alert outbox's newest `limit` rows, newest first.
    pub fn alerts(&self, limit: u32) -> Result<Vec<crate::OutboxAlert>, StoreError> {
        self.run(OutboxArgs { limit })
    }

    /// The newest tick key (`name@YYYY-MM-DDTHH:MM:SSZ`) of each schedule named, in `jobs` or
    /// the dead letter; `None` where it has none.
    pub fn newest_ticks(&self, schedules: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        self.run(NewestTicksArgs { schedules: schedules.to_vec() })
    }

    /// The runners whose heartbeat is at or after `since` (PostgreSQL; SQLite has its lock
    /// file instead, see [`crate::runner_holder`]).
    pub fn runners(&self, since: Timestamp) -> Result<Vec<crate::RunnerRow>, StoreError> {
        self.run(RunnersArgs { since })
    }

    /// Turns the kill switch on or off; returns whether it changed.
    pub fn set_paused(&mut self, paused: bool, reason: Option<&str>) -> Result<bool, StoreError> {
        self.run(SetPausedArgs { paused, reason: reason.map(str::to_owned), now: self.now() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_refused_by_a_busy_database_is_transient_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let config = EngineConfig::new(dir.path().join("t.db"));
        let mut admin = Admin::create(&config).unwrap();
        let Conn::Lite(conn) = &admin.conn else { unreachable!() };
        conn.busy_timeout(Duration::ZERO).unwrap();
        // A runner (another connection) holds the write lock.
        let runner = Connection::open(&config.db).unwrap();
        runner.execute_batch("BEGIN IMMEDIATE").unwrap();
        let refused = admin.enqueue(&NewJob::new("k", "{}")).unwrap_err();
        assert!(matches!(refused, StoreError::Commit(_)) && refused.is_transient(), "{refused:?}");
        runner.execute_batch("ROLLBACK").unwrap();
        assert_eq!(admin.job("k").unwrap(), None);
        assert_eq!(admin.enqueue(&NewJob::new("k", "{}")).unwrap(), Enqueued::Enqueued);
    }

    #[test]
    fn postgres_enqueues_idempotently_through_the_same_operations() {
        let Some(scratch) = crate::testing::ScratchDb::create("admin::postgres_enqueues") else {
            return;
        };
        let config = EngineConfig::new(scratch.url());
        let refused = Admin::open(&config).err().expect("no schema yet");
        assert!(matches!(refused, StoreError::Missing(_)), "{refused}");
        let mut admin = Admin::create(&config).unwrap();
        assert_eq!(
            admin.enqueue(&NewJob::new("k", "{\"b\": 1, \"a\": 2}")).unwrap(),
            Enqueued::Enqueued
        );
        let again = admin.enqueue(&NewJob::new("k", "{\"b\": 1, \"a\": 2}")).unwrap();
        assert_eq!(again, Enqueued::Duplicate { status: JobStatus::Pending }, "byte for byte");
        let other = admin.enqueue(&NewJob::new("k", "{\"a\": 2, \"b\": 1}")).unwrap();
        assert_eq!(other, Enqueued::Conflict { status: JobStatus::Pending });
        drop(admin);
        Admin::open(&config).expect("the schema is there now");
    }
}
