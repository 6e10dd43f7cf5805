//! Bounded growth in process: the engine's Pruner at start, what it must keep, and `status`
//! counts kept by triggers through every change the engine and `Admin` make. (The Pruner's
//! interval is proven on paused time beside it, in `nightshift-actors`' pruner tests.)

use std::time::Duration;

use nightshift_actors::{
    Admin, Clock, Engine, EngineHandle, NewJob, Outcome, PruneKind, Selector, SystemClock,
};

use crate::util::{TempDb, config, events, eventually, handler, within};

const DAY: Duration = Duration::from_secs(86_400);
const HOUR: Duration = Duration::from_secs(3_600);

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_runner_prunes_every_kind_at_start_and_keeps_what_must_stay(db: TempDb) {
        events::capture();
        let mut cfg = config(&db.path);
        cfg.retention.schedules = vec!["digest".to_owned()];
        drop(Admin::create(&cfg).unwrap());
        let now = SystemClock.now();
        let old = now - DAY * 100;
        let (now_ms, old_ms) = (now.as_millis(), old.as_millis());
        for (key, status, finished) in [
            ("old-done", "done", old_ms.to_string()),
            ("digest@2020-01-01T07:00:00Z", "done", old_ms.to_string()),
            ("digest@2020-01-02T07:00:00Z", "done", old_ms.to_string()),
            ("new-done", "done", now_ms.to_string()),
            ("later", "pending", "NULL".to_owned()),
        ] {
            let at = (now + HOUR).as_millis();
            db.execute(&format!(
                "INSERT INTO jobs (key, payload, status, max_attempts, run_at, created_at,
                                   updated_at, finished_at)
                 VALUES ('{key}', '{{}}', '{status}', 4, {at}, {at}, {at}, {finished})"
            ));
        }
        db.execute(&format!(
            "INSERT INTO dead_letter (key, queue, payload, error, attempts, max_attempts, died,
                                      errors, reason)
             VALUES ('old-dead', 'default', '{{}}', 'boom', 4, 4, {}, '[]', 'exhausted')",
            old.as_secs()
        ));
        for day in [old, now] {
            db.execute(&format!(
                "INSERT INTO spend (day, key, attempt, micros, at) VALUES ('{}', 'k', 1, 5, {})",
                nightshift_actors::clock::utc_day(day),
                day.as_millis()
            ));
        }
        db.execute(&format!(
            "INSERT INTO alerts (kind, body, created_at, state, next_attempt_at, delivered_at)
             VALUES ('dead_letter', '{{}}', {old_ms}, 'delivered', {old_ms}, {old_ms})"
        ));

        let engine = Engine::start(cfg, handler(|_| async { Outcome::success() })).await.unwrap();
        let limit = Duration::from_secs(10);
        eventually(limit, "a pruned event", || async { !events::named("pruned").is_empty() }).await;
        let pruned = events::named("pruned");
        let counts: Vec<Option<u64>> =
            ["done", "dead", "spend", "alerts"].iter().map(|f| pruned[0].u64(f)).collect();
        assert_eq!(counts, [Some(2), Some(1), Some(1), Some(1)]);
        let kept = "SELECT count(*) FROM jobs
                    WHERE key IN ('digest@2020-01-02T07:00:00Z', 'later', 'new-done')";
        assert_eq!((db.count("SELECT count(*) FROM jobs"), db.count(kept)), (3, 3));
        assert_eq!(db.count("SELECT count(*) FROM spend"), 1);
        assert_eq!(db.count("SELECT count(*) FROM dead_letter"), 0);
        let st = engine.status().await.unwrap();
        assert_eq!((st.pending, st.done, st.dead), (1, 2, 0));
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

/// Fails `bad-*` jobs for good, succeeds the rest.
async fn start(db: &TempDb) -> EngineHandle {
    let h = handler(|job| async move {
        if job.key.starts_with("bad-") { Outcome::permanent("no") } else { Outcome::success() }
    });
    Engine::start(config(&db.path), h).await.unwrap()
}

/// `status`'s counts against the tables themselves.
async fn counts_match(db: &TempDb, engine: &EngineHandle) {
    let st = engine.status().await.unwrap();
    let count = |status: &str| {
        db.count(&format!("SELECT count(*) FROM jobs WHERE status = '{status}'")) as u64
    };
    let table = (count("pending"), count("running"), count("done"));
    assert_eq!((st.pending, st.running, st.done), table);
    assert_eq!(st.dead, db.count("SELECT count(*) FROM dead_letter") as u64);
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn status_counts_follow_every_change_the_engine_and_admin_make(db: TempDb) {
        let engine = start(&db).await;
        for key in ["a", "b", "c", "bad-1", "bad-2"] {
            engine.enqueue(NewJob::new(key, "{}")).await.unwrap();
        }
        let later = SystemClock.now() + HOUR;
        engine.enqueue(NewJob { run_at: Some(later), ..NewJob::new("later", "{}") }).await.unwrap();
        within(Duration::from_secs(20), "drain", engine.drain(Duration::from_secs(1)))
            .await
            .unwrap();
        counts_match(&db, &engine).await;
        assert_eq!(engine.status().await.unwrap().dead, 2);

        engine.replay(Selector::Keys(vec!["bad-1".to_owned()])).await.unwrap();
        within(Duration::from_secs(20), "drain", engine.drain(Duration::from_secs(1)))
            .await
            .unwrap();
        engine.purge(Selector::All).await.unwrap();
        counts_match(&db, &engine).await;

        // Beside the runner: another process's purges move the same counts.
        let mut admin = Admin::open(&config(&db.path)).unwrap();
        admin.purge_jobs(&["a".to_owned(), "later".to_owned()]).unwrap();
        db.execute("UPDATE jobs SET finished_at = 0 WHERE key = 'b'");
        assert_eq!(admin.prune(PruneKind::Done, Duration::from_secs(60)).unwrap(), 1);
        counts_match(&db, &engine).await;
        let st = engine.status().await.unwrap();
        assert_eq!((st.pending, st.running, st.done, st.dead), (0, 0, 1, 0));
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}
