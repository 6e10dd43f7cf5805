//! The Dispatcher's paths in-process: a job enqueued through the engine into an idle runner is
//! claimed in the commit that inserts it; a job enqueued by another connection is noticed
//! without waiting for the rescan; jobs claimed ahead go back unrun when a gate closes.

use std::time::Duration;

use nightshift_actors::{Admin, Engine, NewJob, Outcome};

use crate::util::{config, eventually, handler, within};

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_enqueued_into_an_idle_runner_is_claimed_in_the_commit_that_inserts_it(
        db: TempDb,
    ) {
        // Every handler waits until the test opens the gate; once open it stays open.
        let (open, gate) = tokio::sync::watch::channel(false);
        let h = handler(move |_| {
            let mut gate = gate.clone();
            async move {
                let _ = gate.wait_for(|open| *open).await;
                Outcome::success()
            }
        });
        let mut cfg = config(&db.path);
        cfg.workers = 4;
        let engine = Engine::start(cfg, h).await.unwrap();
        for i in 0..5 {
            engine.enqueue(NewJob::new(format!("now-{i}"), "{}")).await.unwrap();
            // Acknowledged means committed: the same commit took the job for an idle worker.
            let status = if i < 4 { "running" } else { "pending" };
            let sql =
                format!("SELECT count(*) FROM jobs WHERE key = 'now-{i}' AND status = '{status}'");
            assert_eq!(db.count(&sql), 1, "job {i} with 4 workers is {status}");
        }
        open.send_replace(true);
        eventually(Duration::from_secs(10), "all done", || async {
            db.count("SELECT count(*) FROM jobs WHERE status = 'done'") == 5
        })
        .await;
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_enqueued_by_another_connection_starts_without_waiting_for_the_rescan(
        db: TempDb,
    ) {
        let mut cfg = config(&db.path);
        // A rescan that never comes within the test: only the watch on other commits can notice.
        cfg.poll_interval = Duration::from_secs(3600);
        let (started, mut runs) = tokio::sync::mpsc::unbounded_channel();
        let h = handler(move |job| {
            let _ = started.send(job.key);
            async { Outcome::success() }
        });
        let engine = Engine::start(cfg.clone(), h).await.unwrap();
        // Let the start-up rescan pass first.
        engine.drain(Duration::ZERO).await.unwrap();
        let mut admin = Admin::open(&cfg).unwrap();
        admin.enqueue(&NewJob::new("from-the-cli", "{}")).unwrap();
        let key = within(Duration::from_secs(10), "the job runs", runs.recv()).await;
        assert_eq!(key.as_deref(), Some("from-the-cli"));
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pausing_a_busy_runner_leaves_no_job_claimed_ahead(db: TempDb) {
        let mut cfg = config(&db.path);
        cfg.workers = 8;
        let starts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = starts.clone();
        let h = handler(move |_| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Outcome::success() }
        });
        let engine = Engine::start(cfg, h).await.unwrap();
        engine.pause(Some("fill")).await.unwrap();
        for i in 0..2000 {
            engine.enqueue(NewJob::new(format!("quick-{i}"), "{}")).await.unwrap();
        }
        engine.resume().await.unwrap();
        // Jobs this quick are claimed ahead of the workers, many a round.
        eventually(Duration::from_secs(20), "some jobs done", || async {
            db.count("SELECT count(*) FROM jobs WHERE status = 'done'") >= 200
        })
        .await;
        engine.pause(Some("stop now")).await.unwrap();
        let at_pause = starts.load(std::sync::atomic::Ordering::SeqCst);
        let status =
            within(Duration::from_secs(20), "drain", engine.drain(Duration::ZERO)).await.unwrap();
        assert!(status.paused);
        // Once pause returned, no job claimed ahead was handed out: at most the ones already given
        // to the workers started.
        let after = starts.load(std::sync::atomic::Ordering::SeqCst) - at_pause;
        assert!(after <= 8, "{after} jobs started after pause returned");
        // Whatever was claimed ahead went back: nothing is left running, nothing was lost.
        assert_eq!(db.count("SELECT count(*) FROM jobs WHERE status = 'running'"), 0);
        assert_eq!(db.count("SELECT count(*) FROM jobs WHERE attempts > 0"), 0);
        assert_eq!(db.count("SELECT count(*) FROM jobs"), 2000);
        assert!(
            db.count("SELECT count(*) FROM jobs WHERE status = 'pending'") > 0,
            "paused midway"
        );
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}
