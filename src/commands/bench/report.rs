//! `nightshift bench`'s text output: one row per figure, one column per synchronous level, the
//! ratios issue-style (end to end over raw, drain at 4 workers over drain at 32).

use super::postgres::{MANY_RUNNERS, PgFigures};
use super::{FEW_WORKERS, Figures, MANY_WORKERS, engine::PRODUCERS};
use crate::Failure;
use crate::output::outln;

const LABEL: usize = 44;
const COLUMN: usize = 21;

pub(super) fn print(figures: &[Figures]) -> Result<(), Failure> {
    let Some(first) = figures.first() else { return Ok(()) };
    outln!(
        "{} no-op jobs; each figure the median of {} rounds, each round",
        first.jobs,
        first.rounds
    )?;
    outln!(
        "engine, raw rusqlite, drain at {FEW_WORKERS} and at {MANY_WORKERS} workers in turn, \
         every run on a fresh database"
    )?;
    let row = |label: &str, value: &dyn Fn(&Figures) -> String| {
        let values: String = figures.iter().map(|f| format!("{:>COLUMN$}", value(f))).collect();
        outln!("  {label:<LABEL$}{values}")
    };
    let pair = |a: f64, b: f64| format!("{a:.2} / {b:.2}");
    row("", &|f| format!("synchronous={}", f.synchronous))?;
    row(&format!("enqueue, {PRODUCERS} producers (jobs/s)"), &|f| {
        f.common.enqueue_per_s.to_string()
    })?;
    row(&format!("drain, {} workers (jobs/s)", first.workers), &|f| {
        f.common.drain_per_s.to_string()
    })?;
    row("end to end (jobs/s)", &|f| f.common.jobs_per_s.to_string())?;
    row("raw rusqlite lifecycle, tx of 100 (jobs/s)", &|f| {
        f.common.raw_batch100_jobs_per_s.to_string()
    })?;
    row("end to end / raw", &|f| format!("{:.3}", f.common.vs_raw))?;
    row(&format!("drain, {FEW_WORKERS} workers (jobs/s)"), &|f| f.drain_4_per_s.to_string())?;
    row(&format!("drain, {MANY_WORKERS} workers (jobs/s)"), &|f| f.drain_32_per_s.to_string())?;
    row(&format!("drain {FEW_WORKERS} / drain {MANY_WORKERS} workers"), &|f| {
        format!("{:.3}", f.drain_4_vs_32)
    })?;
    row("pickup p50 / p99, in process (ms)", &|f| {
        pair(f.common.pickup_p50_ms, f.common.pickup_p99_ms)
    })?;
    row("pickup p50 / p99, other connection (ms)", &|f| {
        pair(f.common.pickup_other_p50_ms, f.common.pickup_other_p99_ms)
    })?;
    row("peak RSS (KiB)", &|f| f.peak_rss_kb.to_string())?;
    row("RSS at end (KiB)", &|f| f.rss_end_kb.to_string())?;
    outln!(
        "pickup: to the handler's start on an idle runner, from the enqueue call ({} samples), \
         from\nanother connection's commit ({} samples, spread over the engine's rescan interval)",
        first.common.pickup_samples,
        first.common.pickup_other_samples
    )
}

/// PostgreSQL's figures beside SQLite's (at the first level measured) from the same run.
pub(super) fn print_pg(pg: &PgFigures, lite: &Figures) -> Result<(), Failure> {
    outln!(
        "\nPostgreSQL (the --db server, a scratch database per run), beside SQLite at \
         synchronous={}",
        lite.synchronous
    )?;
    let row = |label: &str, pg: String, lite: String| {
        outln!("  {label:<LABEL$}{pg:>COLUMN$}{lite:>COLUMN$}")
    };
    let pair = |a: f64, b: f64| format!("{a:.2} / {b:.2}");
    row("", "postgres".into(), "sqlite".into())?;
    row(
        &format!("enqueue, {PRODUCERS} producers (jobs/s)"),
        pg.common.enqueue_per_s.to_string(),
        lite.common.enqueue_per_s.to_string(),
    )?;
    let workers = pg.workers;
    row(
        &format!("drain, {workers} workers (jobs/s)"),
        pg.common.drain_per_s.to_string(),
        lite.common.drain_per_s.to_string(),
    )?;
    row(
        "end to end (jobs/s)",
        pg.common.jobs_per_s.to_string(),
        lite.common.jobs_per_s.to_string(),
    )?;
    row(
        "raw client lifecycle, tx of 100 (jobs/s)",
        pg.common.raw_batch100_jobs_per_s.to_string(),
        lite.common.raw_batch100_jobs_per_s.to_string(),
    )?;
    row(
        "end to end / raw",
        format!("{:.3}", pg.common.vs_raw),
        format!("{:.3}", lite.common.vs_raw),
    )?;
    row(
        &format!("drain, 1 runner process x {workers} (jobs/s)"),
        pg.drain_1_runner_per_s.to_string(),
        "-".into(),
    )?;
    row(
        &format!("drain, {MANY_RUNNERS} runner processes x {workers} (jobs/s)"),
        pg.drain_3_runners_per_s.to_string(),
        "-".into(),
    )?;
    row(
        &format!("drain {MANY_RUNNERS} runners / 1 runner"),
        format!("{:.3}", pg.runners_3_vs_1),
        "-".into(),
    )?;
    row(
        "pickup p50 / p99, in process (ms)",
        pair(pg.common.pickup_p50_ms, pg.common.pickup_p99_ms),
        pair(lite.common.pickup_p50_ms, lite.common.pickup_p99_ms),
    )?;
    row(
        "pickup p50 / p99, other connection (ms)",
        pair(pg.common.pickup_other_p50_ms, pg.common.pickup_other_p99_ms),
        pair(lite.common.pickup_other_p50_ms, lite.common.pickup_other_p99_ms),
    )
}
