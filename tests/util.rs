//! The test harness: temp databases, a private PostgreSQL cluster to restart, a test handler
//! built from a closure, a recording webhook sink on 127.0.0.1:0, captured tracing events, and
//! waits on conditions with deadlines.

#![allow(dead_code)]

pub mod browser;
pub mod checker;
pub mod cli;
pub mod events;
pub mod http;
pub mod mount;
pub mod paused;
pub mod pg_cluster;
pub mod prom;
pub mod sink;
pub mod store;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nightshift_actors::{EngineConfig, Handler, Job, Outcome, RetryConfig};

/// One database for a test: a SQLite file in a temp directory (removed on drop), or a scratch
/// PostgreSQL database (dropped on drop) whose URL is `path`.
pub struct TempDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    _pg: Option<store::ScratchDb>,
}

impl TempDb {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nightshift.db");
        Self { dir, path, _pg: None }
    }

    /// A scratch PostgreSQL database, or `None` (said on stderr) when no server is there.
    pub fn postgres(test: &str) -> Option<Self> {
        let (scratch, path) = store::postgres(test)?;
        Some(Self { dir: tempfile::tempdir().expect("temp dir"), path, _pg: Some(scratch) })
    }

    /// Makes the PostgreSQL database refuse connections and cuts the ones it has.
    pub fn refuse_connections(&self) {
        self._pg.as_ref().expect("refuse_connections() is for PostgreSQL").refuse_connections();
    }

    /// Whether this is the PostgreSQL store.
    pub fn is_postgres(&self) -> bool {
        self._pg.is_some()
    }

    /// A read connection for assertions, beside the engine's writer (SQLite only).
    pub fn conn(&self) -> rusqlite::Connection {
        assert!(!self.is_postgres(), "conn() reads SQLite; use count() on both stores");
        let conn = rusqlite::Connection::open(&self.path).expect("open test db");
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn
    }

    /// One value from either store.
    pub fn count(&self, sql: &str) -> i64 {
        store::count(&self.path, sql)
    }

    /// Runs statements on either store.
    pub fn execute(&self, sql: &str) {
        store::execute(&self.path, sql)
    }
}

/// An engine config tuned for tests: small backoff, fast rescans, short leases.
pub fn config(db: &Path) -> EngineConfig {
    let mut c = EngineConfig::new(db);
    c.workers = 2;
    c.retry = RetryConfig {
        max_attempts: 4,
        base: Duration::from_millis(50),
        cap: Duration::from_secs(1),
        max_snoozes: 20,
    };
    c.poll_interval = Duration::from_millis(50);
    c.heartbeat = Duration::from_millis(200);
    c.lease = Duration::from_secs(3);
    c.timeout = Duration::from_secs(30);
    c
}

type BoxFut = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// A handler from a closure.
pub struct FnHandler(Arc<dyn Fn(Job) -> BoxFut + Send + Sync>);

pub fn handler<F, Fut>(f: F) -> FnHandler
where
    F: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    FnHandler(Arc::new(move |job| Box::pin(f(job))))
}

#[async_trait::async_trait]
impl Handler for FnHandler {
    async fn run(&self, job: Job) -> Outcome {
        (self.0)(job).await
    }
}

/// Waits until `cond` holds, polling every 10 ms; panics with `what` after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if cond().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Bounds a future that must finish; panics with `what` past `limit`.
pub async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {limit:?}: {what}"))
}
