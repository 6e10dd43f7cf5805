//! Waits and cancel through the embedding API, on paused tokio time: a waiting job holds no
//! worker and resumes on `EngineHandle::signal`; a wait times out at its deadline (its own
//! timer, not the hourly sweep) into a failed attempt or a dead letter; a cancelled running
//! handler is dropped at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nightshift_actors::{
    DeadReason, Engine, EngineConfig, JobStatus, NewJob, Outcome, Signalled, TokioClock,
};

use crate::util::{TempDb, config, handler, paused};

const WAIT: Duration = Duration::from_secs(60);

fn timed(db: &TempDb, clock: TokioClock) -> EngineConfig {
    let mut cfg = config(&db.path);
    cfg.workers = 1;
    cfg.clock = Arc::new(clock);
    // Only a deadline's own timer can time a wait out on time: the sweep comes an hour later.
    cfg.poll_interval = Duration::from_secs(3_600);
    cfg
}

/// Waits for `approval` (dead on timeout for the key `dead`), then succeeds with its payload;
/// the key `quick` succeeds at once.
fn waiting() -> crate::util::FnHandler {
    handler(|job| async move {
        if job.key == "quick" {
            return Outcome::success();
        }
        match job.steps.get("approval").await {
            Ok(answer) if answer.output.is_some() => {
                Outcome::Success { result: answer.output, cost_usd: 0.0 }
            }
            _ => Outcome::Wait {
                name: "approval".to_owned(),
                timeout: WAIT,
                dead_on_timeout: job.key == "dead",
                cost_usd: 0.0,
            },
        }
    })
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn a_waiting_job_holds_no_worker_and_resumes_on_signal(db: TempDb) {
        let _frozen = paused::freeze();
        let clock = TokioClock::new();
        let engine = Engine::start(timed(&db, clock), waiting()).await.unwrap();
        engine.enqueue(NewJob::new("review", "{}")).await.unwrap();
        let status = |key: &'static str| {
            let engine = &engine;
            async move { engine.job(key).await.unwrap().map(|j| j.status) }
        };
        paused::settle("review waits", || async { status("review").await == Some(JobStatus::Waiting) }).await;
        engine.enqueue(NewJob::new("quick", "{}")).await.unwrap();
        paused::settle("quick runs on the one worker", || async {
            status("quick").await == Some(JobStatus::Done)
        })
        .await;
        let wrong = engine.signal("review", "other", "x").await.unwrap();
        assert!(matches!(wrong, Signalled::NotWaiting { .. }), "{wrong:?}");
        assert_eq!(status("review").await, Some(JobStatus::Waiting));
        assert_eq!(engine.signal("review", "approval", "yes").await.unwrap(), Signalled::Resumed);
        paused::settle("review done", || async { status("review").await == Some(JobStatus::Done) }).await;
        let row = engine.job("review").await.unwrap().unwrap();
        assert_eq!((row.result.as_deref(), row.attempts), (Some("yes"), 0));
        engine.shutdown(Duration::from_secs(1)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn a_wait_times_out_at_its_deadline_into_a_retry_or_with_dead_on_timeout_a_burial(db: TempDb) {
        let _frozen = paused::freeze();
        let clock = TokioClock::new();
        let engine = Engine::start(timed(&db, clock), waiting()).await.unwrap();
        let mut retried = NewJob::new("retried", "{}");
        retried.max_attempts = Some(2);
        engine.enqueue(retried).await.unwrap();
        engine.enqueue(NewJob::new("dead", "{}")).await.unwrap();
        paused::settle("both wait", || async {
            engine.status().await.unwrap().waiting == 2
        })
        .await;
        paused::pass(WAIT - Duration::from_millis(10)).await;
        assert_eq!(engine.status().await.unwrap().waiting, 2, "not before the deadline");
        paused::pass(Duration::from_millis(10)).await;
        paused::settle("dead is buried at once", || async {
            engine.dead_letter("dead").await.unwrap().is_some()
        })
        .await;
        let dead = engine.dead_letter("dead").await.unwrap().unwrap();
        assert_eq!((dead.reason, dead.attempts), (DeadReason::Permanent, 1));
        // The retry's backoff (50 ms at most here), then it runs and waits again.
        paused::pass(Duration::from_secs(1)).await;
        paused::settle("retried waits again, one attempt counted", || async {
            engine.job("retried").await.unwrap().is_some_and(|j| j.status == JobStatus::Waiting && j.attempts == 1)
        })
        .await;
        paused::pass(WAIT).await;
        paused::settle("retried is exhausted", || async {
            engine.dead_letter("retried").await.unwrap().is_some()
        })
        .await;
        let retried = engine.dead_letter("retried").await.unwrap().unwrap();
        assert_eq!((retried.reason, retried.attempts), (DeadReason::Exhausted, 2));
        assert!(retried.error.contains("timed out"), "{}", retried.error);
        engine.shutdown(Duration::from_secs(1)).await.unwrap();
    }
}

/// Sets its flag when dropped.
struct Dropped(Arc<AtomicBool>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn a_cancelled_running_handler_is_dropped_and_its_outcome_fenced_out(db: TempDb) {
        let _frozen = paused::freeze();
        let clock = TokioClock::new();
        let dropped = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicBool::new(false));
        let (d, s) = (dropped.clone(), started.clone());
        let h = handler(move |_job| {
            let (guard, started) = (Dropped(d.clone()), s.clone());
            async move {
                let _guard = guard;
                started.store(true, Ordering::SeqCst);
                std::future::pending::<()>().await;
                Outcome::success()
            }
        });
        let engine = Engine::start(timed(&db, clock), h).await.unwrap();
        engine.enqueue(NewJob::new("long", "{}")).await.unwrap();
        engine.enqueue(NewJob::new("queued", "{}")).await.unwrap();
        paused::settle("long runs", || async { started.load(Ordering::SeqCst) }).await;
        let out = engine.cancel(&["long", "queued", "nope"]).await.unwrap();
        let was: Vec<_> = out.iter().map(|c| c.was).collect();
        assert_eq!(was, [Some(JobStatus::Running), Some(JobStatus::Pending), None]);
        paused::settle("the handler is dropped", || async { dropped.load(Ordering::SeqCst) }).await;
        for key in ["long", "queued"] {
            assert_eq!(engine.job(key).await.unwrap().unwrap().status, JobStatus::Cancelled);
        }
        let again = engine.enqueue(NewJob::new("queued", "{}")).await.unwrap();
        assert_eq!(again, nightshift_actors::Enqueued::Cancelled);
        engine.shutdown(Duration::from_secs(1)).await.unwrap();
    }
}
