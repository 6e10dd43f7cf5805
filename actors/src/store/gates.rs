//! The gates a claim passes, evaluated inside the claim's transaction so a gate change cannot
//! race it: the kill switch, the daily cap and the circuit breaker. Also the breaker's
//! bookkeeping after each outcome, and the alerts the cap and the breaker owe.

use serde::Serialize;
use serde_json::json;

use super::db::{Db, ps};
use super::notices::Notice;
use super::{StoreCtx, alerts};
use crate::alerts::AlertKind;
use crate::clock::{Timestamp, utc_day};
use crate::error::StoreError;
use crate::policy::breaker::{Admit, BreakerState, Transition};
use crate::policy::budget;

/// Why nothing may be claimed now.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum Gate {
    /// The kill switch is on.
    Paused {
        /// Why, as given to `pause`.
        reason: Option<String>,
    },
    /// Today's spend reached the daily cap.
    Cap {
        /// The next UTC midnight.
        until: Timestamp,
    },
    /// The circuit breaker is open (or its probe is still running).
    Breaker {
        /// When the cooldown ends; `None` while a probe runs.
        until: Option<Timestamp>,
    },
}

impl Gate {
    /// `paused`, `cap` or `breaker`, as events and JSON name it.
    pub fn name(&self) -> &'static str {
        match self {
            Gate::Paused { .. } => "paused",
            Gate::Cap { .. } => "cap",
            Gate::Breaker { .. } => "breaker",
        }
    }

    /// What holds claims and what lifts it, in a sentence for the event log.
    pub fn describe(&self) -> String {
        match self {
            Gate::Paused { reason } => format!(
                "the kill switch is on ({}); `nightshift resume` turns it off",
                reason.as_deref().unwrap_or("no reason given")
            ),
            Gate::Cap { .. } => "today's spend reached the daily cap; claims resume at the next                 UTC day, or when the cap is raised"
                .to_owned(),
            Gate::Breaker { until: Some(_) } => "the circuit breaker is open; when its cooldown                 ends one probe job runs, and its success closes the breaker"
                .to_owned(),
            Gate::Breaker { until: None } => {
                "the circuit breaker's probe job is running; its outcome opens or closes it"
                    .to_owned()
            }
        }
    }

    /// When the gate lifts by itself, if it does.
    pub fn until(&self) -> Option<Timestamp> {
        match self {
            Gate::Paused { .. } => None,
            Gate::Cap { until } => Some(*until),
            Gate::Breaker { until } => *until,
        }
    }
}

/// What the gates let a claim do.
pub(crate) enum Admission {
    /// Held; `until` is when the gate lifts by itself (an open breaker's cooldown, the cap's
    /// next UTC day), `None` when only something else lifts it (resume, a probe's outcome).
    Gated { until: Option<Timestamp> },
    /// Claim; `probe` when the claimed job is the breaker's half-open probe.
    Go { probe: bool },
}

/// Today's recorded spend, micro-dollars. "Today" is the clock's UTC day, or the latest day in
/// the ledger if the clock fell back behind it: a clock jumping back across midnight must not
/// hand out a fresh day's budget. The sum saturates at `i64::MAX` (`total` is a float that never
/// overflows, exact below 2^53 micro-dollars; the cast clamps), so an odd ledger cannot wedge
/// every claim with an overflow error. PostgreSQL's sum of bigints is an exact numeric, clamped
/// the same way before it becomes a bigint again.
pub(crate) fn spent_today(db: Db<'_>, now: Timestamp) -> Result<i64, StoreError> {
    db.value(
        db.pick(
            "SELECT CAST(total(micros) AS INTEGER) FROM spend
             WHERE day = max(?1, coalesce((SELECT max(day) FROM spend), ?1))",
            "SELECT CAST(LEAST(coalesce(sum(micros), 0), 9223372036854775807) AS BIGINT) FROM spend
             WHERE day = GREATEST(?1, coalesce((SELECT max(day) FROM spend), ?1))",
        ),
        ps![utc_day(now)],
    )
}

/// Evaluates the gates for a claim; owes the day's `cap_hit` alert the first time the cap stops
/// a claim that day.
pub(crate) fn admit(db: Db<'_>, ctx: &StoreCtx, now: Timestamp) -> Result<Admission, StoreError> {
    // On PostgreSQL, first without a lock: most claims find every gate open (or shut with
    // nothing to record) and write nothing, so runners sharing the database need not take turns
    // on the control row. A claim that would write from what it read (the cap's alert day, the
    // breaker's probe) locks the row and decides again. A pause committed meanwhile is then
    // ordered after this claim, whose jobs run as jobs in flight do.
    if db.is_pg()
        && let Some(admission) = decide(db, ctx, now, &load_control(db)?, false)?
    {
        return Ok(admission);
    }
    // One read of the control row per claim: the kill switch, the cap's alert day, the breaker.
    let control = lock_control(db)?;
    Ok(decide(db, ctx, now, &control, true)?.expect("a decision allowed to write is made"))
}

/// The gates' decision from `control`; `None` when it must write and `may_write` is false.
fn decide(
    db: Db<'_>,
    ctx: &StoreCtx,
    now: Timestamp,
    control: &Control,
    may_write: bool,
) -> Result<Option<Admission>, StoreError> {
    if control.paused {
        return Ok(Some(Admission::Gated { until: None }));
    }
    if let Some(cap) = ctx.daily_cap_micros {
        let spent = spent_today(db, now)?;
        if budget::exhausted(spent, cap) {
            let today = utc_day(now);
            if control.cap_alerted_day.as_deref() != Some(today.as_str()) {
                if !may_write {
                    return Ok(None);
                }
                db.exec("UPDATE control SET cap_alerted_day = ?1 WHERE id = 1", ps![today])?;
                let spent_usd = spent as f64 / 1e6;
                let cap_usd = cap as f64 / 1e6;
                let body = json!({ "day": today, "spent_usd": spent_usd, "cap_usd": cap_usd });
                alerts::owe(db, AlertKind::CapHit, None, &body, now, now)?;
                ctx.notices.push(Notice::CapHit { spent_usd, cap_usd, day: today });
            }
            return Ok(Some(Admission::Gated { until: Some(budget::next_day(now)) }));
        }
    }
    Ok(match control.breaker.admit(now) {
        Admit::Closed => Some(Admission::Go { probe: false }),
        // The probe is recorded in the control row as it is claimed.
        Admit::Probe if !may_write => None,
        Admit::Probe => Some(Admission::Go { probe: true }),
        Admit::Open { until } => Some(Admission::Gated { until: Some(until) }),
        Admit::Probing => Some(Admission::Gated { until: None }),
    })
}

/// The gate that holds claims now, if any, without side effects (drain, status).
pub(crate) fn current(
    db: Db<'_>,
    ctx: &StoreCtx,
    now: Timestamp,
) -> Result<Option<Gate>, StoreError> {
    let control = load_control(db)?;
    if control.paused {
        return Ok(Some(Gate::Paused { reason: control.pause_reason }));
    }
    if let Some(cap) = control.cap_in_force(ctx).micros
        && budget::exhausted(spent_today(db, now)?, cap)
    {
        return Ok(Some(Gate::Cap { until: budget::next_day(now) }));
    }
    Ok(match control.breaker.admit(now) {
        Admit::Open { until } => Some(Gate::Breaker { until: Some(until) }),
        Admit::Probing => Some(Gate::Breaker { until: None }),
        Admit::Closed | Admit::Probe => None,
    })
}

/// Marks `key` as the breaker's probe (under the lock [`admit`] took).
pub(crate) fn start_probe(db: Db<'_>, key: &str) -> Result<(), StoreError> {
    db.exec("UPDATE control SET breaker_probe = ?1 WHERE id = 1", ps![key])?;
    Ok(())
}

/// Breaker bookkeeping after an attempt of `key` succeeded.
pub(crate) fn succeeded(db: Db<'_>, ctx: &StoreCtx, key: &str) -> Result<(), StoreError> {
    let quiet = |s: &BreakerState| s.failures == 0 && s.open_until.is_none();
    let Some(mut state) = breaker_to_change(db, |s| !quiet(s))? else { return Ok(()) };
    let closed = matches!(state.on_success(key), Some(Transition::Closed));
    save(db, &state)?;
    if closed {
        ctx.notices.push(Notice::BreakerClosed { key: key.to_owned() });
    }
    Ok(())
}

/// Breaker bookkeeping after an attempt of `key` failed; owes the alert of a first opening.
pub(crate) fn failed(
    db: Db<'_>,
    ctx: &StoreCtx,
    key: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    count_failure(db, ctx, key, now, Trip::AfterThreshold)
}

/// An attempt of `key` failed in a way every job would (the upstream refused the credentials):
/// the breaker opens at once, whatever its count, and owes its alert naming `error`. (There is
/// one breaker today; a breaker per provider limit would open only the limit's own.)
pub(crate) fn open_now(
    db: Db<'_>,
    ctx: &StoreCtx,
    key: &str,
    error: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    count_failure(db, ctx, key, now, Trip::AtOnce { cause: "auth", error })
}

/// When a failure opens the breaker.
enum Trip<'a> {
    /// After `[breaker] failures` in a row.
    AfterThreshold,
    /// Now, for `cause`, the failure's `error` quoted in the alert.
    AtOnce { cause: &'static str, error: &'a str },
}

fn count_failure(
    db: Db<'_>,
    ctx: &StoreCtx,
    key: &str,
    now: Timestamp,
    trip: Trip<'_>,
) -> Result<(), StoreError> {
    let mut state = lock_control(db)?.breaker;
    let transition = match trip {
        Trip::AfterThreshold => state.on_failure(key, now, &ctx.breaker),
        Trip::AtOnce { .. } => state.trip(key, now, &ctx.breaker),
    };
    save(db, &state)?;
    if let Some(Transition::Opened { until, reopened }) = transition {
        let cooldown_ms = until.millis_since(now);
        let mut body = json!({ "failures": state.failures, "cooldown_ms": cooldown_ms, "until": until, "last_key": key });
        let reason = match (&trip, reopened) {
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
        let failures = state.failures;
        ctx.notices.push(Notice::BreakerOpened {
            key: key.to_owned(),
            reason,
            failures,
            cooldown_ms,
        });
    }
    Ok(())
}

/// Closes the breaker and forgets its count and cooldown (an operator replayed jobs). Writes
/// constants, so it needs no lock.
pub(crate) fn reset_breaker(db: Db<'_>) -> Result<(), StoreError> {
    save(db, &BreakerState::default())
}

/// Frees the probe slot when the probe job was released without an outcome.
pub(crate) fn released(db: Db<'_>, key: &str) -> Result<(), StoreError> {
    if let Some(mut state) = breaker_to_change(db, |s| s.probe.as_deref() == Some(key))? {
        state.on_release(key);
        save(db, &state)?;
    }
    Ok(())
}

/// The breaker's state, locked, when `changes` says an outcome changes it; `None` otherwise.
/// On PostgreSQL an unlocked read decides first: an outcome that changes nothing writes nothing,
/// so it cannot lose another runner's update, and the common case (a success while the breaker
/// is closed) does not queue every runner's transaction on the control row. SQLite's write
/// transaction holds the database's lock already, so it reads once.
fn breaker_to_change(
    db: Db<'_>,
    changes: impl Fn(&BreakerState) -> bool,
) -> Result<Option<BreakerState>, StoreError> {
    if db.is_pg() && !changes(&load_control(db)?.breaker) {
        return Ok(None);
    }
    let state = lock_control(db)?.breaker;
    Ok(changes(&state).then_some(state))
}

/// The daily cap that holds claims, and who set it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CapInForce {
    /// Micro-dollars; `None`: no cap.
    pub(crate) micros: Option<i64>,
    /// Where it was read (`DAILY_CAP_USD`, a config key), when known.
    pub(crate) set_by: Option<String>,
}

/// The `control` row.
pub(crate) struct Control {
    pub(crate) paused: bool,
    pub(crate) pause_reason: Option<String>,
    cap_alerted_day: Option<String>,
    breaker: BreakerState,
    /// The cap the last runner started with, once one has recorded it.
    recorded_cap: Option<CapInForce>,
}

impl Control {
    /// The cap a runner recorded at its start; before any runner did, this process's own.
    pub(crate) fn cap_in_force(&self, ctx: &StoreCtx) -> CapInForce {
        self.recorded_cap
            .clone()
            .unwrap_or(CapInForce { micros: ctx.daily_cap_micros, set_by: None })
    }

    /// Whether the breaker holds claims at `now` (open, or half-open with its probe running),
    /// whatever else holds them too.
    pub(crate) fn breaker_holds(&self, now: Timestamp) -> bool {
        matches!(self.breaker.admit(now), Admit::Open { .. } | Admit::Probing)
    }
}

/// The statement reading the `control` row, with `$tail` after it.
macro_rules! control_row {
    ($tail:literal) => {
        concat!(
            "SELECT paused, pause_reason, cap_alerted_day, breaker_failures, breaker_open_until,
                    breaker_cooldown_ms, breaker_probe, cap_micros, cap_set_by, cap_recorded_at
             FROM control WHERE id = 1",
            $tail
        )
    };
}

/// The `control` row as it stands, unlocked: for reads (status, pause state, drain) and for
/// decisions that write nothing.
pub(crate) fn load_control(db: Db<'_>) -> Result<Control, StoreError> {
    read_control(db, control_row!(""))
}

/// The `control` row for a write computed from it. On PostgreSQL it stays locked until the
/// transaction ends, so runners sharing the database take turns: none reads a breaker count or
/// a probe another is about to change and overwrites that change. (SQLite's `BEGIN IMMEDIATE`
/// already holds the database's one write lock.)
fn lock_control(db: Db<'_>) -> Result<Control, StoreError> {
    read_control(db, db.pick(control_row!(""), control_row!(" FOR UPDATE")))
}

fn read_control(db: Db<'_>, sql: &str) -> Result<Control, StoreError> {
    db.one(sql, ps![], |r| {
        let recorded: Option<i64> = r.get(9)?;
        let recorded_cap = match recorded {
            Some(_) => Some(CapInForce { micros: r.get(7)?, set_by: r.get(8)? }),
            None => None,
        };
        Ok(Control {
            recorded_cap,
            paused: r.get(0)?,
            pause_reason: r.get(1)?,
            cap_alerted_day: r.get(2)?,
            breaker: BreakerState {
                failures: r.get(3)?,
                open_until: r.get(4)?,
                cooldown_ms: r.get(5)?,
                probe: r.get(6)?,
            },
        })
    })
}

fn save(db: Db<'_>, s: &BreakerState) -> Result<(), StoreError> {
    db.exec(
        "UPDATE control SET breaker_failures = ?1, breaker_open_until = ?2,
                            breaker_cooldown_ms = ?3, breaker_probe = ?4
         WHERE id = 1",
        ps![s.failures, s.open_until, s.cooldown_ms, s.probe],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
