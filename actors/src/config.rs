//! The engine's configuration. The binary builds it from `nightshift.toml`, the environment and
//! flags; an embedding host builds it in code. The engine itself reads no environment.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::policy::breaker::BreakerConfig;

/// Everything the engine needs to run.
#[derive(Clone)]
pub struct EngineConfig {
    /// The SQLite file. Its directory must exist; the file is created if missing.
    pub db: PathBuf,
    /// Worker actors, each running one job at a time.
    pub workers: usize,
    /// Retry policy.
    pub retry: RetryConfig,
    /// Handler timeout for jobs that set none.
    pub timeout: Duration,
    /// How long a claim holds a job without a heartbeat.
    pub lease: Duration,
    /// How often a worker extends its lease while the handler runs.
    pub heartbeat: Duration,
    /// How often the Retry actor rescans the table: the pickup delay for jobs enqueued by
    /// another process, and the reaping interval for expired leases.
    pub poll_interval: Duration,
    /// `synchronous` pragma: FULL survives power loss, NORMAL only process crashes.
    pub synchronous: Synchronous,
    /// Largest payload accepted, bytes.
    pub max_payload: usize,
    /// Writes folded into one transaction at most; 1 commits every write alone.
    pub max_batch: usize,
    /// Store restarts allowed within `store_restart_window` before the engine gives up.
    pub store_restarts: u32,
    /// The window for `store_restarts`; on PostgreSQL also how long a Store whose connection
    /// failed keeps trying to connect again (with backoff) before the engine gives up.
    pub store_restart_window: Duration,
    /// Where alerts go.
    pub alert: AlertConfig,
    /// The daily spend cap in micro-dollars (UTC days); `None` for no cap.
    pub daily_cap_micros: Option<i64>,
    /// Where the cap came from, in the user's words (`DAILY_CAP_USD`, a config file's key).
    /// Recorded with the cap when the engine starts, so `status` anywhere can say which cap
    /// holds claims and who set it.
    pub daily_cap_set_by: Option<String>,
    /// The circuit breaker.
    pub breaker: BreakerConfig,
    /// Provider limits (`[[limit]]`) the claim honours for jobs that name them.
    pub limits: Vec<crate::limit::LimitConfig>,
    /// How long finished rows are kept, and how often the runner prunes them.
    pub retention: RetentionConfig,
    /// Wall-clock time for everything persisted.
    pub clock: Arc<dyn Clock>,
    /// Runs once the runner lock is held and before any job is claimed: the place to clean up
    /// after a runner that died (the binary kills handler processes it left behind).
    pub on_locked: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl EngineConfig {
    /// Whether `db` is a PostgreSQL URL (many runners may share it) rather than a SQLite file.
    pub fn is_postgres(&self) -> bool {
        crate::store::pg::url_of(&self.db).is_some()
    }

    /// Defaults from DESIGN.md for the database at `db`.
    pub fn new(db: impl Into<PathBuf>) -> Self {
        Self {
            db: db.into(),
            workers: 4,
            retry: RetryConfig::default(),
            timeout: Duration::from_secs(300),
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(10),
            poll_interval: Duration::from_millis(500),
            synchronous: Synchronous::Full,
            max_payload: 1024 * 1024,
            max_batch: 256,
            store_restarts: 5,
            store_restart_window: Duration::from_secs(60),
            alert: AlertConfig::default(),
            daily_cap_micros: None,
            daily_cap_set_by: None,
            breaker: BreakerConfig::default(),
            limits: Vec::new(),
            retention: RetentionConfig::default(),
            clock: Arc::new(SystemClock),
            on_locked: None,
        }
    }
}

impl fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineConfig")
            .field("db", &self.db)
            .field("workers", &self.workers)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("lease", &self.lease)
            .field("synchronous", &self.synchronous)
            .field("alert", &self.alert)
            .field("daily_cap_micros", &self.daily_cap_micros)
            .field("daily_cap_set_by", &self.daily_cap_set_by)
            .field("breaker", &self.breaker)
            .field("limits", &self.limits)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// Bounded retries with exponential backoff and jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts before a job is dead-lettered.
    pub max_attempts: u32,
    /// The first retry's delay, before jitter.
    pub base: Duration,
    /// The longest delay, before jitter.
    pub cap: Duration,
    /// Snoozes a job may take (an upstream's "not now", no attempt counted); past them, a
    /// snooze counts as a failed attempt.
    pub max_snoozes: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            max_snoozes: 20,
        }
    }
}

/// How long finished rows are kept (`None`: forever), and how often a runner prunes them. Rows
/// go a small batch at a time, the oldest first; see the `pruner` module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// `done` jobs, counted from when they finished. A key is deduplicated while its row
    /// lives: once the row is pruned, enqueueing the same key adds a new job.
    pub done: Option<Duration>,
    /// `dead_letter` rows, counted from when they died.
    pub dead: Option<Duration>,
    /// The spend ledger, by UTC day: a day's rows go once the whole day is older than this.
    /// The current day's rows are never pruned, whatever this says.
    pub spend: Option<Duration>,
    /// Delivered alerts, counted from their delivery. Undelivered ones (pending, or given up
    /// after a permanent refusal) are never pruned.
    pub alerts: Option<Duration>,
    /// How often a runner prunes; the first round runs when it starts. At least one second.
    pub every: Duration,
    /// Rows one Store operation deletes at most, so a claim never waits behind a long delete.
    pub batch: u32,
    /// The `[[schedule]]` names. The newest `name@<tick>` row of each (keys as
    /// `name@YYYY-MM-DDTHH:MM:SSZ`, in `jobs` or `dead_letter`) is kept whatever its age: a
    /// runner's catch-up may enqueue that tick again, and its row is what makes that a no-op.
    pub schedules: Vec<String>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Self {
            done: Some(Duration::from_secs(7 * DAY)),
            dead: Some(Duration::from_secs(30 * DAY)),
            spend: Some(Duration::from_secs(90 * DAY)),
            alerts: Some(Duration::from_secs(30 * DAY)),
            every: Duration::from_secs(600),
            batch: 500,
            schedules: Vec::new(),
        }
    }
}

/// SQLite's `synchronous` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync on every commit: a committed job survives power loss.
    #[default]
    Full,
    /// fsync at checkpoints: survives process crashes, may lose the last commits on power loss.
    Normal,
}

impl Synchronous {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Where and how alerts are delivered.
#[derive(Clone)]
pub struct AlertConfig {
    /// The webhook URL; it may carry a token, so it is never printed.
    pub webhook: Option<String>,
    /// The first retry's delay after a failed delivery.
    pub retry_base: Duration,
    /// The longest delay between delivery attempts.
    pub retry_cap: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// The body format: `auto` picks by the URL.
    pub format: crate::alerts::AlertFormat,
    /// How long the DeadLetter actor holds a dead-letter alert before it decides how it goes
    /// out, so a burst of them goes out as one digest instead of a storm.
    pub group_wait: Duration,
}

impl AlertConfig {
    /// Alerts to `webhook` with the default retry policy.
    pub fn webhook(url: impl Into<String>) -> Self {
        Self { webhook: Some(url.into()), ..Self::defaults() }
    }

    fn defaults() -> Self {
        Self {
            webhook: None,
            retry_base: Duration::from_secs(2),
            retry_cap: Duration::from_secs(300),
            request_timeout: Duration::from_secs(10),
            format: crate::alerts::AlertFormat::Auto,
            group_wait: Duration::from_secs(2),
        }
    }
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self::defaults()
    }
}

impl fmt::Debug for AlertConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertConfig")
            .field("webhook", &self.webhook.as_ref().map(|_| "<redacted>"))
            .field("retry_base", &self.retry_base)
            .field("retry_cap", &self.retry_cap)
            .field("format", &self.format)
            .finish()
    }
}
