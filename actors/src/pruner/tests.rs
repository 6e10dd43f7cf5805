//! The Pruner on paused tokio time, against the inline Store stand-in, so advancing the clock is
//! the only thing that makes a round happen.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorRef};
use rusqlite::{Connection, params};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

use super::Pruner;
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::config::{RetentionConfig, Synchronous};
use crate::store::inline::InlineStore;
use crate::store::open;

/// The `done` counts of the `pruned` events logged on this thread.
#[derive(Clone, Default)]
struct Pruned(Arc<Mutex<Vec<u64>>>);

impl<S: tracing::Subscriber> Layer<S> for Pruned {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let fields = crate::fields::fields(event);
        if fields.get("event").and_then(|v| v.as_str()) == Some("pruned") {
            let done = fields.get("done").and_then(|v| v.as_u64()).unwrap_or(0);
            self.0.lock().unwrap().push(done);
        }
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    conn: Connection,
    writes: Arc<AtomicUsize>,
    pruned: Pruned,
    _events: tracing::subscriber::DefaultGuard,
    pruner: ActorRef<super::PrunerMsg>,
}

impl Setup {
    /// A Pruner keeping done jobs an hour, every ten minutes, two rows a batch, over a
    /// database that already holds `old` done jobs finished two hours ago.
    async fn start(old: usize) -> Self {
        Self::start_keeping(old, None).await
    }

    /// As [`Setup::start`], keeping dead letters, spend days and delivered alerts `others` long
    /// too (`None`: forever).
    async fn start_keeping(old: usize, others: Option<Duration>) -> Self {
        let pruned = Pruned::default();
        let events =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(pruned.clone()));
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let conn = open::open(&db, Synchronous::Normal, false).unwrap();
        add_done(&conn, "before", old, SystemClock.now() - Duration::from_secs(7_200));
        add_done(&conn, "young", 1, SystemClock.now());
        let (handle, writes) = InlineStore::start(&db).await;
        let retention = RetentionConfig {
            done: Some(Duration::from_secs(3600)),
            dead: others,
            spend: others,
            alerts: others,
            every: Duration::from_secs(600),
            batch: 2,
            schedules: Vec::new(),
        };
        let actor = Pruner { store: handle, retention, clock: Arc::new(SystemClock) };
        let (pruner, _) = Actor::spawn(None, actor, ()).await.unwrap();
        Setup { _dir: dir, conn, writes, pruned, _events: events, pruner }
    }

    fn done(&self) -> i64 {
        self.conn.query_row("SELECT count(*) FROM jobs", [], |r| r.get(0)).unwrap()
    }

    fn pruned(&self) -> Vec<u64> {
        self.pruned.0.lock().unwrap().clone()
    }
}

fn add_done(conn: &Connection, prefix: &str, n: usize, finished_at: Timestamp) {
    for i in 0..n {
        conn.execute(
            "INSERT INTO jobs (key, payload, status, max_attempts, run_at, created_at, updated_at,
                               finished_at)
             VALUES (?1, '{}', 'done', 4, 0, 0, 0, ?2)",
            params![format!("{prefix}-{i}"), finished_at],
        )
        .unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_round_runs_at_start_then_every_interval_a_batch_per_store_write() {
    let started = tokio::time::Instant::now();
    let s = Setup::start(5).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(s.done(), 1, "only the young job is left");
    // Five rows two at a time: 2 + 2 + 1, the last short batch ending the round.
    assert_eq!(s.writes.load(Ordering::SeqCst), 3);
    assert_eq!(s.pruned(), [5]);

    add_done(&s.conn, "between", 3, SystemClock.now() - Duration::from_secs(7_200));
    tokio::time::sleep_until(started + Duration::from_secs(599)).await;
    assert_eq!(s.done(), 4, "no round before the interval");
    tokio::time::sleep_until(started + Duration::from_secs(601)).await;
    assert_eq!(s.done(), 1, "the next round came at ten minutes");
    assert_eq!(s.pruned(), [5, 3]);

    // A round that finds nothing logs nothing.
    tokio::time::sleep_until(started + Duration::from_secs(1201)).await;
    assert_eq!(s.pruned(), [5, 3]);
    assert_eq!(s.writes.load(Ordering::SeqCst), 3 + 2 + 1);
    s.pruner.stop(None);
}

#[tokio::test(start_paused = true)]
async fn a_pruner_stopped_at_once_still_finishes_its_first_round() {
    let s = Setup::start(7).await;
    s.pruner.stop_and_wait(None, None).await.unwrap();
    assert_eq!(s.done(), 1);
    assert_eq!(s.pruned(), [7]);
}

#[tokio::test(start_paused = true)]
async fn a_batch_spans_the_kinds_so_a_quiet_round_is_one_write() {
    let week = Some(Duration::from_secs(7 * 86_400));
    let quiet = Setup::start_keeping(0, week).await;
    quiet.pruner.stop_and_wait(None, None).await.unwrap();
    assert_eq!(quiet.writes.load(Ordering::SeqCst), 1, "four kinds, nothing to delete: one write");
    assert_eq!(quiet.pruned(), Vec::<u64>::new());

    // Three old done jobs, two rows a batch: the first batch spends both rows on them, the
    // second offers the other kinds their turn and takes the last job. Per kind it was five.
    let s = Setup::start_keeping(3, week).await;
    s.pruner.stop_and_wait(None, None).await.unwrap();
    assert_eq!(s.done(), 1, "only the young job is left");
    assert_eq!(s.writes.load(Ordering::SeqCst), 2);
    assert_eq!(s.pruned(), [3]);
}
