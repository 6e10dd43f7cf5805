//! The engine's runs: no-op jobs enqueued through the engine's handle and then drained, and
//! drains of a database filled beforehand. Only the engine's public API is used, as an
//! embedding host would use it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nightshift_actors::{
    Admin, Engine, EngineConfig, EngineError, Handler, Job, NewJob, Outcome, Synchronous,
};
use tokio::sync::mpsc;

use super::{Level, failed};
use crate::Failure;

/// Concurrent producers, each awaiting one enqueue call at a time.
pub(super) const PRODUCERS: usize = 32;
/// Jobs per transaction when filling a database before a drain (not measured).
const FILL_BATCH: usize = 1000;

/// Succeeds at once; tells the pickup probes when a job starts.
pub(super) struct NoOp(pub(super) Option<mpsc::UnboundedSender<Instant>>);

#[async_trait::async_trait]
impl Handler for NoOp {
    async fn run(&self, _: Job) -> Outcome {
        if let Some(started) = &self.0 {
            let _ = started.send(Instant::now());
        }
        Outcome::success()
    }
}

/// The engine's defaults for `db`, with `workers` workers at `sync`.
pub(super) fn config(db: &Path, workers: u32, sync: Synchronous) -> EngineConfig {
    let mut c = EngineConfig::new(db);
    c.workers = workers as usize;
    c.synchronous = sync;
    c
}

/// Seconds of one end-to-end run's two phases.
pub(super) struct Run {
    pub(super) enqueue_s: f64,
    pub(super) drain_s: f64,
}

/// Enqueues `jobs` through the engine (the workers held off by the kill switch), then drains
/// them with `workers` workers.
pub(super) async fn enqueue_and_drain(
    db: &Path,
    jobs: usize,
    workers: u32,
    level: Level,
) -> Result<Run, Failure> {
    let engine = Arc::new(Engine::start(config(db, workers, level.sync), NoOp(None)).await?);
    engine.pause(Some("bench: enqueue phase")).await?;
    let start = Instant::now();
    let mut producers = tokio::task::JoinSet::new();
    for p in 0..PRODUCERS {
        let engine = engine.clone();
        producers.spawn(async move {
            for i in (p..jobs).step_by(PRODUCERS) {
                engine.enqueue(NewJob::new(format!("job-{i}"), "{}")).await?;
            }
            Ok::<_, EngineError>(())
        });
    }
    for done in producers.join_all().await {
        done?;
    }
    let enqueue_s = start.elapsed().as_secs_f64();
    let drain_s = resume_and_drain(&engine, jobs).await?;
    let engine = Arc::into_inner(engine).ok_or_else(|| failed("engine still shared"))?;
    engine.shutdown(Duration::from_secs(5)).await?;
    Ok(Run { enqueue_s, drain_s })
}

/// Writes `jobs` pending jobs into a new database at `db` and turns its kill switch on, so an
/// engine started on it claims nothing until the drain is timed.
pub(super) fn fill(db: &Path, jobs: usize, level: Level) -> Result<(), Failure> {
    let mut admin = Admin::create(&config(db, 1, level.sync))?;
    // One batch of jobs in memory at a time: a Vec of them all would grow the peak RSS the
    // bench reports with the number of jobs.
    for first in (0..jobs).step_by(FILL_BATCH) {
        let batch: Vec<NewJob> = (first..jobs.min(first + FILL_BATCH))
            .map(|i| NewJob::new(format!("job-{i}"), "{}"))
            .collect();
        admin.enqueue_all(&batch)?;
    }
    admin.set_paused(true, Some("bench: filled, not yet timed"))?;
    Ok(())
}

/// Seconds for `workers` workers to drain the `jobs` jobs [`fill`] wrote.
pub(super) async fn drain(
    db: &Path,
    jobs: usize,
    workers: u32,
    level: Level,
) -> Result<f64, Failure> {
    let engine = Engine::start(config(db, workers, level.sync), NoOp(None)).await?;
    let secs = resume_and_drain(&engine, jobs).await?;
    engine.shutdown(Duration::from_secs(5)).await?;
    Ok(secs)
}

/// Turns the kill switch off and times the drain that follows; checks every job was done.
async fn resume_and_drain(
    engine: &nightshift_actors::EngineHandle,
    jobs: usize,
) -> Result<f64, Failure> {
    let start = Instant::now();
    engine.resume().await?;
    let status = engine.drain(Duration::ZERO).await?;
    let secs = start.elapsed().as_secs_f64();
    if status.done as usize != jobs {
        return Err(failed(format!("{} of {jobs} jobs done", status.done)));
    }
    Ok(secs)
}
