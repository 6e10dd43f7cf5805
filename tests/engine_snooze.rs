//! Snoozes through the embedding API, on paused tokio time: a snoozed job is due again after
//! its delay (or the backoff) with no attempt counted and the breaker told nothing, until
//! `max_snoozes` makes a snooze count as a failed attempt.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nightshift_actors::{
    BreakerConfig, Clock, Engine, EngineConfig, JobStatus, NewJob, Outcome, Timestamp, TokioClock,
};

use crate::util::{FnHandler, TempDb, config, handler, paused};

/// Each run's attempt number and start time, by the engine's clock.
type Runs = Arc<Mutex<Vec<(u32, Timestamp)>>>;

fn timed(db: &TempDb, clock: TokioClock) -> EngineConfig {
    let mut cfg = config(&db.path);
    cfg.workers = 1;
    cfg.clock = Arc::new(clock);
    // Only a due time's own timer can run a job on time: the rescan comes an hour later.
    cfg.poll_interval = Duration::from_secs(3_600);
    cfg
}

/// A handler that records each run and returns `outcome(run number)` (1-based).
fn recording(
    clock: TokioClock,
    runs: &Runs,
    outcome: impl Fn(usize) -> Outcome + Send + Sync + 'static,
) -> FnHandler {
    let runs = runs.clone();
    let outcome = Arc::new(outcome);
    handler(move |job| {
        let (runs, outcome) = (runs.clone(), outcome.clone());
        async move {
            let n = {
                let mut runs = runs.lock().unwrap();
                runs.push((job.attempt, clock.now()));
                runs.len()
            };
            outcome(n)
        }
    })
}

fn count(runs: &Runs) -> usize {
    runs.lock().unwrap().len()
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn a_snoozed_job_runs_again_after_its_delay_as_the_same_attempt(db: TempDb) {
        let _frozen = paused::freeze();
        let clock = TokioClock::new();
        let runs = Runs::default();
        let snooze = Duration::from_secs(30);
        let h = recording(clock, &runs, move |n| {
            if n == 1 { Outcome::snooze(snooze) } else { Outcome::success() }
        });
        let engine = Engine::start(timed(&db, clock), h).await.unwrap();
        engine.enqueue(NewJob::new("sleepy", "{}")).await.unwrap();
        paused::settle("the first run snoozes", || async {
            engine.job("sleepy").await.unwrap().unwrap().snoozes == 1
        })
        .await;
        let row = engine.job("sleepy").await.unwrap().unwrap();
        let first = runs.lock().unwrap()[0].1;
        assert_eq!((row.status, row.attempts), (JobStatus::Pending, 0), "no attempt counted");
        assert_eq!(row.run_at, first + snooze, "due again after the snooze's own delay");
        assert_eq!(row.last_error, None, "a snooze is not an error");

        paused::pass(row.run_at.duration_since(clock.now()) - Duration::from_millis(1)).await;
        let _ = engine.status().await.unwrap();
        assert_eq!(count(&runs), 1, "ran again before its snooze ended");
        paused::pass(Duration::from_millis(1)).await;
        paused::settle("the job runs again and succeeds", || async {
            engine.job("sleepy").await.unwrap().unwrap().status == JobStatus::Done
        })
        .await;
        let runs = runs.lock().unwrap().clone();
        assert_eq!(runs[1].1, row.run_at, "run by its own timer");
        assert_eq!((runs[0].0, runs[1].0), (1, 1), "both runs saw attempt 1");
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn a_snooze_without_a_delay_waits_the_backoff_of_the_current_attempt(db: TempDb) {
        let _frozen = paused::freeze();
        let clock = TokioClock::new();
        let runs = Runs::default();
        let mut cfg = timed(&db, clock);
        cfg.retry.base = Duration::from_secs(10);
        cfg.retry.cap = Duration::from_secs(60);
        let h = recording(clock, &runs, |n| {
            if n == 1 { Outcome::Snooze { delay: None, cost_usd: 0.0 } } else { Outcome::success() }
        });
        let engine = Engine::start(cfg, h).await.unwrap();
        engine.enqueue(NewJob::new("backoff", "{}")).await.unwrap();
        paused::settle("the first run snoozes", || async {
            engine.job("backoff").await.unwrap().unwrap().snoozes == 1
        })
        .await;
        let row = engine.job("backoff").await.unwrap().unwrap();
        let waited = row.run_at - runs.lock().unwrap()[0].1;
        assert!(
            waited >= Duration::from_secs(5) && waited <= Duration::from_secs(15),
            "snoozed {waited:?}: not the first attempt's backoff (10 s, jittered)"
        );
        assert_eq!(row.attempts, 0);
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn past_max_snoozes_a_snooze_counts_as_a_failed_attempt(db: TempDb) {
        let _frozen = paused::freeze();
        let clock = TokioClock::new();
        let runs = Runs::default();
        let mut cfg = timed(&db, clock);
        cfg.retry.max_snoozes = 2;
        let h = recording(clock, &runs, |_| Outcome::snooze(Duration::from_secs(1)));
        let engine = Engine::start(cfg, h).await.unwrap();
        engine.enqueue(NewJob::new("restless", "{}")).await.unwrap();
        for snoozes in 1..=2 {
            paused::settle("a snooze", || async {
                engine.job("restless").await.unwrap().unwrap().snoozes == snoozes
            })
            .await;
            let row = engine.job("restless").await.unwrap().unwrap();
            assert_eq!(row.attempts, 0, "snooze {snoozes} is not an attempt");
            paused::pass(Duration::from_secs(1)).await;
        }
        paused::settle("the third snooze counts as a failed attempt", || async {
            engine.job("restless").await.unwrap().unwrap().attempts == 1
        })
        .await;
        let row = engine.job("restless").await.unwrap().unwrap();
        assert_eq!((row.status, row.snoozes), (JobStatus::Pending, 2));
        assert!(row.last_error.unwrap().contains("max_snoozes = 2"));
        assert!(runs.lock().unwrap().iter().all(|(attempt, _)| *attempt == 1));
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn snoozes_past_the_breaker_threshold_leave_it_closed(db: TempDb) {
        let _frozen = paused::freeze();
        let clock = TokioClock::new();
        let runs = Runs::default();
        let mut cfg = timed(&db, clock);
        cfg.breaker = BreakerConfig { failures: 2, ..BreakerConfig::default() };
        let h = recording(clock, &runs, |n| {
            if n <= 5 { Outcome::snooze(Duration::from_secs(1)) } else { Outcome::success() }
        });
        let engine = Engine::start(cfg, h).await.unwrap();
        engine.enqueue(NewJob::new("patient", "{}")).await.unwrap();
        for n in 1..=5 {
            paused::settle("a snooze", || async {
                engine.job("patient").await.unwrap().unwrap().snoozes == n
            })
            .await;
            let st = engine.status().await.unwrap();
            assert_eq!((st.breaker_failures, st.gate), (0, None), "after snooze {n}");
            paused::pass(Duration::from_secs(1)).await;
        }
        paused::settle("the job succeeds", || async {
            engine.job("patient").await.unwrap().unwrap().status == JobStatus::Done
        })
        .await;
        assert_eq!(count(&runs), 6);
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}
