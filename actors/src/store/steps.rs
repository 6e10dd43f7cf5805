//! Memoized steps (table `steps`, migration 0007): a running attempt reads and records the
//! outputs of its job's steps. Both requests are fenced on the attempt's lease, like every
//! write of a running job, and both extend it (a handler busy with its steps is alive).
//!
//! A step is recorded once: the first output recorded under a name stays, and its cost goes
//! into the spend ledger in the same transaction, so the daily cap counts it at that moment and
//! never again (a later attempt that reads the output pays nothing; a repeated record, as a
//! retried call whose first answer was lost sends, inserts nothing and charges nothing).
//!
//! Rows are deleted with their job: `jobs purge`, `dlq purge`, retention, and a fresh replay
//! ([`forget`]).

use std::time::Duration;

use super::db::{Db, ps};
use super::lease;
use super::ledger::{self, Charge};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::StepRecord;

/// What a read of a step found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StepRead {
    /// The output recorded earlier.
    Recorded(String),
    /// Nothing recorded under that name yet.
    Missing,
    /// The attempt's lease is no longer held: this attempt must stop.
    LeaseLost,
}

/// What recording a step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StepWrite {
    /// Recorded now (and its cost charged).
    Recorded,
    /// Already recorded: the output kept, the one that stays.
    Kept(String),
    /// The attempt's lease is no longer held: nothing recorded, nothing charged.
    LeaseLost,
}

/// Extends the lease `(key, token)` and reads the step `name` of the job.
pub(crate) fn get(
    db: Db<'_>,
    key: &str,
    token: &str,
    name: &str,
    lease: Duration,
    now: Timestamp,
) -> Result<StepRead, StoreError> {
    if !held(db, key, token, lease, now)? {
        return Ok(StepRead::LeaseLost);
    }
    let found = recorded(db, key, name)?;
    Ok(found.map_or(StepRead::Missing, StepRead::Recorded))
}

/// Extends the lease `(key, token)` and records the step `name` with its output and cost,
/// charging the cost (with the model and tokens it used) to the attempt running now; a step
/// already recorded is kept as it is.
#[allow(clippy::too_many_arguments)]
pub(crate) fn put(
    db: Db<'_>,
    key: &str,
    token: &str,
    name: &str,
    output: &str,
    charge: &Charge,
    lease: Duration,
    now: Timestamp,
) -> Result<StepWrite, StoreError> {
    if !held(db, key, token, lease, now)? {
        return Ok(StepWrite::LeaseLost);
    }
    let inserted = db.exec(
        "INSERT INTO steps (job_key, name, output, cost_micros, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (job_key, name) DO NOTHING",
        ps![key, name, output, charge.micros.max(0), now],
    )?;
    if inserted == 0 {
        let kept = recorded(db, key, name)?.unwrap_or_default();
        return Ok(StepWrite::Kept(kept));
    }
    if charge.micros > 0 || charge.usage.is_some() {
        let attempt: u32 = db.value("SELECT attempts + 1 FROM jobs WHERE key = ?1", ps![key])?;
        ledger::record(db, key, attempt, charge, now)?;
    }
    Ok(StepWrite::Recorded)
}

/// Every step recorded for `key`, in the order they were recorded.
pub(crate) fn list(db: Db<'_>, key: &str) -> Result<Vec<StepRecord>, StoreError> {
    db.query(
        "SELECT name, output, cost_micros, created_at FROM steps WHERE job_key = ?1
         ORDER BY created_at, name",
        ps![key],
        |r| {
            Ok(StepRecord {
                name: r.get(0)?,
                output: r.get(1)?,
                cost_micros: r.get(2)?,
                recorded_at: r.get(3)?,
            })
        },
    )
}

/// Deletes the steps of `key` (its job purged, pruned, or replayed afresh).
pub(crate) fn forget(db: Db<'_>, key: &str) -> Result<(), StoreError> {
    db.exec("DELETE FROM steps WHERE job_key = ?1", ps![key])?;
    Ok(())
}

fn held(
    db: Db<'_>,
    key: &str,
    token: &str,
    lease: Duration,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let leases = [(key.to_owned(), token.to_owned())];
    Ok(lease::heartbeat(db, &leases, lease, now)? == [true])
}

fn recorded(db: Db<'_>, key: &str, name: &str) -> Result<Option<String>, StoreError> {
    db.opt("SELECT output FROM steps WHERE job_key = ?1 AND name = ?2", ps![key, name], |r| {
        r.get(0)
    })
}

#[cfg(test)]
mod tests;
