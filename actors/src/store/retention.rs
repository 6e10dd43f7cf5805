//! Retention: deletes rows past their age, one small batch of one kind per operation, the
//! oldest first along an index (migration 0004), so a batch costs the same however many rows
//! have piled up and never holds the write lock for long. The pruner actor runs it through the
//! Store; `jobs purge --older-than` and `dlq purge --older-than` run it through `Admin`.
//!
//! It never deletes a job that is not done, an alert not delivered, a spend row of the current
//! UTC day, nor the newest tick of a schedule. That last one keeps DESIGN.md's promise that a
//! tick runs at most once: a runner starting (or a continuous one ticking) enqueues only the
//! latest tick at or before now, so once a schedule has a newer tick in the table no older one
//! can be enqueued again, and the newest is the only row whose loss could let its tick run
//! twice. The rule needs no bound on a schedule's period (a yearly cron is as safe as a
//! minutely one); it assumes the clock does not fall back past the newest tick.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreHandle;
use crate::clock::{Timestamp, utc_day};
use crate::error::StoreError;

/// A kind of row that retention deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneKind {
    /// `done` jobs, by when they finished.
    Done,
    /// `dead_letter` rows, by when they died.
    Dead,
    /// Spend ledger rows, by UTC day.
    Spend,
    /// Delivered alerts, by when they were delivered.
    Alerts,
}

impl PruneKind {
    /// Every kind, in the order a pruning round takes them.
    pub const ALL: [PruneKind; 4] =
        [PruneKind::Done, PruneKind::Dead, PruneKind::Spend, PruneKind::Alerts];

    /// The kind as `[retention]` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            PruneKind::Done => "done",
            PruneKind::Dead => "dead",
            PruneKind::Spend => "spend",
            PruneKind::Alerts => "alerts",
        }
    }
}

/// One batch: delete at most `limit` rows of `kind` older than `older_than`.
#[derive(Debug, Clone)]
pub(crate) struct PruneArgs {
    pub(crate) kind: PruneKind,
    pub(crate) older_than: Duration,
    pub(crate) limit: u32,
    /// Schedule names whose newest tick row is kept (see the module doc).
    pub(crate) schedules: Arc<[String]>,
}

/// Deletes one batch; returns how many rows went. Fewer than `limit` means none of that kind
/// is left to prune.
pub(crate) fn run(conn: &Connection, args: &PruneArgs, now: Timestamp) -> Result<u64, StoreError> {
    let before = now - args.older_than;
    let deleted = match args.kind {
        PruneKind::Done => conn
            .prepare_cached(
                "DELETE FROM jobs WHERE rowid IN (
                     SELECT rowid FROM jobs
                     WHERE status = 'done' AND finished_at < ?1
                       AND key NOT IN (SELECT value FROM json_each(?2))
                     ORDER BY finished_at LIMIT ?3)",
            )?
            .execute(params![before, newest_ticks(conn, &args.schedules)?, args.limit])?,
        PruneKind::Dead => conn
            .prepare_cached(
                "DELETE FROM dead_letter WHERE rowid IN (
                     SELECT rowid FROM dead_letter
                     WHERE died < ?1 AND key NOT IN (SELECT value FROM json_each(?2))
                     ORDER BY died LIMIT ?3)",
            )?
            // `died` is in unix seconds.
            .execute(params![before.as_secs(), newest_ticks(conn, &args.schedules)?, args.limit])?,
        // Whole days older than the age, so never the current one (`before` <= `now`).
        PruneKind::Spend => conn
            .prepare_cached(
                "DELETE FROM spend WHERE id IN (
                     SELECT id FROM spend WHERE day < ?1 ORDER BY day LIMIT ?2)",
            )?
            .execute(params![utc_day(before.min(now)), args.limit])?,
        PruneKind::Alerts => conn
            .prepare_cached(
                "DELETE FROM alerts WHERE id IN (
                     SELECT id FROM alerts WHERE state = 'delivered' AND delivered_at < ?1
                     ORDER BY delivered_at LIMIT ?2)",
            )?
            .execute(params![before, args.limit])?,
    };
    Ok(deleted as u64)
}

/// One batch of a pruning round: at most `limit` rows in all, the kinds taken in the order
/// given, each offered the rows the kinds before it left. A round whose kinds have little to
/// delete is then one write (one commit) rather than one per kind, while a writer beside it
/// still waits for `limit` rows at most.
#[derive(Debug, Clone)]
pub(crate) struct PruneBatch {
    pub(crate) kinds: Vec<(PruneKind, Duration)>,
    pub(crate) limit: u32,
    /// Schedule names whose newest tick row is kept (see the module doc).
    pub(crate) schedules: Arc<[String]>,
}

/// Deletes one batch; returns how many rows each kind tried lost, in order. The kinds tried
/// are a prefix of `kinds`: the batch ends when its rows are used up. A kind that lost fewer
/// rows than it was offered has none left to prune.
pub(crate) fn run_batch(
    conn: &Connection,
    batch: &PruneBatch,
    now: Timestamp,
) -> Result<Vec<u64>, StoreError> {
    let mut left = batch.limit;
    let mut deleted = Vec::with_capacity(batch.kinds.len());
    for &(kind, older_than) in &batch.kinds {
        if left == 0 {
            break;
        }
        let schedules = batch.schedules.clone();
        let n = run(conn, &PruneArgs { kind, older_than, limit: left, schedules }, now)?;
        deleted.push(n);
        left = left.saturating_sub(u32::try_from(n).unwrap_or(u32::MAX));
    }
    Ok(deleted)
}

/// The newest tick key of each schedule, across `jobs` and `dead_letter`, as a JSON array for
/// `json_each`. Two index probes per schedule: tick keys sort by their time.
fn newest_ticks(conn: &Connection, schedules: &[String]) -> Result<String, StoreError> {
    let mut keys = Vec::with_capacity(schedules.len());
    for name in schedules {
        let (low, high) = (format!("{name}@0"), format!("{name}@:"));
        let pattern = format!("{}@{TICK}", glob_literal(name));
        let mut newest: Option<String> = None;
        for sql in [
            "SELECT key FROM jobs WHERE key >= ?1 AND key < ?2 AND key GLOB ?3
             ORDER BY key DESC LIMIT 1",
            "SELECT key FROM dead_letter WHERE key >= ?1 AND key < ?2 AND key GLOB ?3
             ORDER BY key DESC LIMIT 1",
        ] {
            let found: Option<String> = conn
                .prepare_cached(sql)?
                .query_row(params![low, high, pattern], |r| r.get(0))
                .optional()?;
            newest = newest.max(found);
        }
        keys.extend(newest);
    }
    Ok(serde_json::Value::from(keys).to_string())
}

/// A tick's time as its key spells it, `YYYY-MM-DDTHH:MM:SSZ`, as a GLOB pattern.
const TICK: &str = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z";

/// `text` matched literally by GLOB: its wildcard characters each in a bracket of their own.
fn glob_literal(text: &str) -> String {
    text.chars()
        .map(|c| if "*?[]".contains(c) { format!("[{c}]") } else { c.to_string() })
        .collect()
}

impl StoreHandle {
    /// One retention batch, written through the Store like every other write of a runner.
    pub(crate) async fn prune(
        &self,
        batch: PruneBatch,
        now: Timestamp,
    ) -> Result<Vec<u64>, StoreError> {
        self.call(super::op::PruneBatchArgs { batch, now }).await
    }
}

#[cfg(test)]
mod tests;
