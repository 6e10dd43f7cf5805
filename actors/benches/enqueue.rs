//! The enqueue operation as `nightshift enqueue` does it: `Admin::enqueue` on a temp database,
//! one job per transaction and commit, at synchronous=full and normal.
//!
//! ```text
//! cargo bench -p nightshift-actors --bench enqueue
//! ```
//!
//! Short by default (10 samples, 2 s each level); criterion's own flags lengthen it, e.g.
//! `-- --measurement-time 20`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use nightshift_actors::{Admin, EngineConfig, NewJob, Synchronous};

fn enqueue(c: &mut Criterion) {
    let mut group = c.benchmark_group("enqueue");
    for (name, sync) in [("full", Synchronous::Full), ("normal", Synchronous::Normal)] {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut config = EngineConfig::new(dir.path().join("bench.db"));
        config.synchronous = sync;
        let mut admin = Admin::create(&config).expect("a new database");
        // Keys are never repeated: each iteration inserts a new row, as a new job does.
        let mut next = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                next += 1;
                admin.enqueue(&NewJob::new(format!("job-{next}"), "{}")).expect("enqueued")
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = enqueue
}
criterion_main!(benches);
