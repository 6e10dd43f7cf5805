//! The DeadLetter actor's alert decisions on paused tokio time, against the inline Store
//! stand-in: jobs are "buried" by writing their held alert rows and announcing them, and the
//! outbox rows show what the actor released, when, alone or as one digest.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef};
use rusqlite::Connection;
use tokio::time::Instant;

use super::{DeadLetter, DeadLetterMsg};
use crate::clock::{Timestamp, TokioClock};
use crate::config::{EngineConfig, Synchronous};
use crate::job::{Handler, Job, Outcome};
use crate::shared::Shared;
use crate::store::inline::InlineStore;
use crate::store::{HeldAlert, alerts, open};

const GROUP_WAIT: Duration = Duration::from_secs(2);
/// The wall-clock time the test's clock starts at.
const START: Timestamp = Timestamp::from_millis(1_800_000_000_000);

struct Idle;

#[async_trait::async_trait]
impl Handler for Idle {
    async fn run(&self, _: Job) -> Outcome {
        Outcome::success()
    }
}

/// One released or held alert row: `(id, held, digest, next_attempt_at)`.
type Row = (i64, bool, Option<i64>, Timestamp);

struct Setup {
    _dir: tempfile::TempDir,
    conn: Connection,
    shared: Arc<Shared>,
    started: Instant,
}

impl Setup {
    fn new() -> Self {
        Self::with_webhook(None)
    }

    /// With a webhook set (never contacted: no Alert actor runs here).
    fn with_webhook(webhook: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let conn = open::open(&db, Synchronous::Normal, false).unwrap();
        let started = Instant::now();
        let mut config = EngineConfig::new(&db);
        config.clock = Arc::new(TokioClock::starting_at(START));
        config.alert.group_wait = GROUP_WAIT;
        config.alert.webhook = webhook.map(str::to_owned);
        let store = crate::store::StoreHandle::empty();
        let shared = Arc::new(Shared::new(config, Arc::new(Idle), store, "t".to_owned()));
        Setup { _dir: dir, conn, shared, started }
    }

    /// Starts the Store stand-in and the actor under test.
    async fn start(&self) -> ActorRef<DeadLetterMsg> {
        let db: &Path = &self.shared.config.db;
        let (store, _) = InlineStore::start(db).await;
        self.shared.store.replace(store.actor().unwrap());
        let (alert, dispatcher) = (crate::links::Slot::new(), crate::links::Slot::new());
        let actor = DeadLetter { shared: self.shared.clone(), alert, dispatcher };
        Actor::spawn(None, actor, ()).await.unwrap().0
    }

    /// Writes a job's held alert as its burial does, without telling the actor.
    fn owe(&self, key: &str) -> HeldAlert {
        let now = self.shared.now();
        let body = serde_json::json!({ "key": key, "error": "boom" });
        let id = alerts::owe_dead_letter((&self.conn).into(), key, &body, now).unwrap();
        HeldAlert { id, at: now }
    }

    /// Buries one job: its held alert, then the announcement.
    fn bury(&self, actor: &ActorRef<DeadLetterMsg>, key: &str) -> HeldAlert {
        let held = self.owe(key);
        actor.cast(DeadLetterMsg::Buried(held)).unwrap();
        held
    }

    /// Lets every actor act on what is due `after` the test started.
    async fn at(&self, after: Duration) {
        tokio::time::sleep_until(self.started + after).await;
    }

    fn rows(&self) -> Vec<Row> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, held, digest, next_attempt_at FROM alerts ORDER BY id")
            .unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)));
        rows.unwrap().collect::<Result<_, _>>().unwrap()
    }

    fn held(&self) -> usize {
        self.rows().iter().filter(|r| r.1).count()
    }
}

const MS: fn(u64) -> Duration = Duration::from_millis;

#[tokio::test(start_paused = true)]
async fn a_lone_dead_letter_goes_alone_once_its_group_wait_is_over() {
    let s = Setup::new();
    let actor = s.start().await;
    let held = s.bury(&actor, "poison-1");
    s.at(GROUP_WAIT - MS(1)).await;
    assert_eq!(s.held(), 1, "held until group_wait is over");
    s.at(GROUP_WAIT + MS(1)).await;
    assert_eq!(s.rows(), [(held.id, false, None, held.at + GROUP_WAIT)]);
    actor.stop(None);
}

#[tokio::test(start_paused = true)]
async fn fifty_dead_letters_in_a_burst_go_out_as_one_digest() {
    let s = Setup::new();
    let actor = s.start().await;
    let mut ids = Vec::new();
    for i in 0..50u64 {
        s.at(MS(i * 10)).await;
        ids.push(s.bury(&actor, &format!("poison-{i:02}")).id);
    }
    // The first one's wait ends with the other 49 still held: one storm.
    s.at(GROUP_WAIT - MS(1)).await;
    assert_eq!(s.held(), 50);
    s.at(GROUP_WAIT + MS(1)).await;
    let rows = s.rows();
    assert!(rows.iter().all(|r| !r.1), "every alert released: {rows:?}");
    assert!(
        rows.iter().all(|r| r.2 == Some(ids[0])),
        "all fifty in the digest named by the first: {rows:?}"
    );
    actor.stop(None);
}

#[tokio::test(start_paused = true)]
async fn dead_letters_spread_over_minutes_each_go_alone() {
    let s = Setup::new();
    let actor = s.start().await;
    for i in 0..12u64 {
        s.at(Duration::from_secs(i * 10)).await;
        s.bury(&actor, &format!("slow-{i}"));
    }
    s.at(Duration::from_secs(200)).await;
    // At most six in any minute: never a storm.
    let rows = s.rows();
    assert!(rows.iter().all(|r| !r.1 && r.2.is_none()), "{rows:?}");
    actor.stop(None);
}

#[tokio::test(start_paused = true)]
async fn past_ten_singles_in_a_minute_the_rest_fold_into_a_digest() {
    let s = Setup::new();
    let actor = s.start().await;
    for i in 0..10u64 {
        s.at(Duration::from_secs(i * 3)).await;
        s.bury(&actor, &format!("one-{i}"));
    }
    s.at(Duration::from_secs(30)).await;
    assert!(s.rows().iter().all(|r| !r.1 && r.2.is_none()), "ten singles: {:?}", s.rows());
    let a = s.bury(&actor, "more-a");
    let b = s.bury(&actor, "more-b");
    s.at(Duration::from_secs(33)).await;
    let last: Vec<Row> = s.rows().split_off(10);
    assert_eq!(
        last,
        [
            (a.id, false, Some(a.id), a.at + GROUP_WAIT),
            (b.id, false, Some(a.id), a.at + GROUP_WAIT)
        ]
    );
    actor.stop(None);
}

#[tokio::test(start_paused = true)]
async fn alerts_held_before_a_crash_are_released_by_the_next_actor() {
    let s = Setup::new();
    // Buried by a process that died before telling anyone.
    for i in 0..12 {
        s.owe(&format!("before-{i}"));
    }
    let lone = Setup::new();
    let lone_held = lone.owe("before-lone");
    let actor = s.start().await;
    let lone_actor = lone.start().await;
    s.at(GROUP_WAIT + MS(1)).await;
    let rows = s.rows();
    assert!(rows.iter().all(|r| !r.1 && r.2 == Some(rows[0].0)), "one digest: {rows:?}");
    assert_eq!(lone.rows(), [(lone_held.id, false, None, lone_held.at + GROUP_WAIT)]);
    actor.stop(None);
    lone_actor.stop(None);
}

#[tokio::test(start_paused = true)]
async fn a_flush_releases_every_held_alert_without_waiting() {
    let s = Setup::new();
    let actor = s.start().await;
    s.bury(&actor, "poison-a");
    // Written but not yet announced when the flush comes: owed all the same.
    s.owe("poison-b");
    ractor::call!(actor, DeadLetterMsg::Flush).unwrap();
    let rows = s.rows();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| !r.1 && r.2.is_none() && r.3 == START), "{rows:?}");
    actor.stop(None);
}

#[tokio::test(start_paused = true)]
async fn a_burial_announced_to_nobody_is_found_in_the_outbox_and_waits_its_group_wait() {
    let s = Setup::with_webhook(Some("http://127.0.0.1:9/hooks/x"));
    let actor = s.start().await;
    // Committed while the actor was being restarted: its announcement went nowhere.
    s.at(MS(100)).await;
    let held = s.owe("poison-lost");
    s.at(GROUP_WAIT + MS(99)).await;
    assert_eq!(s.held(), 1, "held until its group_wait is over");
    s.at(GROUP_WAIT + MS(101)).await;
    assert_eq!(s.rows(), [(held.id, false, None, held.at + GROUP_WAIT)]);
    actor.stop(None);
}
