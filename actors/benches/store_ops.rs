//! The Store's own operations, without the actors: enqueue, claim and settle built as the typed
//! operations the Store applies and committed through its one apply path (`store::op::commit`,
//! the path `Admin` shares: `BEGIN IMMEDIATE`, the batch applied whole, guarded again only if an
//! operation failed, COMMIT), on a temp database opened as the Store opens it.
//!
//! ```text
//! cargo bench -p nightshift-actors --bench store_ops
//! cargo bench -p nightshift-actors --bench store_ops -- store_claim/normal   # one group, one level
//! ```
//!
//! Each figure is one batch, one transaction and its commit, of `N` jobs: `N` = 1 (a job alone)
//! and `N` = 32 (a full round at 32 workers: the engine claims and settles for up to as many
//! jobs as it has workers in one commit), at
//! synchronous=full and normal. Criterion's `time` is per batch; its `thrpt` is jobs per second,
//! so the time per job is 1 / `thrpt`, and the gap between `N` = 1 and 32 is what batching saves.
//!
//! - `store_enqueue/LEVEL/N`: `N` enqueue operations (as `N` `EngineHandle::enqueue` calls
//!   arriving in one burst) in one transaction, each a new key.
//! - `store_claim/LEVEL/N`: one Dispatcher round claiming `N` due jobs under fresh leases, gates
//!   read inside the transaction. `N` pending jobs are written before each claim and the jobs
//!   claimed by the one before are completed, neither timed, so every claim takes `N` real
//!   pending rows and the running set stays as small as a runner's.
//! - `store_settle/LEVEL/N`: one Dispatcher round completing `N` attempts, fenced on their lease
//!   tokens; the jobs are written and claimed before, not timed.
//!
//! Each iteration asserts what it did (`N` new rows, `N` claimed, `N` completed), so a gate left
//! closed or a fence that no longer matches fails the run instead of timing nothing. Short by
//! default (10 samples, 2 s each case; the untimed setup makes a case's wall time longer);
//! criterion's own flags lengthen it, e.g. `-- --measurement-time 20`.

use std::cell::RefCell;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use criterion::{criterion_group, criterion_main, measurement::WallTime};
use nightshift_actors::Synchronous;
use nightshift_actors::bench::StoreOps;

/// Jobs per batch: one alone, and a full group commit at 32 workers.
const BATCHES: [usize; 2] = [1, 32];

const LEVELS: [(&str, Synchronous); 2] =
    [("full", Synchronous::Full), ("normal", Synchronous::Normal)];

/// Runs `case` for every level and batch size, each on a fresh temp database.
fn each_case(
    c: &mut Criterion,
    name: &str,
    case: fn(&mut BenchmarkGroup<WallTime>, BenchmarkId, &StoreOps, usize),
) {
    let mut group = c.benchmark_group(name);
    for (level, sync) in LEVELS {
        for n in BATCHES {
            let dir = tempfile::tempdir().expect("a temp dir");
            let ops = StoreOps::open(&dir.path().join("bench.db"), sync).expect("a new database");
            group.throughput(Throughput::Elements(n as u64));
            case(&mut group, BenchmarkId::new(level, n), &ops, n);
        }
    }
    group.finish();
}

fn enqueue(c: &mut Criterion) {
    each_case(c, "store_enqueue", |group, id, ops, n| {
        group.bench_function(id, |b| {
            b.iter(|| assert_eq!(ops.enqueue(n).expect("enqueued"), n, "every job a new row"))
        });
    });
}

fn claim(c: &mut Criterion) {
    each_case(c, "store_claim", |group, id, ops, n| {
        // What the last claim took, completed in the next setup so running rows stay few.
        let claimed = RefCell::new(Vec::new());
        group.bench_function(id, |b| {
            b.iter_batched(
                || {
                    let held = std::mem::take(&mut *claimed.borrow_mut());
                    let count = held.len();
                    assert_eq!(ops.complete(held).expect("completed"), count);
                    ops.fill(n).expect("pending jobs written");
                },
                |()| {
                    let leases = ops.claim(n).expect("claimed");
                    assert_eq!(leases.len(), n, "every pending job claimed");
                    *claimed.borrow_mut() = leases;
                },
                BatchSize::PerIteration,
            )
        });
    });
}

fn settle(c: &mut Criterion) {
    each_case(c, "store_settle", |group, id, ops, n| {
        group.bench_function(id, |b| {
            b.iter_batched(
                || {
                    ops.fill(n).expect("pending jobs written");
                    let leases = ops.claim(n).expect("claimed");
                    assert_eq!(leases.len(), n, "every pending job claimed");
                    leases
                },
                |leases| assert_eq!(ops.complete(leases).expect("completed"), n, "all done"),
                BatchSize::PerIteration,
            )
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = enqueue, claim, settle
}
criterion_main!(benches);
