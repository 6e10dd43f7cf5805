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

use super::StoreHandle;
use super::db::{Db, ps};
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
/// is left to prune. SQLite deletes by rowid; PostgreSQL, which has none, by key or id.
/// The advisory lock a PostgreSQL prune batch holds until its transaction ends.
const PRUNE_LOCK: i64 = 0x6e_73_70_72_75_6e; // "nsprun"

pub(crate) fn run(db: Db<'_>, args: &PruneArgs, now: Timestamp) -> Result<u64, StoreError> {
    // Runners sharing a PostgreSQL database prune one at a time: a batch whose runner finds
    // another pruning deletes nothing, and its round ends (the other is doing the work).
    if db.is_pg() && !db.value::<bool>("SELECT pg_try_advisory_xact_lock(?1)", ps![PRUNE_LOCK])? {
        return Ok(0);
    }
    let before = now - args.older_than;
    match args.kind {
        // Finished jobs: `done` ones, then, with what is left of the batch, `cancelled` ones
        // (each along its own partial index). The jobs' recorded steps go with them
        // (`steps::forget`), by the keys deleted.
        PruneKind::Done => {
            let ticks = newest_ticks(db, &args.schedules)?;
            let done = with_steps(finished(db, "done", before, &ticks, args.limit), db)?;
            let room = u64::from(args.limit).saturating_sub(done);
            if room == 0 {
                return Ok(done);
            }
            let room = u32::try_from(room).unwrap_or(args.limit);
            Ok(done + with_steps(finished(db, "cancelled", before, &ticks, room), db)?)
        }
        PruneKind::Dead => with_steps(
            db.query(
                db.pick(
                    "DELETE FROM dead_letter WHERE rowid IN (
                     SELECT rowid FROM dead_letter
                     WHERE died < ?1 AND key NOT IN (SELECT value FROM json_each(?2))
                     ORDER BY died LIMIT ?3) RETURNING key",
                    "DELETE FROM dead_letter WHERE key IN (
                     SELECT key FROM dead_letter
                     WHERE died < ?1
                       AND key NOT IN (SELECT jsonb_array_elements_text(
                                           CAST(CAST(?2 AS TEXT) AS jsonb)))
                     ORDER BY died LIMIT ?3) RETURNING key",
                ),
                // `died` is in unix seconds.
                ps![before.as_secs(), newest_ticks(db, &args.schedules)?, args.limit],
                |r| r.get(0),
            ),
            db,
        ),
        // Whole days older than the age, so never the current one (`before` <= `now`).
        PruneKind::Spend => db.exec(
            "DELETE FROM spend WHERE id IN (
                 SELECT id FROM spend WHERE day < ?1 ORDER BY day LIMIT ?2)",
            ps![utc_day(before.min(now)), args.limit],
        ),
        PruneKind::Alerts => db.exec(
            "DELETE FROM alerts WHERE id IN (
                 SELECT id FROM alerts WHERE state = 'delivered' AND delivered_at < ?1
                 ORDER BY delivered_at LIMIT ?2)",
            ps![before, args.limit],
        ),
    }
}

/// Deletes up to `limit` jobs of `status` (`done` or `cancelled`) that finished before
/// `before`, the oldest first, but not the schedules' newest ticks; returns their keys. The
/// status is written into the SQL, not bound, so SQLite can read along that status's partial
/// index (`jobs_finished`, `jobs_cancelled`).
fn finished(
    db: Db<'_>,
    status: &'static str,
    before: Timestamp,
    ticks: &str,
    limit: u32,
) -> Result<Vec<String>, StoreError> {
    let sql = db.pick(
        "DELETE FROM jobs WHERE rowid IN (
         SELECT rowid FROM jobs
         WHERE status = 'STATUS' AND finished_at < ?1
           AND key NOT IN (SELECT value FROM json_each(?2))
         ORDER BY finished_at LIMIT ?3) RETURNING key",
        "DELETE FROM jobs WHERE key IN (
         SELECT key FROM jobs
         WHERE status = 'STATUS' AND finished_at < ?1
           AND key NOT IN (SELECT jsonb_array_elements_text(
                               CAST(CAST(?2 AS TEXT) AS jsonb)))
         ORDER BY finished_at LIMIT ?3) RETURNING key",
    );
    db.query(&sql.replace("STATUS", status), ps![before, ticks, limit], |r| r.get(0))
}

/// Deletes the recorded steps of the jobs a batch deleted; how many jobs that was.
fn with_steps(deleted: Result<Vec<String>, StoreError>, db: Db<'_>) -> Result<u64, StoreError> {
    let keys = deleted?;
    for key in &keys {
        super::steps::forget(db, key)?;
    }
    Ok(keys.len() as u64)
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
    db: Db<'_>,
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
        let n = run(db, &PruneArgs { kind, older_than, limit: left, schedules }, now)?;
        deleted.push(n);
        left = left.saturating_sub(u32::try_from(n).unwrap_or(u32::MAX));
    }
    Ok(deleted)
}

/// The newest tick key of each schedule, across `jobs` and `dead_letter`, as a JSON array for
/// `json_each` (`jsonb_array_elements_text` on PostgreSQL).
fn newest_ticks(db: Db<'_>, schedules: &[String]) -> Result<String, StoreError> {
    let mut keys = Vec::with_capacity(schedules.len());
    for name in schedules {
        keys.extend(newest_tick(db, name)?);
    }
    Ok(serde_json::Value::from(keys).to_string())
}

/// The newest tick key of schedule `name` across `jobs` and `dead_letter`, if any. Two index
/// probes: tick keys sort by their time. The range is in byte order, as SQLite compares; on
/// PostgreSQL the `C` collation says so (the key columns have it, so the primary key's index
/// serves the range there too).
pub(crate) fn newest_tick(db: Db<'_>, name: &str) -> Result<Option<String>, StoreError> {
    let (low, high) = (format!("{name}@0"), format!("{name}@:"));
    let pattern = match db {
        Db::Lite(_) => format!("{}@{TICK_GLOB}", glob_literal(name)),
        Db::Pg(_) => format!("^{}@{TICK_REGEX}$", regex_literal(name)),
    };
    let mut newest: Option<String> = None;
    for table in ["jobs", "dead_letter"] {
        let sql = match db {
            Db::Lite(_) => format!(
                "SELECT key FROM {table} WHERE key >= ?1 AND key < ?2 AND key GLOB ?3
                 ORDER BY key DESC LIMIT 1"
            ),
            Db::Pg(_) => format!(
                r#"SELECT key FROM {table}
                   WHERE key COLLATE "C" >= ?1 AND key COLLATE "C" < ?2 AND key ~ ?3
                   ORDER BY key COLLATE "C" DESC LIMIT 1"#
            ),
        };
        let found = db.opt(&sql, ps![low, high, pattern], |r| r.get(0))?;
        newest = newest.max(found);
    }
    Ok(newest)
}

/// A tick's time as its key spells it, `YYYY-MM-DDTHH:MM:SSZ`, as a GLOB pattern.
const TICK_GLOB: &str =
    "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z";

/// The same as a PostgreSQL regular expression.
const TICK_REGEX: &str = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z";

/// `text` matched literally by GLOB: its wildcard characters each in a bracket of their own.
fn glob_literal(text: &str) -> String {
    text.chars()
        .map(|c| if "*?[]".contains(c) { format!("[{c}]") } else { c.to_string() })
        .collect()
}

/// `text` matched literally by a PostgreSQL regular expression: every ASCII character other
/// than a letter or digit escaped (a backslash before one of those is always literal, while
/// before a letter or digit it would start an escape such as `\d`).
fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c.is_ascii() && !c.is_ascii_alphanumeric() {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
pub(crate) mod tests;
