//! Waits, signals and cancels (issue 13, items 2 and 6).
//!
//! A wait parks a running job (its handler said `{"wait": {...}}` and exited 75): status
//! `waiting`, no lease, no worker, due again when `signal` stores a payload as its step of the
//! wait's name, or failed when `wait_until` passes (a failed attempt, or a dead letter when
//! the wait said `on_timeout = "dead"`). A cancel makes a pending, waiting or running job
//! `cancelled`, clearing its lease: the running attempt's outcome is fenced out, and its worker
//! learns at its next heartbeat (which the cancel hurries: see `Shared::cancels`).

use std::time::Duration;

use serde_json::json;

use super::db::{Db, ps};
use super::fail::{self, FailKind, Failed};
use super::ledger::{self, Charge};
use super::{StoreCtx, alerts, breaker};
use crate::alerts::AlertKind;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::{Cancelled, JobStatus, OnTimeout, Signalled, signal_command};

/// What a handler asked to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WaitSpec {
    pub(crate) name: String,
    pub(crate) timeout: Duration,
    /// Dead-letter when it times out (else a failed attempt).
    pub(crate) dead: bool,
}

/// What became of a wait.
#[derive(Debug, Clone)]
pub(crate) enum Waited {
    /// Waiting until `until`.
    Waiting { until: Timestamp },
    /// The signal was already recorded: due again now.
    Signalled,
    /// The lease was no longer held; nothing changed.
    LeaseLost,
}

/// Parks the attempt running under `(key, token)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    db: Db<'_>,
    ctx: &StoreCtx,
    key: &str,
    token: &str,
    wait: &WaitSpec,
    charge: &Charge,
    now: Timestamp,
) -> Result<Waited, StoreError> {
    let attempts: Option<u32> = db.opt(
        db.pick(
            "SELECT attempts FROM jobs WHERE key = ?1 AND lease_token = ?2 AND status = 'running'",
            "SELECT attempts FROM jobs WHERE key = ?1 AND lease_token = ?2 AND status = 'running'
             FOR UPDATE",
        ),
        ps![key, token],
        |r| r.get(0),
    )?;
    let Some(attempts) = attempts else { return Ok(Waited::LeaseLost) };
    // Not an attempt counted, but what it spent is, as a snooze's is.
    ledger::record(db, key, attempts + 1, charge, now)?;
    breaker::released(db, key)?;
    let clear = "lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL";
    if db.exists("SELECT 1 FROM steps WHERE job_key = ?1 AND name = ?2", ps![key, wait.name])? {
        db.exec(
            &format!("UPDATE jobs SET status = 'pending', run_at = ?2, updated_at = ?2, {clear} WHERE key = ?1"),
            ps![key, now],
        )?;
        return Ok(Waited::Signalled);
    }
    let until = now + wait.timeout;
    db.exec(
        &format!(
            "UPDATE jobs SET status = 'waiting', wait_name = ?2, wait_until = ?3, wait_dead = ?4,
                             run_at = ?3, updated_at = ?5, {clear}
             WHERE key = ?1"
        ),
        ps![key, wait.name, until, i64::from(wait.dead), now],
    )?;
    if ctx.alerting {
        let body = json!({
            "key": key,
            "name": wait.name,
            "until": until,
            "on_timeout": OnTimeout::of_dead(wait.dead),
            "command": signal_command(key, &wait.name),
        });
        alerts::owe(db, AlertKind::Waiting, Some(key), &body, now, now)?;
    }
    Ok(Waited::Waiting { until })
}

/// Whether the attempt running under `(key, token)` still holds its lease.
pub(crate) fn lease_held(db: Db<'_>, key: &str, token: &str) -> Result<bool, StoreError> {
    db.exists(
        "SELECT 1 FROM jobs WHERE key = ?1 AND lease_token = ?2 AND status = 'running'",
        ps![key, token],
    )
}

/// The earliest deadline of a waiting job (from the partial index of waiting rows).
pub(crate) fn next_deadline(db: Db<'_>) -> Result<Option<Timestamp>, StoreError> {
    db.value("SELECT min(wait_until) FROM jobs WHERE status = 'waiting'", ps![])
}

/// Fails the waits whose deadline passed (the Retry scheduler at the deadline, and the
/// Rescuer's sweep).
pub(crate) fn expire(
    db: Db<'_>,
    ctx: &StoreCtx,
    now: Timestamp,
) -> Result<Vec<(String, Failed)>, StoreError> {
    let due: Vec<(String, String, i64)> = db.query(
        db.pick(
            "SELECT key, wait_name, wait_dead FROM jobs
             WHERE status = 'waiting' AND wait_until <= ?1",
            "SELECT key, wait_name, wait_dead FROM jobs
             WHERE status = 'waiting' AND wait_until <= ?1 FOR UPDATE SKIP LOCKED",
        ),
        ps![now],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut out = Vec::with_capacity(due.len());
    for (key, name, dead) in due {
        db.exec(
            "UPDATE jobs SET wait_name = NULL, wait_until = NULL, wait_dead = 0 WHERE key = ?1",
            ps![key],
        )?;
        let error = format!("the wait for the signal {name:?} timed out");
        let kind = FailKind::WaitTimedOut { dead: dead != 0 };
        let failed = fail::fail_running(db, ctx, &key, &error, kind, &Charge::default(), now)?;
        out.push((key, failed));
    }
    Ok(out)
}

/// Stores `payload` as the step `name` of the job `key` waiting for it, and makes it due now.
pub(crate) fn signal(
    db: Db<'_>,
    key: &str,
    name: &str,
    payload: &str,
    now: Timestamp,
) -> Result<Signalled, StoreError> {
    let row: Option<(String, Option<String>)> = db.opt(
        db.pick(
            "SELECT status, wait_name FROM jobs WHERE key = ?1",
            "SELECT status, wait_name FROM jobs WHERE key = ?1 FOR UPDATE",
        ),
        ps![key],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let Some((status, waits_for)) = row else {
        return Ok(Signalled::NotWaiting { status: None, waits_for: None });
    };
    if status != "waiting" || waits_for.as_deref() != Some(name) {
        let status = JobStatus::parse(&status);
        return Ok(Signalled::NotWaiting { status, waits_for });
    }
    db.exec(
        "INSERT INTO steps (job_key, name, output, cost_micros, created_at)
         VALUES (?1, ?2, ?3, 0, ?4)
         ON CONFLICT (job_key, name) DO UPDATE SET output = excluded.output,
                                                   created_at = excluded.created_at",
        ps![key, name, payload, now],
    )?;
    db.exec(
        "UPDATE jobs SET status = 'pending', run_at = ?2, updated_at = ?2,
                         wait_name = NULL, wait_until = NULL, wait_dead = 0
         WHERE key = ?1",
        ps![key, now],
    )?;
    db.notify()?;
    Ok(Signalled::Resumed)
}

/// Which jobs a cancel takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CancelWhich {
    Keys(Vec<String>),
    /// Every pending, waiting or running job of this queue.
    Queue(String),
}

/// Cancels the pending, waiting and running jobs `which` names.
pub(crate) fn cancel(
    db: Db<'_>,
    which: &CancelWhich,
    now: Timestamp,
) -> Result<Vec<Cancelled>, StoreError> {
    let keys = match which {
        CancelWhich::Keys(keys) => keys.clone(),
        CancelWhich::Queue(queue) => db.query(
            "SELECT key FROM jobs WHERE queue = ?1
             AND (status = 'pending' OR status = 'waiting' OR status = 'running') ORDER BY key",
            ps![queue],
            |r| r.get(0),
        )?,
    };
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let was = super::purge::locked_status(db, &key)?;
        let done = Cancelled { key, was };
        if done.changed() {
            if was == Some(JobStatus::Running) {
                // A breaker probe cancelled frees the probe's slot.
                breaker::released(db, &done.key)?;
            }
            db.exec(
                "UPDATE jobs SET status = 'cancelled', finished_at = ?2, updated_at = ?2,
                                 lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL,
                                 wait_name = NULL, wait_until = NULL, wait_dead = 0
                 WHERE key = ?1",
                ps![done.key, now],
            )?;
            db.notify()?;
        }
        out.push(done);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
