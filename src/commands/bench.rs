//! `nightshift bench`: what this machine gets from the engine, with raw rusqlite beside it as
//! the yardstick, in one invocation.
//!
//! At each synchronous level (`--synchronous`, or both with `--compare-sync`) it runs three
//! rounds, each of four runs in turn, every run on a fresh temp database:
//!
//! 1. the engine end to end: `--jobs` no-op jobs enqueued one awaited call at a time by 32
//!    producers while the kill switch holds the workers off, then drained by `--workers`;
//! 2. raw rusqlite doing the same lifecycle on the same schema (see [`raw`]);
//! 3. and 4. a drain of `--jobs` jobs written beforehand, by 4 workers, then by 32.
//!
//! Each figure is the median of its three runs, so drift in the machine's weather during the
//! bench hits the engine and the yardstick alike. Then pickup latency on an idle runner, for a
//! job enqueued through the engine and for one committed by another connection (see
//! [`pickup`]), and the process's RSS, peak and at the end.

mod engine;
mod pickup;
mod raw;
mod report;

use std::path::Path;

use nightshift_actors::Synchronous;
use serde::Serialize;

use crate::Failure;
use crate::cli::BenchArgs;
use crate::output;

/// Rounds of (engine, raw, drain at 4, drain at 32); each figure is the median of its rounds.
const ROUNDS: usize = 3;
/// Workers in the two drains compared with each other.
const FEW_WORKERS: u32 = 4;
const MANY_WORKERS: u32 = 32;

/// A synchronous level, as the flag, the JSON and SQLite name it.
#[derive(Debug, Clone, Copy)]
struct Level {
    name: &'static str,
    sync: Synchronous,
    pragma: &'static str,
}

const FULL: Level = Level { name: "full", sync: Synchronous::Full, pragma: "FULL" };
const NORMAL: Level = Level { name: "normal", sync: Synchronous::Normal, pragma: "NORMAL" };

/// One level's figures: rates in jobs/s, latencies in ms, memory in KiB.
#[derive(Debug, Serialize)]
struct Figures {
    jobs: usize,
    workers: u32,
    synchronous: &'static str,
    rounds: usize,
    enqueue_per_s: u64,
    drain_per_s: u64,
    jobs_per_s: u64,
    raw_batch100_jobs_per_s: u64,
    /// End to end over raw, both medians.
    vs_raw: f64,
    drain_4_per_s: u64,
    drain_32_per_s: u64,
    /// Drain at 4 workers over drain at 32.
    drain_4_vs_32: f64,
    pickup_p50_ms: f64,
    pickup_p99_ms: f64,
    pickup_samples: usize,
    pickup_other_p50_ms: f64,
    pickup_other_p99_ms: f64,
    pickup_other_samples: usize,
    /// The process's peak so far: with `--compare-sync`, `normal` runs second and its peak
    /// includes `full`'s.
    peak_rss_kb: u64,
    /// Resident after this level's last engine shut down and the allocator gave its free
    /// memory back: what is still held, not what the allocator kept for reuse.
    rss_end_kb: u64,
}

/// `--compare-sync --json`: each level's figures under its name.
#[derive(Debug, Serialize)]
struct Compared<'a> {
    full: &'a Figures,
    normal: &'a Figures,
}

pub fn run(args: &BenchArgs) -> Result<(), Failure> {
    let levels = if args.compare_sync {
        vec![FULL, NORMAL]
    } else if args.synchronous == "normal" {
        vec![NORMAL]
    } else {
        vec![FULL]
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(failed)?;
    let dir = tempfile::tempdir().map_err(failed)?;
    let mut figures = Vec::new();
    for level in levels {
        figures.push(measure(&runtime, dir.path(), args, level)?);
    }
    if !args.json {
        return report::print(&figures);
    }
    match figures.as_slice() {
        [one] => output::print_json(one),
        [full, normal] => output::print_json(&Compared { full, normal }),
        _ => unreachable!("one level, or full and normal"),
    }
}

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::Failed(format!("bench: {e}"))
}

/// Every figure at one level.
fn measure(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    args: &BenchArgs,
    level: Level,
) -> Result<Figures, Failure> {
    let jobs = args.jobs as usize;
    let (mut enqueue, mut drain, mut total, mut raw) = (vec![], vec![], vec![], vec![]);
    let (mut few, mut many) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        let db = Scratch::new(dir)?;
        let run =
            runtime.block_on(engine::enqueue_and_drain(db.path(), jobs, args.workers, level))?;
        enqueue.push(run.enqueue_s);
        drain.push(run.drain_s);
        total.push(run.enqueue_s + run.drain_s);
        drop(db);
        raw.push(raw::lifecycle(Scratch::new(dir)?.path(), jobs, level)?);
        for (workers, secs) in [(FEW_WORKERS, &mut few), (MANY_WORKERS, &mut many)] {
            let db = Scratch::new(dir)?;
            engine::fill(db.path(), jobs, level)?;
            secs.push(runtime.block_on(engine::drain(db.path(), jobs, workers, level))?);
        }
    }
    let inside = runtime.block_on(pickup::in_process(Scratch::new(dir)?.path(), level))?;
    let other_samples = pickup::other_samples(jobs);
    let other = runtime.block_on(pickup::other_connection(
        Scratch::new(dir)?.path(),
        level,
        other_samples,
    ))?;
    // The peak is a high-water mark: giving free memory back first leaves it as it was.
    release_free_memory();
    let (peak_rss_kb, rss_end_kb) = rss_kb();
    let rate = |secs: &mut Vec<f64>| (jobs as f64 / median(secs).max(1e-9)).round() as u64;
    let ratio = |a: f64, b: f64| (a / b.max(1e-9) * 1000.0).round() / 1000.0;
    Ok(Figures {
        jobs,
        workers: args.workers,
        synchronous: level.name,
        rounds: ROUNDS,
        enqueue_per_s: rate(&mut enqueue),
        drain_per_s: rate(&mut drain),
        jobs_per_s: rate(&mut total),
        raw_batch100_jobs_per_s: rate(&mut raw),
        vs_raw: ratio(median(&mut raw), median(&mut total)),
        drain_4_per_s: rate(&mut few),
        drain_32_per_s: rate(&mut many),
        drain_4_vs_32: ratio(median(&mut many), median(&mut few)),
        pickup_p50_ms: inside.p50_ms,
        pickup_p99_ms: inside.p99_ms,
        pickup_samples: inside.samples,
        pickup_other_p50_ms: other.p50_ms,
        pickup_other_p99_ms: other.p99_ms,
        pickup_other_samples: other.samples,
        peak_rss_kb,
        rss_end_kb,
    })
}

/// The middle value (the upper middle of an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A fresh folder for one run's database, removed with everything in it when dropped, so a
/// 100k-job bench does not pile up a dozen databases on the disk.
struct Scratch {
    db: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Scratch {
    fn new(dir: &Path) -> Result<Self, Failure> {
        let dir = tempfile::tempdir_in(dir).map_err(failed)?;
        Ok(Self { db: dir.path().join("bench.db"), _dir: dir })
    }

    fn path(&self) -> &Path {
        &self.db
    }
}

/// Hands the heap's free pages back to the system, so the resident set read next is what is
/// still allocated: glibc otherwise keeps freed memory mapped, and the size at the end would
/// read as the peak whatever was freed.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only returns free heap pages to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The process's peak and current resident set (VmHWM, VmRSS in /proc/self/status) from one
/// read; KiB, 0 where there is no /proc.
fn rss_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}
