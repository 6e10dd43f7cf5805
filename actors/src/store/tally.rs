//! The tallies behind `status --prom`: jobs, dead letters and failed attempts by queue, the
//! done jobs' durations as histogram buckets, and the breaker's state, beside what `status`
//! reads. Unlike `status`, which reads counter rows and live-row indexes only, this reads every
//! row `jobs` and `dead_letter` hold (three aggregate queries, grouped in SQL so no row is
//! loaded): its cost grows with the rows retention keeps, so it is a read of its own, never
//! part of `status`.

use std::collections::BTreeMap;

use super::StoreCtx;
use super::db::{Db, Row, ps};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::Status;

/// Upper bounds of the job duration histogram's buckets, in milliseconds (a last bucket,
/// unbounded, holds the rest): a tenth of a second to four hours, as agents' jobs run.
pub const DURATION_BUCKETS_MS: [i64; 12] = [
    100, 500, 1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000,
    14_400_000,
];

/// Everything `status --prom` reads from the database, as one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tallies {
    /// What `status` reads.
    pub status: Status,
    /// Whether the circuit breaker holds claims (open, or half-open with its probe running),
    /// whatever else holds them too.
    pub breaker_open: bool,
    /// One entry per queue with a job or a dead letter, by queue name.
    pub queues: Vec<QueueTally>,
}

/// The rows of one queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueTally {
    /// The queue's name.
    pub queue: String,
    /// Jobs pending.
    pub pending: u64,
    /// Jobs running.
    pub running: u64,
    /// Jobs done.
    pub done: u64,
    /// Jobs waiting for a signal.
    pub waiting: u64,
    /// Jobs cancelled.
    pub cancelled: u64,
    /// Dead letters.
    pub dead: u64,
    /// Failed or interrupted attempts recorded on the jobs and dead letters held.
    pub failed_attempts: u64,
    /// Done jobs by duration: one count per bucket of [`DURATION_BUCKETS_MS`], then the
    /// count beyond the last bound (not cumulative).
    pub durations: Vec<u64>,
    /// The done jobs' durations added up, milliseconds.
    pub duration_sum_ms: i64,
}

impl QueueTally {
    fn new(queue: String) -> Self {
        Self { queue, durations: vec![0; DURATION_BUCKETS_MS.len() + 1], ..Self::default() }
    }

    /// Attempts that ended (failed, interrupted or succeeded) on the rows held: each failure
    /// is counted on its row, and a done job's one success on top.
    pub fn attempts(&self) -> u64 {
        self.failed_attempts + self.done
    }
}

/// A done job's duration: from its last attempt's due time (`run_at`, which a claim leaves as
/// it is) to its finish. No start time of an attempt is recorded, so the wait for a free worker
/// is in it. Never below zero (runners' clocks may differ).
const DURATION: &str = "CASE WHEN finished_at > run_at THEN finished_at - run_at ELSE 0 END";

/// Reads the snapshot: `status`, the breaker, and the tallies by queue.
pub(crate) fn read(db: Db<'_>, ctx: &StoreCtx, now: Timestamp) -> Result<Tallies, StoreError> {
    let status = super::read::status(db, ctx, now)?;
    let breaker_open = super::gates::load_control(db)?.breaker_holds(now);
    Ok(Tallies { status, breaker_open, queues: queues(db)? })
}

/// The tallies by queue, sorted by queue name.
pub(crate) fn queues(db: Db<'_>) -> Result<Vec<QueueTally>, StoreError> {
    let mut by_queue = BTreeMap::new();
    let n = |r: &Row<'_>, i: usize| r.get::<i64>(i).map(|n| n.max(0) as u64);
    // sum() of a bigint is numeric on PostgreSQL: cast back (the sums are far from the limit).
    let jobs = db.query(
        "SELECT queue, status, count(*), CAST(coalesce(sum(attempts), 0) AS BIGINT)
         FROM jobs GROUP BY queue, status",
        ps![],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?, n(r, 2)?, n(r, 3)?)),
    )?;
    for (queue, status, count, failed) in jobs {
        let t = entry(&mut by_queue, queue);
        t.failed_attempts += failed;
        match status.as_str() {
            "pending" => t.pending += count,
            "running" => t.running += count,
            "waiting" => t.waiting += count,
            "cancelled" => t.cancelled += count,
            _ => t.done += count,
        }
    }
    let dead = db.query(
        "SELECT queue, count(*), CAST(coalesce(sum(attempts), 0) AS BIGINT)
         FROM dead_letter GROUP BY queue",
        ps![],
        |r| Ok((r.get::<String>(0)?, n(r, 1)?, n(r, 2)?)),
    )?;
    for (queue, count, failed) in dead {
        let t = entry(&mut by_queue, queue);
        t.dead += count;
        t.failed_attempts += failed;
    }
    let buckets = db.query(&histogram_sql(), ps![], |r| {
        Ok((r.get::<String>(0)?, r.get::<i64>(1)?, n(r, 2)?, r.get::<i64>(3)?))
    })?;
    for (queue, bucket, count, sum_ms) in buckets {
        let t = entry(&mut by_queue, queue);
        let last = t.durations.len() - 1;
        t.durations[usize::try_from(bucket).unwrap_or(last).min(last)] += count;
        t.duration_sum_ms = t.duration_sum_ms.saturating_add(sum_ms);
    }
    Ok(by_queue.into_values().collect())
}

fn entry(by_queue: &mut BTreeMap<String, QueueTally>, queue: String) -> &mut QueueTally {
    by_queue.entry(queue.clone()).or_insert_with(|| QueueTally::new(queue))
}

/// Done jobs counted by queue and bucket (its index in [`DURATION_BUCKETS_MS`], or their
/// number for the rest), with their durations added up.
fn histogram_sql() -> String {
    let mut bucket = String::from("CASE");
    for (i, bound) in DURATION_BUCKETS_MS.iter().enumerate() {
        bucket.push_str(&format!(" WHEN d <= {bound} THEN {i}"));
    }
    bucket.push_str(&format!(" ELSE {} END", DURATION_BUCKETS_MS.len()));
    format!(
        "SELECT queue, bucket, count(*), CAST(sum(d) AS BIGINT)
         FROM (SELECT queue, d, {bucket} AS bucket
               FROM (SELECT queue, {DURATION} AS d FROM jobs WHERE status = 'done') AS done)
              AS sorted
         GROUP BY queue, bucket"
    )
}

#[cfg(test)]
mod tests;
