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
//!
//! With `--db postgres://…` it then measures PostgreSQL the same way (the raw `postgres`
//! client as the yardstick) and adds drains by one and by three runner processes sharing a
//! database; see [`postgres`].

mod engine;
mod figures;
mod pickup;
mod postgres;
mod raw;
mod report;
mod runners;

pub use runners::runner;

use std::path::Path;

use nightshift_actors::Synchronous;
use serde::Serialize;

use crate::Failure;
use crate::cli::BenchArgs;
use crate::output;
use figures::{Common, Runs};

/// Rounds of (engine, raw, drain at 4, drain at 32); each figure is the median of its rounds.
pub(super) const ROUNDS: usize = 3;
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
    #[serde(flatten)]
    common: Common,
    drain_4_per_s: u64,
    drain_32_per_s: u64,
    /// Drain at 4 workers over drain at 32.
    drain_4_vs_32: f64,
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
    let pg = match &args.db {
        Some(server) => {
            let server = server.to_str().ok_or_else(|| failed("--db is not valid UTF-8"))?;
            Some(postgres::measure(&runtime, server, args)?)
        }
        None => None,
    };
    if !args.json {
        report::print(&figures)?;
        return match &pg {
            Some(pg) => report::print_pg(pg, &figures[0]),
            None => Ok(()),
        };
    }
    let sqlite = match figures.as_slice() {
        [one] => serde_json::to_value(one),
        [full, normal] => serde_json::to_value(Compared { full, normal }),
        _ => unreachable!("one level, or full and normal"),
    }
    .map_err(failed)?;
    match pg {
        Some(postgres) => output::print_json(&serde_json::json!({
            "sqlite": sqlite,
            "postgres": postgres,
        })),
        None => output::print_json(&sqlite),
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
    let mut runs = Runs::default();
    let (mut few, mut many) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        runs.end_to_end(runtime, On::Lite(dir), jobs, args.workers, level)?;
        runs.raw(raw::lifecycle(Scratch::new(On::Lite(dir))?.path(), jobs, level)?);
        for (workers, secs) in [(FEW_WORKERS, &mut few), (MANY_WORKERS, &mut many)] {
            let db = Scratch::new(On::Lite(dir))?;
            engine::fill(db.path(), jobs, level)?;
            secs.push(runtime.block_on(engine::drain(db.path(), jobs, workers, level))?);
        }
    }
    let (inside, other) = pickup::both(runtime, On::Lite(dir), jobs, level)?;
    // The peak is a high-water mark: giving free memory back first leaves it as it was.
    release_free_memory();
    let (peak_rss_kb, rss_end_kb) = rss_kb();
    Ok(Figures {
        jobs,
        workers: args.workers,
        synchronous: level.name,
        rounds: ROUNDS,
        common: runs.figures(jobs, inside, other),
        drain_4_per_s: rate(jobs, &mut few),
        drain_32_per_s: rate(jobs, &mut many),
        drain_4_vs_32: ratio(median(&mut many), median(&mut few)),
        peak_rss_kb,
        rss_end_kb,
    })
}

/// `jobs` over the median of `secs`, in jobs/s.
fn rate(jobs: usize, secs: &mut [f64]) -> u64 {
    (jobs as f64 / median(secs).max(1e-9)).round() as u64
}

/// `a / b` to three decimals.
fn ratio(a: f64, b: f64) -> f64 {
    (a / b.max(1e-9) * 1000.0).round() / 1000.0
}

/// The middle value (the upper middle of an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A fresh database for one run, removed with everything in it when dropped, so a 100k-job
/// bench does not pile up a dozen databases: a SQLite file in a folder of its own, or a
/// scratch database on the PostgreSQL server `--db` names.
enum Scratch {
    Lite { db: std::path::PathBuf, _dir: tempfile::TempDir },
    Pg { url: std::path::PathBuf, db: nightshift_actors::testing::ScratchDb },
}

/// Where the runs' databases are made.
#[derive(Clone, Copy)]
enum On<'a> {
    /// A SQLite file under this folder.
    Lite(&'a Path),
    /// A database on this PostgreSQL server.
    Pg(&'a str),
}

impl Scratch {
    fn new(on: On<'_>) -> Result<Self, Failure> {
        match on {
            On::Lite(dir) => {
                let dir = tempfile::tempdir_in(dir).map_err(failed)?;
                Ok(Scratch::Lite { db: dir.path().join("bench.db"), _dir: dir })
            }
            On::Pg(server) => {
                let db = nightshift_actors::testing::ScratchDb::on(server, "nightshift_bench")
                    .map_err(failed)?;
                Ok(Scratch::Pg { url: db.url().into(), db })
            }
        }
    }

    /// The database's path, or its URL (the engine's `db` takes either).
    fn path(&self) -> &Path {
        match self {
            Scratch::Lite { db, .. } => db,
            Scratch::Pg { url, .. } => url,
        }
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
