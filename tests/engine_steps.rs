//! Memoized steps through the embedding API (`Job::step`): a retried job does not run, nor
//! pay for, the steps an earlier attempt recorded; a name used again in one attempt is counted;
//! an attempt whose lease is gone is refused.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nightshift_actors::{Engine, Job, NewJob, Outcome, StepError, StepOutput};

use crate::util::{config, handler, within};

/// The error a step's work fails with in these tests.
#[derive(Debug)]
enum Failed {
    Work(String),
    Step(StepError),
}

impl From<StepError> for Failed {
    fn from(e: StepError) -> Self {
        Failed::Step(e)
    }
}

/// Runs three steps; the second fails on attempts 1 and 2. Counts how often each step's work
/// ran.
async fn three_steps(job: Job, runs: Arc<[AtomicU32; 3]>) -> Outcome {
    let attempt = job.attempt;
    let result: Result<String, Failed> = async {
        let first = job
            .step("research", async {
                runs[0].fetch_add(1, Ordering::SeqCst);
                Ok::<_, Failed>(StepOutput::new("notes", 0.25))
            })
            .await?;
        let second = job
            .step("draft", async {
                runs[1].fetch_add(1, Ordering::SeqCst);
                if attempt <= 2 {
                    return Err(Failed::Work(format!("the model timed out (attempt {attempt})")));
                }
                Ok(StepOutput::new(format!("draft from {first}"), 0.5))
            })
            .await?;
        job.step("polish", async {
            runs[2].fetch_add(1, Ordering::SeqCst);
            Ok::<_, Failed>(StepOutput::new(format!("{second}, polished"), 0.0))
        })
        .await
    }
    .await;
    match result {
        Ok(text) => Outcome::Success { result: Some(text), cost_usd: 0.0 },
        Err(Failed::Work(error)) => Outcome::retry(error),
        Err(Failed::Step(error)) => Outcome::retry(error.to_string()),
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_step_recorded_before_a_failure_runs_once_and_is_paid_once(db: TempDb) {
        let runs: Arc<[AtomicU32; 3]> = Arc::new(Default::default());
        let counted = runs.clone();
        let h = handler(move |job| three_steps(job, counted.clone()));
        let engine = Engine::start(config(&db.path), h).await.unwrap();
        engine.enqueue(NewJob::new("agent", "{}")).await.unwrap();
        let status = within(Duration::from_secs(20), "drain", engine.drain(Duration::from_secs(3)))
            .await
            .unwrap();
        let job = engine.job("agent").await.unwrap().expect("the job");
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
        assert_eq!(status.done, 1, "{status:?}");
        assert_eq!(job.result.as_deref(), Some("draft from notes, polished"));
        let ran: Vec<u32> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
        assert_eq!(ran, [1, 3, 1], "research once, draft on each of 3 attempts, polish once");
        assert_eq!(status.spend_today_micros, 750_000, "research's $0.25 once, draft's $0.50 once");
        assert_eq!(db.count("SELECT count(*) FROM steps WHERE job_key = 'agent'"), 3);
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_step_name_used_again_in_one_attempt_is_counted(db: TempDb) {
        let h = handler(|job: Job| async move {
            for turn in 1..=3 {
                let recorded =
                    job.step("page", async move { Ok::<_, StepError>(format!("turn {turn}").into()) });
                if recorded.await.is_err() {
                    return Outcome::retry("step refused");
                }
            }
            Outcome::success()
        });
        let engine = Engine::start(config(&db.path), h).await.unwrap();
        engine.enqueue(NewJob::new("looping", "{}")).await.unwrap();
        within(Duration::from_secs(20), "drain", engine.drain(Duration::from_secs(3)))
            .await
            .unwrap();
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
        let names = crate::util::store::rows(
            &db.path,
            "SELECT name, output FROM steps WHERE job_key = 'looping' ORDER BY name",
        );
        assert_eq!(names, [["page", "turn 1"], ["page:2", "turn 2"], ["page:3", "turn 3"]]);
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_attempt_cannot_record_a_step(db: TempDb) {
        // Attempt 1 keeps its Job and fails; attempt 2 tries to record through attempt 1's.
        let kept: Arc<Mutex<Option<Job>>> = Arc::default();
        let stale = Arc::new(Mutex::new(None));
        let (keep, refused) = (kept.clone(), stale.clone());
        let h = handler(move |job: Job| {
            let (keep, refused) = (keep.clone(), refused.clone());
            async move {
                if job.attempt == 1 {
                    *keep.lock().unwrap() = Some(job);
                    return Outcome::retry("first attempt fails");
                }
                let old = keep.lock().unwrap().take().expect("attempt 1's job");
                let put = old.steps.put("late", StepOutput::new("from attempt 1", 1.0)).await;
                *refused.lock().unwrap() = Some(matches!(put, Err(StepError::LeaseLost)));
                Outcome::success()
            }
        });
        let engine = Engine::start(config(&db.path), h).await.unwrap();
        engine.enqueue(NewJob::new("stale", "{}")).await.unwrap();
        let status = within(Duration::from_secs(20), "drain", engine.drain(Duration::from_secs(3)))
            .await
            .unwrap();
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
        assert_eq!(*stale.lock().unwrap(), Some(true), "refused with LeaseLost");
        assert_eq!(db.count("SELECT count(*) FROM steps"), 0);
        assert_eq!(status.spend_today_micros, 0, "nothing charged");
    }
}
