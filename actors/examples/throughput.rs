//! Pushes no-op jobs through the whole tree (enqueue, claim, run, complete) and prints the
//! rates, once with group commit and once committing every write alone, in one run so the two
//! figures share the machine's weather.
//!
//! ```text
//! cargo run --release -p nightshift-actors --example throughput -- [JOBS] [WORKERS] [full|normal]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use nightshift_actors::{Engine, EngineConfig, Handler, Job, NewJob, Outcome, Synchronous};

struct NoOp;

#[async_trait::async_trait]
impl Handler for NoOp {
    async fn run(&self, _: Job) -> Outcome {
        Outcome::success()
    }
}

struct Figures {
    enqueue_per_s: f64,
    drain_per_s: f64,
    jobs_per_s: f64,
}

async fn measure(jobs: usize, workers: usize, sync: Synchronous, max_batch: usize) -> Figures {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = EngineConfig::new(dir.path().join("bench.db"));
    config.workers = workers;
    config.synchronous = sync;
    config.max_batch = max_batch;
    let engine = Arc::new(Engine::start(config, NoOp).await.expect("engine starts"));
    // Hold the workers off while enqueueing, so the two phases are measured apart.
    engine.pause(Some("bench: enqueue phase")).await.expect("pause");
    let start = Instant::now();
    let producers = 32;
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..producers {
        let engine = engine.clone();
        tasks.spawn(async move {
            for i in (p..jobs).step_by(producers) {
                engine.enqueue(NewJob::new(format!("job-{i}"), "{}")).await.expect("enqueue");
            }
        });
    }
    tasks.join_all().await;
    let enqueued = start.elapsed();
    engine.resume().await.expect("resume");
    let drain_start = Instant::now();
    let status = engine.drain(Duration::ZERO).await.expect("drain");
    let drained = drain_start.elapsed();
    assert_eq!(status.done as usize, jobs, "every job done");
    let engine = Arc::into_inner(engine).expect("producers finished");
    engine.shutdown(Duration::from_secs(5)).await.expect("shutdown");
    let total = enqueued + drained;
    Figures {
        enqueue_per_s: jobs as f64 / enqueued.as_secs_f64(),
        drain_per_s: jobs as f64 / drained.as_secs_f64(),
        jobs_per_s: jobs as f64 / total.as_secs_f64(),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let jobs: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let workers: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(4);
    let sync = match args.get(2).map(String::as_str) {
        Some("normal") => Synchronous::Normal,
        _ => Synchronous::Full,
    };
    println!("{jobs} no-op jobs, {workers} workers, synchronous={sync:?}");
    let grouped = measure(jobs, workers, sync, 256).await;
    let single = measure(jobs, workers, sync, 1).await;
    for (name, f) in [("group commit", &grouped), ("commit per write", &single)] {
        println!(
            "{name:>17}: enqueue {:>9.0}/s  drain {:>9.0}/s  end to end {:>9.0} jobs/s",
            f.enqueue_per_s, f.drain_per_s, f.jobs_per_s
        );
    }
    println!(
        "group commit / commit per write: enqueue x{:.1}, drain x{:.1}, end to end x{:.1}",
        grouped.enqueue_per_s / single.enqueue_per_s,
        grouped.drain_per_s / single.drain_per_s,
        grouped.jobs_per_s / single.jobs_per_s
    );
}
