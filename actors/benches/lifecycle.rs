//! A job's claim, run and complete through the engine's public API, end to end: `Engine::start`
//! with a no-op handler on a database holding `JOBS` pending jobs (written beforehand and not
//! timed), then `drain`, timed from `resume` to the drain's return. At 4 and 32 workers, at
//! synchronous=full and normal; throughput is per job.
//!
//! ```text
//! cargo bench -p nightshift-actors --bench lifecycle
//! ```
//!
//! Short by default (10 samples of a few drains each, 5 s per case); criterion's own flags lengthen
//! it, e.g. `-- --measurement-time 30`.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use criterion::{criterion_group, criterion_main};
use nightshift_actors::{Admin, Engine, EngineConfig, Handler, Job, NewJob, Outcome, Synchronous};

/// Jobs per drain.
const JOBS: usize = 500;

struct NoOp;

#[async_trait::async_trait]
impl Handler for NoOp {
    async fn run(&self, _: Job) -> Outcome {
        Outcome::success()
    }
}

/// One drain of `JOBS` jobs on a fresh database; the time from `resume` to the drain's end.
async fn drain_once(workers: usize, sync: Synchronous) -> Duration {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut config = EngineConfig::new(dir.path().join("bench.db"));
    config.workers = workers;
    config.synchronous = sync;
    let mut admin = Admin::create(&config).expect("a new database");
    let jobs: Vec<NewJob> = (0..JOBS).map(|i| NewJob::new(format!("job-{i}"), "{}")).collect();
    admin.enqueue_all(&jobs).expect("jobs written");
    // Held until timed: the engine claims nothing while the kill switch is on.
    admin.set_paused(true, Some("bench: not yet timed")).expect("paused");
    drop(admin);
    let engine = Engine::start(config, NoOp).await.expect("the engine starts");
    let start = Instant::now();
    engine.resume().await.expect("resumed");
    let status = engine.drain(Duration::ZERO).await.expect("drained");
    let took = start.elapsed();
    assert_eq!(status.done as usize, JOBS, "every job done");
    engine.shutdown(Duration::from_secs(5)).await.expect("shut down");
    took
}

fn lifecycle(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("claim_run_complete");
    group.throughput(Throughput::Elements(JOBS as u64));
    // Each iteration is a whole drain (tenths of a second): the same count per sample.
    group.sampling_mode(SamplingMode::Flat);
    for (name, sync) in [("full", Synchronous::Full), ("normal", Synchronous::Normal)] {
        for workers in [4, 32] {
            group.bench_function(BenchmarkId::new(name, format!("{workers}_workers")), |b| {
                b.iter_custom(|iters| {
                    (0..iters).map(|_| runtime.block_on(drain_once(workers, sync))).sum()
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    targets = lifecycle
}
criterion_main!(benches);
