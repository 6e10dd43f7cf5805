//! `nightshift bench --db postgres://…`: the same figures on PostgreSQL, each run in a scratch
//! database created on that server and dropped after it (the URL's own database is left
//! alone), plus drains by one and by three runner processes sharing a database ([`runners`]).
//! `synchronous` is SQLite's: PostgreSQL runs as its server is configured.
//!
//! [`runners`]: super::runners

use nightshift_actors::Admin;
use serde::Serialize;

use super::engine::config;
use super::figures::{Common, Runs};
use super::{FULL, On, ROUNDS, Scratch, failed, median, pickup, rate, ratio, raw, runners};
use crate::Failure;
use crate::cli::BenchArgs;

/// Runner processes in the wider of the two shared drains.
pub(super) const MANY_RUNNERS: usize = 3;

/// PostgreSQL's figures: rates in jobs/s, latencies in ms.
#[derive(Debug, Serialize)]
pub(super) struct PgFigures {
    pub(super) jobs: usize,
    pub(super) workers: u32,
    pub(super) rounds: usize,
    #[serde(flatten)]
    pub(super) common: Common,
    /// `--workers` workers in one runner process.
    pub(super) drain_1_runner_per_s: u64,
    /// `--workers` workers in each of three runner processes.
    pub(super) drain_3_runners_per_s: u64,
    /// Three runners' drain rate over one's.
    pub(super) runners_3_vs_1: f64,
}

/// Every PostgreSQL figure, on the server `server` names.
pub(super) fn measure(
    runtime: &tokio::runtime::Runtime,
    server: &str,
    args: &BenchArgs,
) -> Result<PgFigures, Failure> {
    let jobs = args.jobs as usize;
    let on = On::Pg(server);
    let mut runs = Runs::default();
    let (mut one, mut many) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        runs.end_to_end(runtime, on, jobs, args.workers, FULL)?;
        runs.raw(raw_lifecycle(&Scratch::new(on)?, jobs)?);
        for (count, secs) in [(1, &mut one), (MANY_RUNNERS, &mut many)] {
            let db = Scratch::new(on)?;
            let url = db.path().to_str().ok_or_else(|| failed("a URL that is not UTF-8"))?;
            secs.push(runners::drain(url, jobs, count, args.workers)?);
        }
    }
    let (inside, other) = pickup::both(runtime, on, jobs, FULL)?;
    Ok(PgFigures {
        jobs,
        workers: args.workers,
        rounds: ROUNDS,
        common: runs.figures(jobs, inside, other),
        drain_1_runner_per_s: rate(jobs, &mut one),
        drain_3_runners_per_s: rate(jobs, &mut many),
        runners_3_vs_1: ratio(median(&mut one), median(&mut many)),
    })
}

/// The raw client's lifecycle in the scratch database `db`, its schema made by nightshift.
fn raw_lifecycle(db: &Scratch, jobs: usize) -> Result<f64, Failure> {
    drop(Admin::create(&config(db.path(), 1, FULL.sync))?);
    let Scratch::Pg { db, .. } = db else { unreachable!("a PostgreSQL scratch database") };
    raw::pg::lifecycle(db.client().map_err(failed)?, jobs)
}
