//! Enqueue is idempotent on the key: duplicates and conflicts change nothing, a dead-lettered
//! key stays buried, and concurrent enqueues of one key leave one row.

use std::sync::Arc;
use std::time::Duration;

use nightshift_actors::{
    Engine, EngineError, Enqueued, JobStatus, NewJob, Outcome, StoreError, Timestamp,
};
use tokio::sync::Notify;

use crate::util::{config, eventually, handler, within};

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn existing_keys_report_duplicate_or_conflict_in_every_status(db: TempDb) {
        let release = Arc::new(Notify::new());
        let gate = release.clone();
        let engine = Engine::start(
            config(&db.path),
            handler(move |job| {
                let gate = gate.clone();
                async move {
                    match job.key.as_str() {
                        "held" => gate.notified().await,
                        "poison" => return Outcome::permanent("bad input"),
                        _ => {}
                    }
                    Outcome::success()
                }
            }),
        )
        .await
        .unwrap();

        // pending: scheduled later so no worker takes it.
        let later = NewJob {
            run_at: Some(Timestamp::from_millis(i64::MAX / 2)),
            ..NewJob::new("later", "p")
        };
        assert_eq!(engine.enqueue(later.clone()).await.unwrap(), Enqueued::Enqueued);
        assert_eq!(
            engine.enqueue(later.clone()).await.unwrap(),
            Enqueued::Duplicate { status: JobStatus::Pending }
        );
        assert_eq!(
            engine.enqueue(NewJob { payload: "other".into(), ..later }).await.unwrap(),
            Enqueued::Conflict { status: JobStatus::Pending }
        );

        // running
        engine.enqueue(NewJob::new("held", "p")).await.unwrap();
        eventually(Duration::from_secs(10), "held is running", || async {
            engine.job("held").await.unwrap().is_some_and(|j| j.status == JobStatus::Running)
        })
        .await;
        assert_eq!(
            engine.enqueue(NewJob::new("held", "p")).await.unwrap(),
            Enqueued::Duplicate { status: JobStatus::Running }
        );
        assert_eq!(
            engine.enqueue(NewJob::new("held", "changed")).await.unwrap(),
            Enqueued::Conflict { status: JobStatus::Running }
        );
        release.notify_one();

        // done
        eventually(Duration::from_secs(10), "held is done", || async {
            engine.job("held").await.unwrap().is_some_and(|j| j.status == JobStatus::Done)
        })
        .await;
        assert_eq!(
            engine.enqueue(NewJob::new("held", "p")).await.unwrap(),
            Enqueued::Duplicate { status: JobStatus::Done }
        );

        // dead-lettered: stays buried, whatever the payload.
        engine.enqueue(NewJob::new("poison", "p")).await.unwrap();
        eventually(Duration::from_secs(10), "poison is dead-lettered", || async {
            engine.dead_letter("poison").await.unwrap().is_some()
        })
        .await;
        assert_eq!(
            engine.enqueue(NewJob::new("poison", "p")).await.unwrap(),
            Enqueued::DeadLettered
        );
        assert_eq!(
            engine.enqueue(NewJob::new("poison", "x")).await.unwrap(),
            Enqueued::DeadLettered
        );
        assert_eq!(db.count("SELECT count(*) FROM jobs WHERE key = 'poison'"), 0);
        assert_eq!(db.count("SELECT count(*) FROM jobs WHERE key = 'later' AND payload = 'p'"), 1);
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn thirty_two_concurrent_enqueues_of_one_key_leave_one_row(db: TempDb) {
        let engine = Arc::new(
            Engine::start(config(&db.path), handler(|_| async { Outcome::success() }))
                .await
                .unwrap(),
        );
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let engine = engine.clone();
            tasks.spawn(async move {
                engine.enqueue(NewJob::new("same-key", "same payload")).await.unwrap()
            });
        }
        let answers = within(Duration::from_secs(30), "32 enqueues", tasks.join_all()).await;
        let created = answers.iter().filter(|a| **a == Enqueued::Enqueued).count();
        let duplicates = answers.iter().filter(|a| matches!(a, Enqueued::Duplicate { .. })).count();
        assert_eq!(created, 1, "exactly one enqueue creates the row: {answers:?}");
        assert_eq!(duplicates, 31);
        assert_eq!(db.count("SELECT count(*) FROM jobs WHERE key = 'same-key'"), 1);
        let engine = Arc::into_inner(engine).expect("tasks done");
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_keys_and_oversized_payloads_are_refused_and_write_nothing(db: TempDb) {
        let mut cfg = config(&db.path);
        cfg.max_payload = 16;
        let engine = Engine::start(cfg, handler(|_| async { Outcome::success() })).await.unwrap();
        let cases = [
            NewJob::new("", "p"),
            NewJob::new("k".repeat(256), "p"),
            NewJob::new("line\nbreak", "p"),
            NewJob::new("big", "x".repeat(17)),
        ];
        for job in cases {
            match engine.enqueue(job.clone()).await {
                Err(EngineError::Store(
                    StoreError::InvalidKey(_) | StoreError::PayloadTooLarge { .. },
                )) => {}
                other => panic!("{:?} was not refused: {other:?}", job.key),
            }
        }
        // At the limits, accepted; SQL metacharacters round-trip literally.
        let tricky = "'; DROP TABLE jobs;--";
        assert_eq!(
            engine.enqueue(NewJob::new(tricky, "x".repeat(16))).await.unwrap(),
            Enqueued::Enqueued
        );
        assert_eq!(
            engine.enqueue(NewJob::new("k".repeat(255), "")).await.unwrap(),
            Enqueued::Enqueued
        );
        assert_eq!(db.count("SELECT count(*) FROM jobs"), 2);
        assert!(engine.job(tricky).await.unwrap().is_some());
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}
