//! The seed lab in-process: good jobs complete while a poison job retries with growing delays
//! and lands in the dead letter with one alert; replay brings it back once it is fixed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nightshift_actors::policy::backoff::ceiling;
use nightshift_actors::{
    AlertConfig, DeadReason, Engine, EngineHandle, JobStatus, NewJob, Outcome, Selector,
};

use crate::util::sink::Sink;
use crate::util::{TempDb, config, events, eventually, handler, within};

const BAD: &str = "seed-bad";

/// Starts an engine whose handler fails `seed-bad` while `broken` is set and takes 10 ms for
/// every other job, so good work visibly flows while the bad job waits out its backoff.
async fn seed_lab(db: &TempDb, sink: &Sink, broken: Arc<AtomicBool>) -> EngineHandle {
    let mut cfg = config(&db.path);
    cfg.workers = 1;
    cfg.alert = AlertConfig::webhook(sink.url("/hooks/T000/secret-token"));
    cfg.alert.retry_base = Duration::from_millis(50);
    let engine = Engine::start(
        cfg,
        handler(move |job| {
            let broken = broken.clone();
            async move {
                if job.key == BAD && broken.load(Ordering::SeqCst) {
                    return Outcome::retry(format!("upstream rejected payload {}", job.payload));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                Outcome::Success { result: Some(format!("ok {}", job.key)), cost_usd: 0.0 }
            }
        }),
    )
    .await
    .expect("engine starts");
    engine.enqueue(NewJob::new(BAD, r#"{"poison":true}"#)).await.unwrap();
    for i in 0..19 {
        engine.enqueue(NewJob::new(format!("seed-{i}"), format!(r#"{{"n":{i}}}"#))).await.unwrap();
    }
    engine
}

/// The seed lab drained: the bad job is in the dead letter, and the handler is fixed since.
async fn fixed_after_dead_letter(db: &TempDb, sink: &Sink) -> EngineHandle {
    let broken = Arc::new(AtomicBool::new(true));
    let engine = seed_lab(db, sink, broken.clone()).await;
    within(Duration::from_secs(30), "drain", engine.drain(Duration::from_secs(5))).await.unwrap();
    assert!(engine.dead_letter(BAD).await.unwrap().is_some());
    broken.store(false, Ordering::SeqCst);
    engine
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn poison_job_is_dead_lettered_after_spaced_retries_while_good_jobs_complete(db: TempDb) {
        events::capture();
        let sink = Sink::start().await;
        let engine = seed_lab(&db, &sink, Arc::new(AtomicBool::new(true))).await;
        within(Duration::from_secs(30), "drain", engine.drain(Duration::from_secs(5)))
            .await
            .unwrap();

        assert_eq!(db.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 19);
        assert_eq!(db.count("SELECT count(*) FROM jobs WHERE key = 'seed-bad'"), 0);
        let dead = engine.dead_letter(BAD).await.unwrap().expect("bad job is in dead_letter");
        assert_eq!(dead.attempts, 4);
        assert_eq!(dead.reason, DeadReason::Exhausted);
        assert_eq!(dead.error, r#"upstream rejected payload {"poison":true}"#);
        let attempts: Vec<u32> = dead.errors.iter().map(|e| e.attempt).collect();
        assert_eq!(attempts, [1, 2, 3, 4], "every attempt's error is kept");

        // Retries were scheduled with delays inside the jitter envelope, and the failures really
        // were that far apart.
        let bad = events::for_key(BAD);
        let failed: Vec<_> = bad.iter().filter(|e| e.name() == "job_failed").collect();
        let scheduled: Vec<_> = bad.iter().filter(|e| e.name() == "retry_scheduled").collect();
        assert_eq!(failed.len(), 4);
        assert_eq!(scheduled.len(), 3);
        let (base, cap) = (Duration::from_millis(50), Duration::from_secs(1));
        for (n, s) in scheduled.iter().enumerate() {
            let delay = Duration::from_millis(s.u64("delay_ms").unwrap());
            let centre = ceiling(base, cap, n as u32);
            assert!(
                delay >= centre.mul_f64(0.5) && delay <= centre.mul_f64(1.5),
                "retry {n} delay {delay:?} outside [{:?}, {:?}]",
                centre.mul_f64(0.5),
                centre.mul_f64(1.5)
            );
            // The store's own times: when attempt n failed, and when attempt n + 1 was claimed.
            let (ended, next) = (dead.errors[n].at, dead.errors[n + 1].started_at.unwrap());
            let gap = Duration::from_millis(next.millis_since(ended).max(0).unsigned_abs());
            assert!(gap >= delay, "retry {n} ran after {gap:?}, before its {delay:?} delay");
        }

        // Good jobs completed while the bad one waited.
        let first_fail = failed[0].at;
        let buried =
            bad.iter().find(|e| e.name() == "dead_lettered").expect("dead_lettered event").at;
        let in_between = events::named("job_succeeded")
            .iter()
            .filter(|e| e.at > first_fail && e.at < buried)
            .count();
        assert!(in_between > 0, "no good job completed while the bad one was retrying");

        // Exactly one outbox row and one webhook POST for it.
        assert_eq!(
            db.count("SELECT count(*) FROM alerts WHERE kind = 'dead_letter' AND key = 'seed-bad'"),
            1
        );
        eventually(Duration::from_secs(10), "the alert reaches the webhook", || async {
            !sink.received().is_empty()
        })
        .await;
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
        let received = sink.received();
        assert_eq!(received.len(), 1, "one POST for one dead-lettered job");
        let body = received[0].json();
        assert_eq!(body["kind"], "dead_letter");
        assert_eq!(body["key"], BAD);
        assert_eq!(body["details"]["attempts"], 4);
        assert_eq!(received[0].path_and_query, "/hooks/T000/secret-token");
        assert_eq!(db.count("SELECT count(*) FROM alerts WHERE state = 'delivered'"), 1);
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_makes_the_fixed_job_claimable_at_once_and_it_completes(db: TempDb) {
        events::capture();
        let sink = Sink::start().await;
        let engine = fixed_after_dead_letter(&db, &sink).await;
        engine.pause(Some("inspect the replayed row before it runs")).await.unwrap();
        let replayed = engine
            .replay(Selector::Keys(vec![BAD.to_owned(), "not-there".to_owned()]))
            .await
            .unwrap();
        assert_eq!(replayed, vec![BAD.to_owned()]);
        let row = engine.job(BAD).await.unwrap().expect("replayed job is back in jobs");
        assert_eq!(row.status, JobStatus::Pending);
        assert_eq!(row.attempts, 0);
        assert!(
            row.run_at <= nightshift_actors::Clock::now(&nightshift_actors::SystemClock),
            "due at once"
        );
        assert_eq!(db.count("SELECT count(*) FROM dead_letter"), 0);

        engine.resume().await.unwrap();
        within(Duration::from_secs(30), "drain", engine.drain(Duration::from_secs(5)))
            .await
            .unwrap();
        let row = engine.job(BAD).await.unwrap().unwrap();
        assert_eq!(row.status, JobStatus::Done);
        assert_eq!(row.attempts, 0, "the replayed job succeeded on its first attempt");
        assert_eq!(row.result.as_deref(), Some("ok seed-bad"));
        assert_eq!(db.count("SELECT count(*) FROM dead_letter"), 0);
        assert_eq!(events::for_key(BAD).iter().filter(|e| e.name() == "replayed").count(), 1);
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_operator_in_another_task_replays_pauses_and_resumes_the_running_engine(db: TempDb) {
        events::capture();
        let sink = Sink::start().await;
        let engine = fixed_after_dead_letter(&db, &sink).await;
        // What a request handler holds: a clone, used from a task of its own.
        let operator = engine.operator();
        let moved = tokio::spawn(async move {
            let paused = operator.pause(Some("replaying")).await.unwrap();
            let again = operator.pause(Some("replaying")).await.unwrap();
            let replayed = operator.replay(Selector::Keys(vec![BAD.to_owned()])).await.unwrap();
            (paused, again, replayed, operator)
        });
        let (paused, again, replayed, operator) = moved.await.unwrap();
        assert_eq!((paused, again), (true, false), "the second pause changed nothing");
        assert_eq!(replayed, vec![BAD.to_owned()]);
        assert_eq!(engine.job(BAD).await.unwrap().unwrap().status, JobStatus::Pending, "held");
        assert!(operator.resume().await.unwrap(), "the resume lifted the switch");
        eventually(Duration::from_secs(10), "the replayed job runs", || async {
            engine.job(BAD).await.unwrap().is_some_and(|row| row.status == JobStatus::Done)
        })
        .await;
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
        assert!(operator.pause(None).await.is_err(), "a stopped engine takes no writes");
    }
}
