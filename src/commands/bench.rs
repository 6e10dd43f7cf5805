//! `nightshift bench`: no-op jobs through the whole engine on a fresh temp database, one
//! awaited enqueue call at a time from concurrent producers, then drained by in-process
//! workers; plus pickup latency on an idle runner, peak RSS, and the same work done by raw
//! rusqlite in batches of 100 as the yardstick. Figures are for comparing within one run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nightshift_actors::{Engine, EngineConfig, Handler, Job, NewJob, Outcome, Synchronous};
use serde_json::json;
use tokio::sync::mpsc;

use crate::Failure;
use crate::cli::BenchArgs;
use crate::output::{self, outln};

const PRODUCERS: usize = 32;
const PICKUP_SAMPLES: usize = 200;

/// Succeeds at once; tells the pickup probe when a job starts.
struct NoOp(Option<mpsc::UnboundedSender<Instant>>);

#[async_trait::async_trait]
impl Handler for NoOp {
    async fn run(&self, _: Job) -> Outcome {
        if let Some(started) = &self.0 {
            let _ = started.send(Instant::now());
        }
        Outcome::success()
    }
}

pub fn run(args: &BenchArgs) -> Result<(), Failure> {
    let failed = |e: String| Failure::Failed(format!("bench: {e}"));
    let sync = if args.synchronous == "normal" { Synchronous::Normal } else { Synchronous::Full };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let dir = tempfile::tempdir().map_err(|e| failed(e.to_string()))?;
    let jobs = args.jobs as usize;
    let (enqueue_s, drain_s) = runtime.block_on(throughput(&dir, jobs, args.workers, sync))?;
    let (p50, p99) = runtime.block_on(pickup(&dir, sync))?;
    let raw_s =
        raw_batches(&dir.path().join("raw.db"), jobs, sync).map_err(|e| failed(e.to_string()))?;
    let rate = |secs: f64| (jobs as f64 / secs.max(1e-9)).round() as u64;
    let figures = json!({
        "jobs": jobs,
        "workers": args.workers,
        "synchronous": args.synchronous,
        "enqueue_per_s": rate(enqueue_s),
        "drain_per_s": rate(drain_s),
        "jobs_per_s": rate(enqueue_s + drain_s),
        "raw_batch100_jobs_per_s": rate(raw_s),
        "vs_raw": ((raw_s / (enqueue_s + drain_s)) * 1000.0).round() / 1000.0,
        "pickup_p50_ms": (p50 * 1000.0).round() / 1000.0,
        "pickup_p99_ms": (p99 * 1000.0).round() / 1000.0,
        "peak_rss_kb": peak_rss_kb(),
    });
    if args.json {
        return output::print_json(&figures);
    }
    outln!("{jobs} no-op jobs, {} workers, synchronous={}", args.workers, args.synchronous)?;
    for (label, key) in [
        ("enqueue", "enqueue_per_s"),
        ("drain", "drain_per_s"),
        ("end to end", "jobs_per_s"),
        ("raw rusqlite, batches of 100", "raw_batch100_jobs_per_s"),
    ] {
        outln!("  {label:<30} {:>10} jobs/s", figures[key])?;
    }
    outln!("  end to end / raw               {:>10}", figures["vs_raw"])?;
    outln!(
        "  pickup p50 / p99 (idle runner) {:>6} / {} ms",
        figures["pickup_p50_ms"],
        figures["pickup_p99_ms"]
    )?;
    outln!("  peak RSS                       {:>10} KiB", figures["peak_rss_kb"])?;
    Ok(())
}

fn config(dir: &tempfile::TempDir, name: &str, workers: u32, sync: Synchronous) -> EngineConfig {
    let mut c = EngineConfig::new(dir.path().join(name));
    c.workers = workers as usize;
    c.synchronous = sync;
    c
}

/// Seconds to enqueue `jobs` (workers held off by the kill switch), then to drain them.
async fn throughput(
    dir: &tempfile::TempDir,
    jobs: usize,
    workers: u32,
    sync: Synchronous,
) -> Result<(f64, f64), Failure> {
    let engine = Arc::new(Engine::start(config(dir, "bench.db", workers, sync), NoOp(None)).await?);
    engine.pause(Some("bench: enqueue phase")).await?;
    let start = Instant::now();
    let mut producers = tokio::task::JoinSet::new();
    for p in 0..PRODUCERS {
        let engine = engine.clone();
        producers.spawn(async move {
            for i in (p..jobs).step_by(PRODUCERS) {
                engine.enqueue(NewJob::new(format!("job-{i}"), "{}")).await?;
            }
            Ok::<_, nightshift_actors::EngineError>(())
        });
    }
    for done in producers.join_all().await {
        done?;
    }
    let enqueued = start.elapsed().as_secs_f64();
    engine.resume().await?;
    let start = Instant::now();
    let status = engine.drain(Duration::ZERO).await?;
    let drained = start.elapsed().as_secs_f64();
    if status.done as usize != jobs {
        return Err(Failure::Failed(format!("bench: {} of {jobs} jobs done", status.done)));
    }
    let engine = Arc::into_inner(engine)
        .ok_or_else(|| Failure::Failed("bench: engine still shared".into()))?;
    engine.shutdown(Duration::from_secs(5)).await?;
    Ok((enqueued, drained))
}

/// Enqueue-to-start latency on an idle runner, p50 and p99 in milliseconds.
async fn pickup(dir: &tempfile::TempDir, sync: Synchronous) -> Result<(f64, f64), Failure> {
    let (tx, mut started) = mpsc::unbounded_channel();
    let engine = Engine::start(config(dir, "pickup.db", 1, sync), NoOp(Some(tx))).await?;
    let mut samples = Vec::with_capacity(PICKUP_SAMPLES);
    for i in 0..PICKUP_SAMPLES {
        // Let the worker go idle first: pickup is measured from rest.
        engine.drain(Duration::ZERO).await?;
        let sent = Instant::now();
        engine.enqueue(NewJob::new(format!("pickup-{i}"), "{}")).await?;
        let at = started.recv().await.ok_or_else(|| Failure::Failed("bench: no pickup".into()))?;
        samples.push(at.duration_since(sent).as_secs_f64() * 1000.0);
    }
    engine.shutdown(Duration::from_secs(5)).await?;
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Ok((at(0.5), at(0.99)))
}

/// Seconds for raw rusqlite to insert, claim and complete `jobs` rows in transactions of 100.
fn raw_batches(path: &std::path::Path, jobs: usize, sync: Synchronous) -> rusqlite::Result<f64> {
    let mut conn = rusqlite::Connection::open(path)?;
    let mode = if sync == Synchronous::Normal { "NORMAL" } else { "FULL" };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {mode};
         CREATE TABLE jobs (key TEXT PRIMARY KEY, payload TEXT, status TEXT, run_at INTEGER);
         CREATE INDEX due ON jobs (run_at) WHERE status = 'pending';"
    ))?;
    let start = Instant::now();
    for chunk in (0..jobs).collect::<Vec<_>>().chunks(100) {
        let tx = conn.transaction()?;
        for i in chunk {
            tx.execute("INSERT INTO jobs VALUES (?1, '{}', 'pending', 0)", [format!("job-{i}")])?;
        }
        tx.commit()?;
    }
    loop {
        let tx = conn.transaction()?;
        let keys: Vec<String> = tx
            .prepare("SELECT key FROM jobs WHERE status = 'pending' ORDER BY run_at LIMIT 100")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for k in &keys {
            tx.execute("UPDATE jobs SET status = 'running' WHERE key = ?1", [k])?;
        }
        tx.commit()?;
        if keys.is_empty() {
            break;
        }
        let tx = conn.transaction()?;
        for k in &keys {
            tx.execute("UPDATE jobs SET status = 'done' WHERE key = ?1", [k])?;
        }
        tx.commit()?;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// The process's peak resident set (VmHWM), KiB.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
