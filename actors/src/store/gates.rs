//! The gates a claim passes, evaluated inside the claim's transaction so a gate change cannot
//! race it: the kill switch, the daily cap and the circuit breaker, and the alert the cap owes.
//! The breaker's bookkeeping after each outcome is `breaker`'s.

use serde::Serialize;
use serde_json::json;

use super::db::{Db, ps};
use super::notices::Notice;
use super::{StoreCtx, alerts};
use crate::alerts::AlertKind;
use crate::clock::{Timestamp, utc_day};
use crate::error::StoreError;
use crate::policy::breaker::{Admit, BreakerState};
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
    pub(super) breaker: BreakerState,
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
pub(super) fn lock_control(db: Db<'_>) -> Result<Control, StoreError> {
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

/// Writes the global breaker's state.
pub(super) fn save(db: Db<'_>, s: &BreakerState) -> Result<(), StoreError> {
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
