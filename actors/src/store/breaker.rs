//! The circuit breakers' bookkeeping after each outcome. The global breaker lives in the
//! `control` row; a `[[limit]]` with `breaker = true` has one of its own in its `limits` row,
//! which the outcomes of that limit's jobs feed instead. Both follow one policy,
//! [`BreakerState`]: `[breaker] failures` in a row (or an `auth` failure at once) open it for
//! `[breaker] cooldown`; then one probe job is claimed (the claim records it: `gates` for the
//! global breaker, `limits` for a limit's); the probe's success closes it, its failure re-opens
//! it for twice the last cooldown, and a probe given back without an outcome frees the slot.
//! Here only the outcomes are counted; what a breaker admits is the claim's business.

use serde_json::json;

use super::db::{Db, ps};
use super::notices::Notice;
use super::{StoreCtx, alerts, gates, limits};
use crate::alerts::AlertKind;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::policy::breaker::{BreakerState, Transition};

/// Where a breaker's state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Breaker<'a> {
    /// The global breaker, in the `control` row.
    Global,
    /// The own breaker of the `[[limit]]` of this name, in its `limits` row.
    Limit(&'a str),
}

/// When a failure opens a breaker.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Trip<'a> {
    /// After `[breaker] failures` in a row.
    AfterThreshold,
    /// Now, for `cause`, the failure's `error` quoted in the alert.
    AtOnce { cause: &'static str, error: &'a str },
}

impl Breaker<'_> {
    /// The state as it stands, unlocked.
    fn load(self, db: Db<'_>) -> Result<BreakerState, StoreError> {
        Ok(match self {
            Breaker::Global => gates::load_control(db)?.breaker,
            Breaker::Limit(name) => limits::load_row(db, name)?.breaker,
        })
    }

    /// The state for a write computed from it: locked until the transaction ends on
    /// PostgreSQL, so runners sharing the database take turns on it.
    fn lock(self, db: Db<'_>) -> Result<BreakerState, StoreError> {
        Ok(match self {
            Breaker::Global => gates::lock_control(db)?.breaker,
            Breaker::Limit(name) => limits::lock_row(db, name)?.breaker,
        })
    }

    fn save(self, db: Db<'_>, state: &BreakerState) -> Result<(), StoreError> {
        match self {
            Breaker::Global => gates::save(db, state),
            Breaker::Limit(name) => limits::save_breaker(db, name, state),
        }
    }

    /// Closes it and forgets its count, cooldown and probe (an operator replayed jobs).
    /// Writes constants, so it needs no lock.
    pub(crate) fn reset(self, db: Db<'_>) -> Result<(), StoreError> {
        self.save(db, &BreakerState::default())
    }

    fn limit(self) -> Option<String> {
        match self {
            Breaker::Global => None,
            Breaker::Limit(name) => Some(name.to_owned()),
        }
    }

    /// The state, locked, when `changes` says an outcome changes it; `None` otherwise. On
    /// PostgreSQL an unlocked read decides first: an outcome that changes nothing writes
    /// nothing, so it cannot lose another runner's update, and the common case (a success
    /// while the breaker is closed) does not queue every runner's transaction on the row.
    /// SQLite's write transaction holds the database's lock already, so it reads once.
    fn to_change(
        self,
        db: Db<'_>,
        changes: impl Fn(&BreakerState) -> bool,
    ) -> Result<Option<BreakerState>, StoreError> {
        if db.is_pg() && !changes(&self.load(db)?) {
            return Ok(None);
        }
        let state = self.lock(db)?;
        Ok(changes(&state).then_some(state))
    }

    /// A success of `key`: the count starts again, and the probe's success closes it.
    fn succeeded(self, db: Db<'_>, ctx: &StoreCtx, key: &str) -> Result<(), StoreError> {
        let quiet = |s: &BreakerState| s.failures == 0 && s.open_until.is_none();
        let Some(mut state) = self.to_change(db, |s| !quiet(s))? else { return Ok(()) };
        let closed = matches!(state.on_success(key), Some(Transition::Closed));
        self.save(db, &state)?;
        if closed {
            ctx.notices.push(Notice::BreakerClosed { key: key.to_owned(), limit: self.limit() });
        }
        Ok(())
    }

    /// Frees the probe slot if `key` was the probe.
    fn released(self, db: Db<'_>, key: &str) -> Result<(), StoreError> {
        if let Some(mut state) = self.to_change(db, |s| s.probe.as_deref() == Some(key))? {
            state.on_release(key);
            self.save(db, &state)?;
        }
        Ok(())
    }
}

/// The breaker an outcome of `key` feeds: its limit's own, when the job counts against a
/// `[[limit]]` of this runner's config with `breaker = true`; else the global one.
pub(crate) fn of<'a>(db: Db<'_>, ctx: &'a StoreCtx, key: &str) -> Result<Breaker<'a>, StoreError> {
    if !ctx.limits.iter().any(|l| l.breaker) {
        return Ok(Breaker::Global);
    }
    let name: Option<Option<String>> =
        db.opt("SELECT limit_name FROM jobs WHERE key = ?1", ps![key], |r| r.get(0))?;
    let Some(name) = name.flatten() else { return Ok(Breaker::Global) };
    let limit = ctx.limits.iter().find(|l| l.breaker && l.name == name);
    Ok(limit.map_or(Breaker::Global, |l| Breaker::Limit(&l.name)))
}

/// An attempt of `key` succeeded: the global breaker's count starts again (and its probe's
/// success closes it), and so do the job's limit's breaker's.
pub(crate) fn succeeded(db: Db<'_>, ctx: &StoreCtx, key: &str) -> Result<(), StoreError> {
    Breaker::Global.succeeded(db, ctx, key)?;
    match of(db, ctx, key)? {
        Breaker::Global => Ok(()),
        limit => limit.succeeded(db, ctx, key),
    }
}

/// An attempt of `key` failed: it counts toward the job's limit's breaker when it has one (only
/// that provider's jobs stop), else toward the global one, opening it as `trip` says; the alert
/// of a first opening is owed, and a limit's opening postpones its pending jobs to the
/// cooldown's end. A limit's job that was the global breaker's probe tells the global breaker
/// nothing either way: its slot is freed for another.
pub(crate) fn failed(
    db: Db<'_>,
    ctx: &StoreCtx,
    key: &str,
    trip: Trip<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let breaker = of(db, ctx, key)?;
    if breaker != Breaker::Global {
        Breaker::Global.released(db, key)?;
    }
    let mut state = breaker.lock(db)?;
    let transition = match trip {
        Trip::AfterThreshold => state.on_failure(key, now, &ctx.breaker),
        Trip::AtOnce { .. } => state.trip(key, now, &ctx.breaker),
    };
    breaker.save(db, &state)?;
    let Some(Transition::Opened { until, reopened }) = transition else { return Ok(()) };
    let cooldown_ms = until.millis_since(now);
    let mut body = json!({ "failures": state.failures, "cooldown_ms": cooldown_ms,
                           "until": until, "last_key": key });
    if let Breaker::Limit(name) = breaker {
        limits::postpone(db, name, until)?;
        body["limit"] = json!(name);
    }
    let reason = match (trip, reopened) {
        (_, true) => "probe failed",
        (Trip::AfterThreshold, false) => "consecutive failures",
        (Trip::AtOnce { cause, error }, false) => {
            body["cause"] = json!(cause);
            body["error"] = json!(error.chars().take(512).collect::<String>());
            "auth failure: every job would fail the same way"
        }
    };
    if !reopened {
        alerts::owe(db, AlertKind::BreakerOpened, None, &body, now, now)?;
    }
    ctx.notices.push(Notice::BreakerOpened {
        key: key.to_owned(),
        limit: breaker.limit(),
        reason,
        failures: state.failures,
        cooldown_ms,
    });
    Ok(())
}

/// The job `key` was given back without an outcome (shutdown, a lost lease, a snooze, a
/// wait): if it was a probe, of the global breaker or of a limit's, another job may probe.
pub(crate) fn released(db: Db<'_>, key: &str) -> Result<(), StoreError> {
    Breaker::Global.released(db, key)?;
    let probing: Vec<String> =
        db.query("SELECT name FROM limits WHERE breaker_probe = ?1", ps![key], |r| r.get(0))?;
    for name in &probing {
        Breaker::Limit(name).released(db, key)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
