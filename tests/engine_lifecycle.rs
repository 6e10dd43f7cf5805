//! Drain (the `run --once` behaviour), ordered shutdown with a grace period, and the tree's
//! status: the Supervisor's verbs.

use std::sync::Arc;
use std::time::Duration;

use nightshift_actors::{
    Clock, Engine, EngineHandle, JobStatus, NewJob, Outcome, RunState, SystemClock,
};

use tokio::sync::Notify;

use crate::util::{TempDb, config, events, eventually, handler, within};

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn drain_runs_what_is_due_waits_for_near_retries_and_leaves_later_jobs_pending(
        db: TempDb,
    ) {
        let engine = Engine::start(
            config(&db.path),
            handler(|job| async move {
                if job.key == "flaky" && job.attempt == 1 {
                    return Outcome::retry("first try fails");
                }
                Outcome::success()
            }),
        )
        .await
        .unwrap();
        let now = SystemClock.now();
        engine.enqueue(NewJob::new("due", "{}")).await.unwrap();
        engine.enqueue(NewJob::new("flaky", "{}")).await.unwrap();
        engine
            .enqueue(NewJob {
                run_at: Some(now + Duration::from_millis(300)),
                ..NewJob::new("soon", "{}")
            })
            .await
            .unwrap();
        engine
            .enqueue(NewJob {
                run_at: Some(now + Duration::from_secs(3_600)),
                ..NewJob::new("next-hour", "{}")
            })
            .await
            .unwrap();

        let status =
            within(Duration::from_secs(20), "drain returns", engine.drain(Duration::from_secs(2)))
                .await
                .unwrap();
        for key in ["due", "flaky", "soon"] {
            assert_eq!(engine.job(key).await.unwrap().unwrap().status, JobStatus::Done, "{key}");
        }
        let later = engine.job("next-hour").await.unwrap().unwrap();
        assert_eq!(later.status, JobStatus::Pending);
        assert_eq!(later.attempts, 0);
        assert_eq!((status.done, status.pending, status.running), (3, 1, 0));
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn drain_returns_at_once_while_paused_and_leaves_jobs_untouched(db: TempDb) {
        let engine = Engine::start(config(&db.path), handler(|_| async { Outcome::success() }))
            .await
            .unwrap();
        engine.pause(Some("maintenance")).await.unwrap();
        engine.enqueue(NewJob::new("waits", "{}")).await.unwrap();
        let status =
            within(Duration::from_secs(10), "drain returns", engine.drain(Duration::from_secs(60)))
                .await
                .unwrap();
        assert!(status.paused);
        assert_eq!(status.pause_reason.as_deref(), Some("maintenance"));
        let row = engine.job("waits").await.unwrap().unwrap();
        assert_eq!((row.status, row.attempts), (JobStatus::Pending, 0));
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_lets_a_job_finish_within_the_grace_period(db: TempDb) {
        let started = Arc::new(Notify::new());
        let s = started.clone();
        let engine = Engine::start(
            config(&db.path),
            handler(move |_| {
                let s = s.clone();
                async move {
                    s.notify_one();
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Outcome::success()
                }
            }),
        )
        .await
        .unwrap();
        engine.enqueue(NewJob::new("short", "{}")).await.unwrap();
        within(Duration::from_secs(10), "short starts", started.notified()).await;
        within(Duration::from_secs(20), "shutdown", engine.shutdown(Duration::from_secs(10)))
            .await
            .unwrap();
        let finished = "SELECT count(*) FROM jobs WHERE key = 'short' AND status = 'done' \
                        AND attempts = 0";
        assert_eq!(db.count(finished), 1, "done on its first attempt");
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_past_the_grace_period_releases_the_lease_without_counting_an_attempt(
        db: TempDb,
    ) {
        events::capture();
        let engine = running_a_handler_that_never_returns(&db, "endless").await;
        within(Duration::from_secs(20), "shutdown", engine.shutdown(Duration::from_millis(200)))
            .await
            .unwrap();
        assert!(released_uncounted(&db, "endless"));
        let interrupted = events::for_key("endless");
        assert!(interrupted.iter().any(|e| e.name() == "job_interrupted"));
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hurried_shutdown_aborts_running_handlers_without_waiting_out_the_grace(db: TempDb) {
        let engine = running_a_handler_that_never_returns(&db, "stuck").await;
        // An hour of grace, cut short by a hurry ready at once: `shutdown_unless` sends the
        // shutdown first, so the hurry lands on a shutdown under way.
        let hurry = std::future::ready(());
        within(
            Duration::from_secs(20),
            "a hurried shutdown",
            engine.shutdown_unless(Duration::from_secs(3600), hurry),
        )
        .await
        .unwrap();
        assert!(released_uncounted(&db, "stuck"), "released, uncounted");
    }
}

/// An engine whose one job, `key`, has started and never returns.
async fn running_a_handler_that_never_returns(db: &TempDb, key: &str) -> EngineHandle {
    let started = Arc::new(Notify::new());
    let s = started.clone();
    let engine = Engine::start(
        config(&db.path),
        handler(move |_| {
            let s = s.clone();
            async move {
                s.notify_one();
                std::future::pending::<()>().await;
                Outcome::success()
            }
        }),
    )
    .await
    .unwrap();
    engine.enqueue(NewJob::new(key, "{}")).await.unwrap();
    within(Duration::from_secs(10), "the job starts", started.notified()).await;
    engine
}

/// Whether `key` is pending again with no attempt counted and no lease token.
fn released_uncounted(db: &TempDb, key: &str) -> bool {
    db.count(&format!(
        "SELECT count(*) FROM jobs WHERE key = '{key}' AND status = 'pending' AND attempts = 0 \
         AND lease_token IS NULL"
    )) == 1
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_supervisor_reports_its_workers_the_jobs_held_and_its_restarts(db: TempDb) {
        let (open, gate) = tokio::sync::watch::channel(false);
        let mut cfg = config(&db.path);
        cfg.workers = 3;
        let engine = Engine::start(
            cfg,
            handler(move |_| {
                let mut gate = gate.clone();
                async move {
                    let _ = gate.wait_for(|open| *open).await;
                    Outcome::success()
                }
            }),
        )
        .await
        .unwrap();
        let tree = engine.tree_status().await.unwrap();
        assert_eq!(
            (tree.state, tree.workers, tree.workers_alive, tree.restarts),
            (RunState::Running, 3, 3, 0)
        );
        // The first claim for the free workers counts as held while it is in flight.
        eventually(Duration::from_secs(10), "an idle runner holds nothing", || async {
            engine.tree_status().await.unwrap().held == 0
        })
        .await;

        engine.enqueue(NewJob::new("held", "{}")).await.unwrap();
        eventually(Duration::from_secs(10), "the job is held", || async {
            engine.tree_status().await.unwrap().held == 1
        })
        .await;
        let chaos = engine.chaos();
        let before = chaos.worker_id(2).await;
        assert!(chaos.kill_worker(2).await);
        eventually(Duration::from_secs(10), "worker 2 replaced", || async {
            let tree = engine.tree_status().await.unwrap();
            tree.restarts == 1 && tree.workers_alive == 3 && chaos.worker_id(2).await != before
        })
        .await;
        assert!(chaos.kill("rescuer").await);
        eventually(Duration::from_secs(10), "the rescuer restarted", || async {
            engine.tree_status().await.unwrap().restarts == 2
        })
        .await;

        open.send_replace(true);
        // The job either finished, or ran on the killed worker and finishes on its retry.
        let drained =
            within(Duration::from_secs(20), "drain", engine.drain(Duration::from_secs(5)))
                .await
                .unwrap();
        assert_eq!(drained.done, 1);
        assert_eq!(engine.tree_status().await.unwrap().held, 0);
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}
