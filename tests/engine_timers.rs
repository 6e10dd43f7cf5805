//! The engine's wake-ups on paused tokio time: a retry's backoff and an expired lease, each
//! acted on when the engine's clock (a `TokioClock`) reaches it, and not before.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nightshift_actors::{
    Clock, Engine, EngineConfig, JobStatus, NewJob, Outcome, RetryConfig, Timestamp, TokioClock,
};

use crate::util::{FnHandler, TempDb, config, handler, paused};

/// When each attempt started, by the engine's clock, in order.
type Starts = Arc<Mutex<Vec<(String, Timestamp)>>>;

fn started(starts: &Starts, key: &str) -> Vec<Timestamp> {
    starts.lock().unwrap().iter().filter(|(k, _)| k == key).map(|(_, t)| *t).collect()
}

fn timed_config(db: &TempDb, clock: TokioClock) -> EngineConfig {
    let mut cfg = config(&db.path);
    cfg.workers = 1;
    cfg.clock = Arc::new(clock);
    cfg
}

/// A handler that records when each attempt started and fails the first attempts of a job
/// while `attempt <= fail_first`.
fn recording(clock: TokioClock, starts: &Starts, fail_first: u32) -> FnHandler {
    let starts = starts.clone();
    handler(move |job| {
        let starts = starts.clone();
        async move {
            starts.lock().unwrap().push((job.key.clone(), clock.now()));
            if job.attempt <= fail_first {
                Outcome::retry("upstream 503")
            } else {
                Outcome::success()
            }
        }
    })
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn a_failed_job_runs_again_when_its_backoff_ends_not_before(db: TempDb) {
        let _frozen = paused::freeze();
        let clock = TokioClock::new();
        let mut cfg = timed_config(&db, clock);
        let base = Duration::from_secs(10);
        cfg.retry = RetryConfig { max_attempts: 4, base, cap: Duration::from_secs(60), max_snoozes: 20 };
        // Only the retry's own timer can run it on time: the rescan comes an hour later.
        cfg.poll_interval = Duration::from_secs(3_600);
        let starts = Starts::default();
        let engine = Engine::start(cfg, recording(clock, &starts, 1)).await.unwrap();
        engine.enqueue(NewJob::new("flaky", "{}")).await.unwrap();
        paused::settle("the first attempt fails and is rescheduled", || async {
            let row = engine.job("flaky").await.unwrap().unwrap();
            row.status == JobStatus::Pending && row.attempts == 1
        })
        .await;
        let first = started(&starts, "flaky")[0];
        let due = engine.job("flaky").await.unwrap().unwrap().run_at;
        let backoff = due - first;
        assert!(
            backoff >= base.mul_f64(0.5) && backoff <= base.mul_f64(1.5),
            "backoff {backoff:?} outside the jitter envelope of {base:?}"
        );

        // A millisecond before it is due, it has not run again.
        paused::pass(due.duration_since(clock.now()) - Duration::from_millis(1)).await;
        let row = engine.job("flaky").await.unwrap().unwrap();
        assert_eq!((row.status, row.attempts), (JobStatus::Pending, 1));
        assert_eq!(started(&starts, "flaky").len(), 1, "ran again before its backoff ended");

        // At the millisecond it is due, its timer runs it.
        paused::pass(Duration::from_millis(1)).await;
        paused::settle("the retry runs", || async { started(&starts, "flaky").len() == 2 }).await;
        assert_eq!(started(&starts, "flaky")[1], due, "run by its own timer, not an hourly rescan");
        paused::settle("the retry succeeds", || async {
            engine.job("flaky").await.unwrap().unwrap().status == JobStatus::Done
        })
        .await;
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn a_job_whose_worker_vanished_is_taken_back_when_its_lease_expires(db: TempDb) {
        let _frozen = paused::freeze();
        let clock = TokioClock::new();
        let mut cfg = timed_config(&db, clock);
        let lease = Duration::from_secs(30);
        let sweep = Duration::from_millis(250);
        cfg.lease = lease;
        cfg.poll_interval = sweep;
        let starts = Starts::default();
        let engine = Engine::start(cfg, recording(clock, &starts, 0)).await.unwrap();
        // Not due for a day, so only the stranded lease below can make it run.
        let later = clock.now() + Duration::from_secs(86_400);
        engine
            .enqueue(NewJob { run_at: Some(later), ..NewJob::new("orphan", "{}") })
            .await
            .unwrap();
        // Claimed by a worker of another process that then vanished: its lease runs out in 30 s.
        let expires = clock.now() + lease;
        db.execute(&format!(
            "UPDATE jobs SET status = 'running', lease_token = 'from-a-vanished-worker',
                             lease_owner = 'gone/worker-0', lease_expires_at = {}
             WHERE key = 'orphan'",
            expires.as_millis()
        ));
        let stranded = "SELECT count(*) FROM jobs WHERE lease_token = 'from-a-vanished-worker'";
        assert_eq!(db.count(stranded), 1);

        // Until the lease runs out the job stays with its (silent) holder.
        paused::pass(lease - Duration::from_millis(1)).await;
        let row = engine.job("orphan").await.unwrap().unwrap();
        assert_eq!((row.status, row.attempts), (JobStatus::Running, 0));
        assert!(started(&starts, "orphan").is_empty(), "taken back before its lease expired");

        // The first sweep after it expires takes it back, the interrupted attempt counted, and it
        // runs at once (interrupted attempts retry without backoff).
        paused::pass(sweep + Duration::from_millis(1)).await;
        paused::settle("the expired lease is taken back and the job runs", || async {
            engine.job("orphan").await.unwrap().unwrap().status == JobStatus::Done
        })
        .await;
        let ran = started(&starts, "orphan");
        assert_eq!(ran.len(), 1, "run once by this runner");
        assert_eq!(
            ran[0],
            expires + sweep,
            "taken back by the first sweep after the lease expired"
        );
        let row = engine.job("orphan").await.unwrap().unwrap();
        assert_eq!(row.attempts, 1, "the interrupted attempt was counted");
        assert!(row.last_error.unwrap().starts_with("interrupted"));
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}
