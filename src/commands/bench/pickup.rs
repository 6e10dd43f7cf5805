//! Pickup latency on an idle runner with one worker: from an enqueue to its handler's start,
//! p50 and p99, for a job enqueued through the engine's own handle and for one committed by
//! another connection, as `nightshift enqueue` does from another shell.

use std::path::Path;
use std::time::{Duration, Instant};

use nightshift_actors::{Admin, Engine, EngineHandle, NewJob};
use tokio::sync::mpsc;

use super::engine::{NoOp, config};
use super::{Level, On, Scratch, failed};
use crate::Failure;

/// Samples through the engine's handle.
const IN_PROCESS_SAMPLES: usize = 200;
/// How long one job may take to start before the bench gives up on the engine.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A latency's percentiles, ms.
pub(super) struct Latency {
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) samples: usize,
}

/// Samples from another connection: each can cost up to the engine's rescan interval, so
/// there are fewer, from 10 (`--jobs` up to 2,000) to 50 (`--jobs` 10,000 and up). At 50 the
/// p99 is the slowest sample.
fn other_samples(jobs: usize) -> usize {
    (jobs / 200).clamp(10, 50)
}

/// Both pickups, each on a fresh database made `on`: in process, then from another
/// connection ([`other_samples`] of them).
pub(super) fn both(
    runtime: &tokio::runtime::Runtime,
    on: On<'_>,
    jobs: usize,
    level: Level,
) -> Result<(Latency, Latency), Failure> {
    let inside = runtime.block_on(in_process(Scratch::new(on)?.path(), level))?;
    let db = Scratch::new(on)?;
    let other = runtime.block_on(other_connection(db.path(), level, other_samples(jobs)))?;
    Ok((inside, other))
}

/// From `EngineHandle::enqueue` being called to the handler starting.
async fn in_process(db: &Path, level: Level) -> Result<Latency, Failure> {
    let (tx, mut started) = mpsc::unbounded_channel();
    let engine = Engine::start(config(db, 1, level.sync), NoOp(Some(tx))).await?;
    let mut samples = Vec::with_capacity(IN_PROCESS_SAMPLES);
    for i in 0..IN_PROCESS_SAMPLES {
        // Let the worker go idle first: pickup is measured from rest.
        engine.drain(Duration::ZERO).await?;
        let sent = Instant::now();
        engine.enqueue(NewJob::new(format!("pickup-{i}"), "{}")).await?;
        samples.push(start_after(&mut started, sent).await?);
    }
    engine.shutdown(Duration::from_secs(5)).await?;
    Ok(percentiles(samples))
}

/// From another connection's enqueue committing to the handler starting.
///
/// The job is written by `Admin::enqueue` on a thread and connection of its own: the path
/// `nightshift enqueue` takes (`Admin`, its own connection, `BEGIN IMMEDIATE` and commit), but
/// in this process, so the moment `enqueue` returns, just after COMMIT, is on the same clock
/// as the handler's start. Spawning the binary instead would leave the commit's moment unknown
/// within the child's start and exit, which cost more than the 50 ms this must resolve. The
/// `Admin` holds nothing of the engine's: the engine can learn of the job only from the
/// database file, as it learns of another process's. Each enqueue waits a different fraction
/// of the engine's rescan interval after the worker went idle, so the commits fall at spread
/// phases of any periodic check and the figure is what a job arriving at a random moment sees.
async fn other_connection(db: &Path, level: Level, count: usize) -> Result<Latency, Failure> {
    let (tx, mut started) = mpsc::unbounded_channel();
    let engine_config = config(db, 1, level.sync);
    let interval = engine_config.poll_interval;
    let engine = Engine::start(engine_config, NoOp(Some(tx))).await?;
    let mut admin = Admin::open(&config(db, 1, level.sync))?;
    let (ask, asks) = std::sync::mpsc::channel::<String>();
    let (tell, mut committed) = mpsc::unbounded_channel();
    let writer = std::thread::spawn(move || {
        for key in asks {
            let done = admin.enqueue(&NewJob::new(key, "{}")).map(|_| Instant::now());
            if tell.send(done).is_err() {
                break;
            }
        }
    });
    let measured = sample_other(&engine, &ask, &mut committed, &mut started, interval, count).await;
    drop(ask);
    let _ = writer.join();
    engine.shutdown(Duration::from_secs(5)).await?;
    Ok(percentiles(measured?))
}

async fn sample_other(
    engine: &EngineHandle,
    ask: &std::sync::mpsc::Sender<String>,
    committed: &mut mpsc::UnboundedReceiver<Result<Instant, nightshift_actors::StoreError>>,
    started: &mut mpsc::UnboundedReceiver<Instant>,
    interval: Duration,
    count: usize,
) -> Result<Vec<f64>, Failure> {
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        engine.drain(Duration::ZERO).await?;
        // The golden ratio's multiples modulo 1 cover [0, 1) evenly in any number of steps.
        tokio::time::sleep(interval.mul_f64((i as f64 * 0.618_033_988_75).fract())).await;
        ask.send(format!("other-{i}")).map_err(|_| failed("the enqueueing thread stopped"))?;
        let at = committed.recv().await.ok_or_else(|| failed("the enqueueing thread stopped"))?;
        samples.push(start_after(started, at?).await?);
    }
    Ok(samples)
}

/// Waits for the next handler start; ms since `since` (0 if it came first).
async fn start_after(
    started: &mut mpsc::UnboundedReceiver<Instant>,
    since: Instant,
) -> Result<f64, Failure> {
    let at = tokio::time::timeout(START_LIMIT, started.recv())
        .await
        .map_err(|_| {
            failed(format!(
                "a job enqueued into an idle runner did not start within {START_LIMIT:?}"
            ))
        })?
        .ok_or_else(|| failed("the handler went away"))?;
    Ok(at.saturating_duration_since(since).as_secs_f64() * 1000.0)
}

/// p50 and p99 of `samples` (ms), to the microsecond.
fn percentiles(mut samples: Vec<f64>) -> Latency {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let ms = samples[((samples.len() - 1) as f64 * q).round() as usize];
        (ms * 1000.0).round() / 1000.0
    };
    Latency { p50_ms: at(0.5), p99_ms: at(0.99), samples: samples.len() }
}
