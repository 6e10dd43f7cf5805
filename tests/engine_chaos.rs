//! Faults inside the tree: a Worker killed mid-job, a panicking handler, the Store killed in a
//! burst of enqueues, a restart budget running out, and `running` rows left by a dead process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nightshift_actors::{
    AlertConfig, DeadReason, Engine, EngineError, Enqueued, JobStatus, NewJob, Outcome,
};

use crate::util::sink::Sink;
use tokio::sync::Notify;

use crate::util::{TempDb, config, events, eventually, handler, within};

/// Counts successful runs per key (the side effect a user would see).
#[derive(Clone, Default)]
struct Effects(Arc<Mutex<HashMap<String, usize>>>);

impl Effects {
    fn apply(&self, key: &str) {
        *self.0.lock().unwrap().entry(key.to_owned()).or_default() += 1;
    }
    fn count(&self, key: &str) -> usize {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn killed_worker_is_restarted_and_its_job_retries_and_completes_once(db: TempDb) {
        events::capture();
        let mut cfg = config(&db.path);
        cfg.workers = 1;
        let started = Arc::new(Notify::new());
        let effects = Effects::default();
        let (s, e) = (started.clone(), effects.clone());
        let engine = Engine::start(
            cfg,
            handler(move |job| {
                let (s, e) = (s.clone(), e.clone());
                async move {
                    if job.attempt == 1 {
                        s.notify_one();
                        std::future::pending::<()>().await;
                    }
                    e.apply(&job.key);
                    Outcome::success()
                }
            }),
        )
        .await
        .unwrap();
        let chaos = engine.chaos();
        let before = chaos.worker_id(0).await.unwrap();
        engine.enqueue(NewJob::new("victim", "{}")).await.unwrap();
        within(Duration::from_secs(10), "the job starts", started.notified()).await;
        assert!(chaos.kill_worker(0).await);

        within(Duration::from_secs(30), "drain", engine.drain(Duration::from_secs(5)))
            .await
            .unwrap();
        assert_ne!(chaos.worker_id(0).await, Some(before), "worker 0 was replaced");
        assert!(chaos.worker_alive(0).await);
        let row = engine.job("victim").await.unwrap().unwrap();
        assert_eq!(row.status, JobStatus::Done);
        assert_eq!(row.attempts, 1, "the killed attempt was counted");
        assert!(row.last_error.unwrap().contains("worker crashed"), "error names the crash");
        assert_eq!(effects.count("victim"), 1, "the effect happened once");
        assert!(!events::named("worker_restarted").is_empty());
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_handler_is_a_failed_attempt_that_retries(db: TempDb) {
        let engine = Engine::start(
            config(&db.path),
            handler(|job| async move {
                if job.attempt == 1 {
                    panic!("handler bug on {}", job.key);
                }
                Outcome::success()
            }),
        )
        .await
        .unwrap();
        let chaos = engine.chaos();
        let workers_before = (chaos.worker_id(0).await, chaos.worker_id(1).await);
        engine.enqueue(NewJob::new("panics-once", "{}")).await.unwrap();
        within(Duration::from_secs(30), "drain", engine.drain(Duration::from_secs(5)))
            .await
            .unwrap();
        let row = engine.job("panics-once").await.unwrap().unwrap();
        assert_eq!(row.status, JobStatus::Done);
        assert_eq!(row.attempts, 1);
        assert_eq!(row.last_error.as_deref(), Some("panic: handler bug on panics-once"));
        assert_eq!(
            (chaos.worker_id(0).await, chaos.worker_id(1).await),
            workers_before,
            "a handler panic does not kill the worker"
        );
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn killing_the_store_mid_burst_loses_no_acknowledged_enqueue_and_strands_nothing(
        db: TempDb,
    ) {
        let effects = Effects::default();
        let e = effects.clone();
        let mut cfg = config(&db.path);
        cfg.workers = 4;
        let engine = Arc::new(
            Engine::start(
                cfg,
                handler(move |job| {
                    let e = e.clone();
                    async move {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        e.apply(&job.key);
                        Outcome::success()
                    }
                }),
            )
            .await
            .unwrap(),
        );
        let chaos = engine.chaos();
        let store = chaos.store_actor().await.unwrap();
        let store_before = store.get_id();
        let acked = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        let spawn = |tasks: &mut tokio::task::JoinSet<_>, keys: std::ops::Range<usize>| {
            for i in keys {
                let (engine, acked) = (engine.clone(), acked.clone());
                tasks.spawn(async move {
                    let key = format!("burst-{i}");
                    let answer = engine.enqueue(NewJob::new(&key, "{}")).await;
                    if answer.is_ok() {
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    (key, answer)
                });
            }
        };
        spawn(&mut tasks, 0..1500);
        eventually(Duration::from_secs(10), "some enqueues acknowledged", || async {
            acked.load(Ordering::SeqCst) >= 50
        })
        .await;
        // Killed at once, not after a question to the Supervisor queued behind the burst's tasks.
        store.kill();
        let acked_at_kill = acked.load(Ordering::SeqCst);
        // The second half is sent after the kill, whatever the machine's speed: these meet a dead
        // or restarting Store, which is what this test is about.
        spawn(&mut tasks, 1500..3000);
        // Deadlines are guards: 3000 jobs through PostgreSQL on a busy 2-core machine take a while.
        let answers = within(Duration::from_secs(180), "the burst", tasks.join_all()).await;
        eventually(Duration::from_secs(10), "the store restarts", || async {
            chaos.store_id().await.is_some_and(|id| id != store_before)
        })
        .await;

        within(Duration::from_secs(180), "drain", engine.drain(Duration::from_secs(5)))
            .await
            .unwrap();
        let mut acknowledged = Vec::new();
        for (key, answer) in answers {
            let Ok(answer) = answer else { continue };
            assert!(
                matches!(answer, Enqueued::Enqueued | Enqueued::Duplicate { .. }),
                "{key}: {answer:?}"
            );
            assert_eq!(effects.count(&key), 1, "{key} ran once");
            acknowledged.push(format!("'{key}'"));
        }
        assert!(
            acknowledged.len() > acked_at_kill,
            "enqueues after the kill were acknowledged too"
        );
        let done = format!(
            "SELECT count(*) FROM jobs WHERE status = 'done' AND key IN ({})",
            acknowledged.join(", ")
        );
        assert_eq!(db.count(&done), acknowledged.len() as i64, "every acknowledged job is done");
        assert_eq!(
            db.count("SELECT count(*) FROM jobs WHERE status = 'running'"),
            0,
            "no job stuck running"
        );
        let engine = Arc::into_inner(engine).expect("tasks done");
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spent_store_restart_budget_stops_the_engine_with_a_reason_and_one_crash_loop_alert(
        db: TempDb,
    ) {
        let sink = Sink::start().await;
        let mut cfg = config(&db.path);
        cfg.store_restarts = 2;
        cfg.alert = AlertConfig::webhook(sink.url("/hooks/crash"));
        cfg.alert.format = nightshift_actors::AlertFormat::Json;
        let mut engine =
            Engine::start(cfg, handler(|_| async { Outcome::success() })).await.unwrap();
        let chaos = engine.chaos();
        for round in 0..3 {
            let before = chaos.store_id().await;
            assert!(chaos.kill_store().await);
            if round < 2 {
                eventually(Duration::from_secs(10), "store restarted", || async {
                    chaos.store_id().await != before
                })
                .await;
            }
        }
        let stopped = within(Duration::from_secs(10), "engine stops", engine.wait()).await;
        let EngineError::Stopped(reason) = stopped else { panic!("{stopped:?}") };
        assert!(reason.contains("restart budget exhausted"), "{reason}");
        // A stopped tree answers no verb: a drain says why it stopped.
        let drained =
            within(Duration::from_secs(5), "drain", engine.drain(Duration::from_secs(1))).await;
        assert!(
            matches!(&drained, Err(EngineError::Stopped(why)) if why.contains("restart budget")),
            "{drained:?}"
        );
        let crash: Vec<_> =
            sink.received().into_iter().filter(|r| r.json()["kind"] == "crash_loop").collect();
        assert_eq!(crash.len(), 1, "one crash_loop alert");
        assert!(crash[0].json()["text"].as_str().unwrap().contains("restart budget exhausted"));
    }
}

// PostgreSQL only: a server that refuses the connection for good (on SQLite a Store that
// cannot start again stops the tree at once, as the test above shows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_connect_again_stops_the_engine_after_its_restart_window() {
    let Some(db) = TempDb::postgres("engine_chaos::reconnect_window") else { return };
    let mut cfg = config(&db.path);
    cfg.store_restart_window = Duration::from_secs(1);
    let mut engine = Engine::start(cfg, handler(|_| async { Outcome::success() })).await.unwrap();
    events::capture();
    let lost = std::time::Instant::now();
    db.refuse_connections();
    let stopped = within(Duration::from_secs(30), "engine stops", engine.wait()).await;
    let EngineError::Stopped(reason) = stopped else { panic!("{stopped:?}") };
    // Each try says so once, at warn; the periodic calls failing meanwhile (the Store is not
    // running) do not repeat it at warn level on every rescan and sweep.
    let all = events::all();
    assert!(all.iter().any(|e| e.name() == "store_reconnecting" && e.str("level") == "WARN"));
    let unavailable: Vec<_> = all
        .iter()
        .filter(|e| e.name().ends_with("_failed") && e.str("error").contains("unavailable"))
        .collect();
    assert!(!unavailable.is_empty(), "no periodic call failed while the Store was down");
    assert!(unavailable.iter().all(|e| e.str("level") == "DEBUG"), "{unavailable:?}");
    assert!(
        reason.contains("could not restart Store")
            && reason.contains("not currently accepting connections"),
        "{reason}"
    );
    // It kept trying for its window (backoff from 100 ms) before it gave up.
    assert!(lost.elapsed() >= Duration::from_secs(1), "gave up after {:?}", lost.elapsed());
}

/// Leaves a `running` row as a process killed mid-job would. On SQLite its lease is far from
/// over: the runner lock proves that process dead. On PostgreSQL a running row may be another
/// live runner's, so only an expired lease says its process died.
fn strand_running(db: &TempDb, key: &str, max_attempts: u32) {
    let expires = if db.is_postgres() { 1 } else { 9_000_000_000_000_i64 };
    db.execute(&format!(
        "UPDATE jobs SET status = 'running', lease_token = 'from-a-dead-process',
                         lease_owner = 'dead/worker-0.0', lease_expires_at = {expires},
                         max_attempts = {max_attempts}
         WHERE key = '{key}'"
    ));
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_running_row_from_a_dead_process_is_reclaimed_with_the_attempt_counted(db: TempDb) {
        let engine = Engine::start(config(&db.path), handler(|_| async { Outcome::success() }))
            .await
            .unwrap();
        engine.pause(Some("set up")).await.unwrap();
        engine.enqueue(NewJob::new("orphan", "{}")).await.unwrap();
        engine.enqueue(NewJob::new("orphan-last-try", "{}")).await.unwrap();
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
        strand_running(&db, "orphan", 4);
        strand_running(&db, "orphan-last-try", 1);
        db.execute("UPDATE control SET paused = 0");

        let effects = Effects::default();
        let e = effects.clone();
        let engine = Engine::start(
            config(&db.path),
            handler(move |job| {
                let e = e.clone();
                async move {
                    e.apply(&job.key);
                    Outcome::success()
                }
            }),
        )
        .await
        .unwrap();
        within(Duration::from_secs(30), "drain", engine.drain(Duration::from_secs(5)))
            .await
            .unwrap();
        let row = engine.job("orphan").await.unwrap().unwrap();
        assert_eq!(row.status, JobStatus::Done);
        assert_eq!(row.attempts, 1, "the interrupted attempt was counted");
        assert!(row.last_error.unwrap().starts_with("interrupted"));
        assert_eq!(effects.count("orphan"), 1, "completed exactly once");
        // An interruption that exhausts the attempts buries the job instead of looping forever.
        let dead = engine.dead_letter("orphan-last-try").await.unwrap().expect("dead-lettered");
        assert_eq!(dead.reason, DeadReason::Crashed);
        assert_eq!(effects.count("orphan-last-try"), 0);
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

// SQLite only: its lock file allows one runner; on PostgreSQL many runners share a database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_engine_on_the_same_database_is_refused() {
    let db = TempDb::new();
    let engine =
        Engine::start(config(&db.path), handler(|_| async { Outcome::success() })).await.unwrap();
    let second = Engine::start(config(&db.path), handler(|_| async { Outcome::success() })).await;
    match second {
        Err(EngineError::Locked { holder, .. }) => {
            assert!(holder.contains(&std::process::id().to_string()))
        }
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("a second engine started on the same database"),
    }
    assert!(nightshift_actors::runner_holder(&db.path).is_some());
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
    assert!(
        nightshift_actors::runner_holder(&db.path).is_none(),
        "the lock is released at shutdown"
    );
}
