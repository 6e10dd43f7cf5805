//! Drain (the `run --once` behaviour) and ordered shutdown with a grace period.

use std::sync::Arc;
use std::time::Duration;

use nightshift_actors::{Clock, Engine, JobStatus, NewJob, Outcome, SystemClock};

use tokio::sync::Notify;

use crate::util::{TempDb, config, events, handler, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_runs_what_is_due_waits_for_near_retries_and_leaves_later_jobs_pending() {
    let db = TempDb::new();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_returns_at_once_while_paused_and_leaves_jobs_untouched() {
    let db = TempDb::new();
    let engine =
        Engine::start(config(&db.path), handler(|_| async { Outcome::success() })).await.unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_job_finish_within_the_grace_period() {
    let db = TempDb::new();
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
    let row: (String, i64) = db
        .conn()
        .query_row("SELECT status, attempts FROM jobs WHERE key = 'short'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(row, ("done".to_owned(), 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_past_the_grace_period_releases_the_lease_without_counting_an_attempt() {
    events::capture();
    let db = TempDb::new();
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
    engine.enqueue(NewJob::new("endless", "{}")).await.unwrap();
    within(Duration::from_secs(10), "endless starts", started.notified()).await;
    within(Duration::from_secs(20), "shutdown", engine.shutdown(Duration::from_millis(200)))
        .await
        .unwrap();
    let row: (String, i64, Option<String>) = db
        .conn()
        .query_row(
            "SELECT status, attempts, lease_token FROM jobs WHERE key = 'endless'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(row, ("pending".to_owned(), 0, None));
    let interrupted = events::for_key("endless");
    assert!(interrupted.iter().any(|e| e.name() == "job_interrupted"));
}
