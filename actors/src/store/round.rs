//! One Dispatcher round, as one operation in one transaction: settle the outcomes of attempts
//! that ended, insert the jobs enqueued through the engine, then claim due jobs for free
//! workers. Settling and claiming share a commit (one fsync for the lot), and a job enqueued
//! into an idle runner is claimed in the commit that inserts it.
//!
//! Applied guarded, each item runs in a savepoint of its own, so one that fails (a disk error on
//! one row) rolls back alone and is answered with its error while the rest of the round
//! commits. The Store first applies its batch unguarded (no savepoints); a failed item then
//! fails the round, and the batch is applied again guarded.

use super::claim::{self, Claim, ClaimArgs};
use super::db::{Db, ps};
use std::time::Duration;

use super::fail::{self, FailKind, Failed};
use super::ledger::Charge;
use super::snooze::{self, Snoozed};
use super::wait::{self, WaitSpec, Waited};
use super::{StoreCtx, enqueue, lease};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::{Enqueued, NewJob};

/// What to do with an attempt that ended; every variant is fenced on the lease token.
#[derive(Debug, Clone)]
pub(crate) enum Settle {
    /// The attempt succeeded.
    Complete { key: String, token: String, result: Option<String>, charge: Charge },
    /// The attempt failed; `kind` decides retry or dead letter.
    Fail { key: String, token: String, error: String, kind: FailKind, charge: Charge },
    /// Not now: due again after `delay` (`None`: the backoff), no attempt counted.
    Snooze { key: String, token: String, delay: Option<Duration>, charge: Charge },
    /// Parked until a signal or its deadline, no attempt counted.
    Wait { key: String, token: String, wait: WaitSpec, charge: Charge },
    /// The attempt never ran, or was cut short by shutdown: pending again, nothing counted.
    Release { key: String, token: String },
}

impl Settle {
    pub(crate) fn key(&self) -> &str {
        match self {
            Settle::Complete { key, .. }
            | Settle::Fail { key, .. }
            | Settle::Snooze { key, .. }
            | Settle::Wait { key, .. }
            | Settle::Release { key, .. } => key,
        }
    }

    /// The lease `(key, token)` the attempt ran under.
    pub(crate) fn lease(&self) -> (String, String) {
        match self {
            Settle::Complete { key, token, .. }
            | Settle::Fail { key, token, .. }
            | Settle::Snooze { key, token, .. }
            | Settle::Wait { key, token, .. }
            | Settle::Release { key, token } => (key.clone(), token.clone()),
        }
    }
}

/// What a settle did.
#[derive(Debug, Clone)]
pub(crate) enum Settled {
    /// Completed (`false`: the lease was no longer held, nothing changed).
    Completed(bool),
    /// What the failure became.
    Failed(Failed),
    /// What the snooze became.
    Snoozed(Snoozed),
    /// What the wait became.
    Waited(Waited),
    /// Released (`false`: the lease was no longer held).
    Released(bool),
}

/// A round's work.
#[derive(Debug, Default)]
pub(crate) struct Round {
    pub(crate) settles: Vec<Settle>,
    pub(crate) inserts: Vec<NewJob>,
    /// Claim up to this many, for this lease.
    pub(crate) claim: Option<(ClaimArgs, usize)>,
}

/// A round's answers, item by item in the order given.
#[derive(Debug)]
pub(crate) struct RoundOut {
    pub(crate) settled: Vec<Result<Settled, StoreError>>,
    pub(crate) inserted: Vec<Result<Enqueued, StoreError>>,
    /// `None` when no claim was asked for.
    pub(crate) claimed: Option<Result<Claim, StoreError>>,
}

pub(crate) fn run(
    db: Db<'_>,
    ctx: &StoreCtx,
    round: &Round,
    now: Timestamp,
) -> Result<RoundOut, StoreError> {
    let out = RoundOut {
        settled: round.settles.iter().map(|s| item(db, ctx, |c| settle(c, ctx, s, now))).collect(),
        inserted: round
            .inserts
            .iter()
            .map(|job| item(db, ctx, |c| enqueue::run(c, ctx, job, now)))
            .collect(),
        claimed: round
            .claim
            .as_ref()
            .map(|(args, want)| item(db, ctx, |c| claim::run(c, ctx, args, *want, now))),
    };
    if !ctx.guarded.get() {
        // Applied unguarded, one failed item leaves the others' writes undefined: fail the
        // round, so the Store applies its batch again with every item in a savepoint.
        let failed = out.settled.iter().find_map(|r| r.as_ref().err());
        let failed = failed.or_else(|| out.inserted.iter().find_map(|r| r.as_ref().err()));
        let failed = failed.or_else(|| out.claimed.as_ref().and_then(|r| r.as_ref().err()));
        if let Some(e) = failed {
            return Err(e.clone());
        }
    }
    Ok(out)
}

fn settle(db: Db<'_>, ctx: &StoreCtx, s: &Settle, now: Timestamp) -> Result<Settled, StoreError> {
    Ok(match s {
        Settle::Complete { key, token, result, charge } => Settled::Completed(lease::complete(
            db,
            ctx,
            key,
            token,
            result.as_deref(),
            charge,
            now,
        )?),
        Settle::Fail { key, token, error, kind, charge } => {
            Settled::Failed(fail::run(db, ctx, key, token, error, *kind, charge, now)?)
        }
        Settle::Snooze { key, token, delay, charge } => {
            Settled::Snoozed(snooze::run(db, ctx, key, token, *delay, charge, now)?)
        }
        Settle::Wait { key, token, wait: spec, charge } => {
            Settled::Waited(wait::run(db, ctx, key, token, spec, charge, now)?)
        }
        Settle::Release { key, token } => Settled::Released(lease::release(db, key, token, now)?),
    })
}

/// Runs `f` in a savepoint of its own when the round runs guarded: on error its writes and
/// notices are undone. Unguarded, a failure fails the whole round (see [`run`]).
fn item<T>(
    db: Db<'_>,
    ctx: &StoreCtx,
    f: impl FnOnce(Db<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    if !ctx.guarded.get() {
        return f(db);
    }
    let sql = |text: &str| db.exec(text, ps![]).map(drop);
    sql("SAVEPOINT item")?;
    let mark = ctx.notices.mark();
    let out = f(db);
    match &out {
        Ok(_) => sql("RELEASE item")?,
        Err(_) => {
            ctx.notices.roll_back_to(mark);
            sql("ROLLBACK TO item")?;
            sql("RELEASE item")?;
        }
    }
    out
}
