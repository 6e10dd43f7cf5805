//! A failed attempt: counted, then retried after a backoff or, once attempts run out (or the
//! failure is permanent), moved to `dead_letter` together with its alert outbox row in the same
//! transaction, so a crash between the two cannot lose the alert.
//!
//! The same path serves interrupted attempts: a worker that crashed mid-job, a lease that
//! expired, a `running` row left by a process that died.

use std::time::Duration;

use serde_json::json;

use super::breaker::{self, Trip};
use super::db::{Db, Param, ps};
use super::ledger::{self, Charge};
use super::limits::{self, held};
use super::{StoreCtx, alerts};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::{AttemptError, DeadJob, DeadReason};
use crate::policy::backoff::backoff;

/// Why an attempt failed, which decides what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailKind {
    /// Retry after the backoff, or after `delay` when the handler asked for one.
    Retryable { delay: Option<Duration> },
    /// As `Retryable`, and the circuit breaker opens at once: the upstream refused the
    /// credentials (`error_class` auth), so every job would fail the same way.
    OpenBreaker { delay: Option<Duration> },
    /// Dead-letter now.
    Permanent,
    /// The worker running it crashed: retry after the backoff.
    Crashed,
    /// The process or lease died under it: due again at once.
    Interrupted,
    /// A wait's deadline passed with no signal: retried after the backoff, or dead-lettered
    /// at once when `dead`. No evidence against the upstream: the breaker counts nothing.
    WaitTimedOut { dead: bool },
}

/// What became of a failed attempt.
#[derive(Debug, Clone)]
pub(crate) enum Failed {
    /// Pending again, due at `at`.
    Retry { at: Timestamp, attempts: u32, delay: Duration },
    /// Moved to `dead_letter`, its alert owed in the outbox, held for the DeadLetter actor.
    Dead { job: DeadJob, alert: alerts::HeldAlert },
    /// The lease was no longer held; nothing changed.
    LeaseLost,
}

/// Fails the attempt running under `(key, token)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    db: Db<'_>,
    ctx: &StoreCtx,
    key: &str,
    token: &str,
    error: &str,
    kind: FailKind,
    charge: &Charge,
    now: Timestamp,
) -> Result<Failed, StoreError> {
    let held = db.exists(
        db.pick(
            "SELECT 1 FROM jobs WHERE key = ?1 AND lease_token = ?2 AND status = 'running'",
            // Locked until the transaction ends: the lease cannot be taken (recovered by another
            // runner, completed) between this check and the writes that follow it.
            "SELECT 1 FROM jobs WHERE key = ?1 AND lease_token = ?2 AND status = 'running'
             FOR UPDATE",
        ),
        ps![key, token],
    )?;
    if !held {
        return Ok(Failed::LeaseLost);
    }
    fail_running(db, ctx, key, error, kind, charge, now)
}

/// Fails every attempt whose lease `owner` holds (a crashed worker incarnation).
pub(crate) fn fail_owner(
    db: Db<'_>,
    ctx: &StoreCtx,
    owner: &str,
    error: &str,
    now: Timestamp,
) -> Result<Vec<(String, Failed)>, StoreError> {
    let owned = db.pick(
        "SELECT key FROM jobs WHERE status = 'running' AND lease_owner = ?1",
        "SELECT key FROM jobs WHERE status = 'running' AND lease_owner = ?1 FOR UPDATE",
    );
    fail_each(db, ctx, owned, ps![owner], error, FailKind::Crashed, now)
}

/// Which running jobs [`recover`] counts an interrupted attempt for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// Every running job: a runner starting, whose lock proves their process died. Only
    /// SQLite's single runner may claim that: on PostgreSQL other runners share the queue and
    /// their jobs run, so a runner starting there recovers [`Recovery::ExpiredLeases`] instead.
    AllRunning,
    /// The running jobs whose lease expired before now (the Rescuer's sweep), and the waits
    /// past their deadline.
    ExpiredLeases,
    /// Only the waits past their deadline (the Retry scheduler, at the earliest deadline).
    ExpiredWaits,
}

/// Counts an interrupted attempt for the running jobs `which` selects.
pub(crate) fn recover(
    db: Db<'_>,
    ctx: &StoreCtx,
    which: Recovery,
    now: Timestamp,
) -> Result<Vec<(String, Failed)>, StoreError> {
    let interrupted = FailKind::Interrupted;
    match which {
        Recovery::AllRunning => {
            let error = "interrupted: the runner stopped while this attempt ran";
            let running = "SELECT key FROM jobs WHERE status = 'running'";
            fail_each(db, ctx, running, ps![], error, interrupted, now)
        }
        Recovery::ExpiredLeases => {
            let error = "interrupted: the lease expired with no heartbeat from its worker";
            let expired = db.pick(
                "SELECT key FROM jobs WHERE status = 'running' AND lease_expires_at < ?1",
                // A row another transaction holds is being settled (completed, extended,
                // recovered by another runner): skip it rather than wait; a lease still
                // expired is swept next time.
                "SELECT key FROM jobs WHERE status = 'running' AND lease_expires_at < ?1
                 FOR UPDATE SKIP LOCKED",
            );
            let mut failed = fail_each(db, ctx, expired, ps![now], error, interrupted, now)?;
            // Waits past their deadline are swept with them.
            failed.extend(super::wait::expire(db, ctx, now)?);
            Ok(failed)
        }
        Recovery::ExpiredWaits => super::wait::expire(db, ctx, now),
    }
}

/// Fails, as `kind`, the attempt of each running job the query `running` selects by key. On
/// PostgreSQL that query locks the rows it returns (`FOR UPDATE`), so each is still running,
/// under the lease it was selected by, when it is failed: a runner sharing the database cannot
/// complete or recover it in between and see its outcome overwritten.
fn fail_each(
    db: Db<'_>,
    ctx: &StoreCtx,
    running: &str,
    params: &[&dyn Param],
    error: &str,
    kind: FailKind,
    now: Timestamp,
) -> Result<Vec<(String, Failed)>, StoreError> {
    let keys: Vec<String> = db.query(running, params, |r| r.get(0))?;
    keys.into_iter()
        .map(|k| Ok((k.clone(), fail_running(db, ctx, &k, error, kind, &Charge::default(), now)?)))
        .collect()
}

/// Fails the attempt of `key`, which the caller checked is running under the lease it settles.
pub(super) fn fail_running(
    db: Db<'_>,
    ctx: &StoreCtx,
    key: &str,
    error: &str,
    kind: FailKind,
    charge: &Charge,
    now: Timestamp,
) -> Result<Failed, StoreError> {
    let (attempts, max_attempts, errors, started_at): (u32, u32, String, Option<Timestamp>) = db
        .one(
            "SELECT attempts + 1, max_attempts, errors, started_at FROM jobs WHERE key = ?1",
            ps![key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
    ledger::record(db, key, attempts, charge, now)?;
    match kind {
        // The process or a lease died, not the handler: no evidence against the upstream.
        FailKind::Interrupted | FailKind::WaitTimedOut { .. } => breaker::released(db, key)?,
        // The upstream refused the credentials: every job would fail the same way.
        FailKind::OpenBreaker { .. } => {
            breaker::failed(db, ctx, key, Trip::AtOnce { cause: "auth", error }, now)?
        }
        _ => breaker::failed(db, ctx, key, Trip::AfterThreshold, now)?,
    }
    if let (FailKind::Retryable { delay: Some(d) }, Some(limit)) = (&kind, held(charge)) {
        limits::hold(db, limit, now + *d)?;
    }
    let entry = AttemptError {
        attempt: attempts,
        error: error.chars().take(2048).collect(),
        at: now,
        started_at,
        cost_micros: (charge.micros > 0).then_some(charge.micros),
    };
    let errors = push_error(&errors, entry);
    let reason = match kind {
        FailKind::Permanent | FailKind::WaitTimedOut { dead: true } => Some(DeadReason::Permanent),
        _ if attempts < max_attempts => None,
        FailKind::Crashed | FailKind::Interrupted => Some(DeadReason::Crashed),
        FailKind::Retryable { .. }
        | FailKind::OpenBreaker { .. }
        | FailKind::WaitTimedOut { .. } => Some(DeadReason::Exhausted),
    };
    if let Some(reason) = reason {
        return bury(db, key, error, attempts, &errors, reason, now);
    }
    let delay = match kind {
        FailKind::Retryable { delay: Some(d) } | FailKind::OpenBreaker { delay: Some(d) } => d,
        FailKind::Interrupted => Duration::ZERO,
        _ => backoff(ctx.retry.base, ctx.retry.cap, attempts - 1),
    };
    let at = now + delay;
    db.exec(
        "UPDATE jobs SET status = 'pending', attempts = ?2, run_at = ?3, last_error = ?4,
                         errors = ?5, updated_at = ?6,
                         lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
         WHERE key = ?1",
        ps![key, attempts, at, error, errors, now],
    )?;
    Ok(Failed::Retry { at, attempts, delay })
}

/// Moves a job from `jobs` to `dead_letter` and owes its alert, in the caller's transaction.
fn bury(
    db: Db<'_>,
    key: &str,
    error: &str,
    attempts: u32,
    errors: &str,
    reason: DeadReason,
    now: Timestamp,
) -> Result<Failed, StoreError> {
    let died = now.as_secs();
    db.exec(
        "INSERT INTO dead_letter (key, queue, payload, error, attempts, max_attempts, priority,
                                  timeout_ms, died, errors, reason, limit_name)
         SELECT key, queue, payload, ?2, ?3, max_attempts, priority, timeout_ms, ?4, ?5, ?6,
                limit_name
         FROM jobs WHERE key = ?1",
        ps![key, error, attempts, died, errors, reason],
    )?;
    db.exec("DELETE FROM jobs WHERE key = ?1", ps![key])?;
    // `dead` and `alerts` still take SQLite's connection (converted apart from this module).
    let dead = super::dead::get(db, key)?
        .ok_or_else(|| StoreError::Inconsistent(format!("dead letter row for {key:?} missing")))?;
    let body = json!({
        "key": dead.key,
        "queue": dead.queue,
        "error": dead.error,
        "attempts": dead.attempts,
        "reason": dead.reason,
        "died": dead.died,
    });
    let id = alerts::owe_dead_letter(db, key, &body, now)?;
    Ok(Failed::Dead { job: dead, alert: alerts::HeldAlert { id, at: now } })
}

/// Reads back an `errors` column: `whose` names the row for the error when it is not the list
/// nightshift writes.
pub(crate) fn attempt_errors(whose: &str, json: &str) -> Result<Vec<AttemptError>, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Inconsistent(format!("{whose}: errors are not a JSON list: {e}")))
}

/// Appends one attempt's entry (its error cut to 2 KiB) to the JSON history.
fn push_error(errors: &str, entry: AttemptError) -> String {
    let mut list: Vec<AttemptError> = serde_json::from_str(errors).unwrap_or_default();
    list.push(entry);
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned())
}
