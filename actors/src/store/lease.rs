//! The lease-fenced writes of a running job: heartbeat, complete, release. Each matches
//! `(key, lease_token)`, so a worker whose lease was lost (expired, reaped, re-claimed) changes
//! nothing and learns that it lost.

use std::time::Duration;

use super::StoreCtx;
use super::db::{Db, ps};
use super::ledger::{self, Charge};
use crate::clock::Timestamp;
use crate::error::StoreError;

/// Extends each lease `(key, token)`; answers, in order, whether each is still held.
pub(crate) fn heartbeat(
    db: Db<'_>,
    leases: &[(String, String)],
    lease: Duration,
    now: Timestamp,
) -> Result<Vec<bool>, StoreError> {
    let extend = "UPDATE jobs SET lease_expires_at = ?3, updated_at = ?4
                  WHERE key = ?1 AND lease_token = ?2 AND status = 'running'";
    let until = now + lease;
    let mut held = Vec::with_capacity(leases.len());
    for (key, token) in leases {
        held.push(db.exec(extend, ps![key, token, until, now])? == 1);
    }
    Ok(held)
}

/// Marks the job done with its result; false when the lease is no longer held (the outcome
/// then belongs to whoever holds it now).
pub(crate) fn complete(
    db: Db<'_>,
    ctx: &StoreCtx,
    key: &str,
    token: &str,
    result: Option<&str>,
    charge: &Charge,
    now: Timestamp,
) -> Result<bool, StoreError> {
    // No RETURNING: SQLite gathers a RETURNING clause's rows in a temporary table, built and
    // dropped per statement, which cost more than the update itself. The attempt number is
    // read only when there is spend (or a model's usage) to record under it.
    let done = db.exec(
        "UPDATE jobs SET status = 'done', result = ?3, finished_at = ?4, updated_at = ?4,
                         cost_micros = ?5,
                         lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
         WHERE key = ?1 AND lease_token = ?2 AND status = 'running'",
        ps![key, token, result, now, charge.micros],
    )?;
    if done == 0 {
        return Ok(false);
    }
    if charge.micros > 0 || charge.usage.is_some() {
        let attempt: u32 = db.value("SELECT attempts + 1 FROM jobs WHERE key = ?1", ps![key])?;
        ledger::record(db, key, attempt, charge, now)?;
    }
    super::breaker::succeeded(db, ctx, key)?;
    Ok(true)
}

/// Gives the job back without counting an attempt (shutdown past the grace period): it is
/// pending again and due at once.
pub(crate) fn release(
    db: Db<'_>,
    key: &str,
    token: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let n = db.exec(
        "UPDATE jobs SET status = 'pending', run_at = ?3, updated_at = ?3,
                         lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
         WHERE key = ?1 AND lease_token = ?2 AND status = 'running'",
        ps![key, token, now],
    )?;
    if n == 1 {
        super::breaker::released(db, key)?;
    }
    Ok(n == 1)
}

#[cfg(test)]
pub(crate) mod tests;
