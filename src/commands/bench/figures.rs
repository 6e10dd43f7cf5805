//! What the bench reports on both stores: the engine end to end beside the raw client's
//! lifecycle, and pickup, each a median over the rounds.

use serde::Serialize;

use super::pickup::Latency;
use super::{Level, On, Scratch, engine, median, rate, ratio};
use crate::Failure;

/// Both stores' figures: rates in jobs/s, latencies in ms.
#[derive(Debug, Serialize)]
pub(super) struct Common {
    pub(super) enqueue_per_s: u64,
    pub(super) drain_per_s: u64,
    pub(super) jobs_per_s: u64,
    pub(super) raw_batch100_jobs_per_s: u64,
    /// End to end over raw, both medians.
    pub(super) vs_raw: f64,
    pub(super) pickup_p50_ms: f64,
    pub(super) pickup_p99_ms: f64,
    pub(super) pickup_samples: usize,
    pub(super) pickup_other_p50_ms: f64,
    pub(super) pickup_other_p99_ms: f64,
    pub(super) pickup_other_samples: usize,
}

/// The seconds of each round's end-to-end and raw runs.
#[derive(Default)]
pub(super) struct Runs {
    enqueue: Vec<f64>,
    drain: Vec<f64>,
    total: Vec<f64>,
    raw: Vec<f64>,
}

impl Runs {
    /// One end-to-end run (see [`engine::enqueue_and_drain`]) on a fresh database made `on`.
    pub(super) fn end_to_end(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        on: On<'_>,
        jobs: usize,
        workers: u32,
        level: Level,
    ) -> Result<(), Failure> {
        let db = Scratch::new(on)?;
        let run = runtime.block_on(engine::enqueue_and_drain(db.path(), jobs, workers, level))?;
        self.enqueue.push(run.enqueue_s);
        self.drain.push(run.drain_s);
        self.total.push(run.enqueue_s + run.drain_s);
        Ok(())
    }

    /// One raw lifecycle's seconds.
    pub(super) fn raw(&mut self, secs: f64) {
        self.raw.push(secs);
    }

    /// The medians' figures, with the pickups measured after the rounds.
    pub(super) fn figures(mut self, jobs: usize, inside: Latency, other: Latency) -> Common {
        Common {
            enqueue_per_s: rate(jobs, &mut self.enqueue),
            drain_per_s: rate(jobs, &mut self.drain),
            jobs_per_s: rate(jobs, &mut self.total),
            raw_batch100_jobs_per_s: rate(jobs, &mut self.raw),
            vs_raw: ratio(median(&mut self.raw), median(&mut self.total)),
            pickup_p50_ms: inside.p50_ms,
            pickup_p99_ms: inside.p99_ms,
            pickup_samples: inside.samples,
            pickup_other_p50_ms: other.p50_ms,
            pickup_other_p99_ms: other.p99_ms,
            pickup_other_samples: other.samples,
        }
    }
}
