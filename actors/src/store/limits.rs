//! Provider limits inside the claim's transaction: each `[[limit]]` this runner knows admits
//! as many more claims as its concurrency, its rate window, its hold (a 429's `retry_after_s`),
//! its own breaker and its daily cost cap leave. The shared state lives in the `limits` row,
//! locked FOR UPDATE on PostgreSQL so runners sharing the database count one at a time. A
//! breaker whose cooldown ended admits one job, its half-open probe, recorded as it is claimed
//! (the outcomes that close or re-open it are `breaker`'s).
//! Jobs that name no limit pay none of this: the claim takes its usual path when no limit is
//! configured, and skips only the limits that are full when some are.

use super::StoreCtx;
use super::breaker::Breaker;
use super::db::{Db, Row, ps};
use super::ledger::Charge;
use crate::clock::{Timestamp, utc_day};
use crate::error::StoreError;
use crate::limit::{LimitConfig, LimitStatus};
use crate::policy::breaker::{Admit, BreakerState};
use crate::policy::budget;

/// How many more claims a limit admits now.
#[derive(Debug, Clone)]
pub(crate) struct Room {
    pub(crate) name: String,
    /// `u32::MAX` when nothing bounds it.
    pub(crate) left: u32,
    /// When a limit that admits none lifts by itself (a hold, its rate window, its breaker's
    /// cooldown, the next UTC day); `None` while only a running job's end (or its breaker's
    /// probe's outcome) frees it.
    pub(crate) lifts_at: Option<Timestamp>,
    rate: bool,
    /// Its breaker is half-open: the job claimed next is its probe, and the only one.
    probe: bool,
}

/// Each configured limit's room, in name order, its row locked on PostgreSQL.
pub(crate) fn rooms(db: Db<'_>, ctx: &StoreCtx, now: Timestamp) -> Result<Vec<Room>, StoreError> {
    let mut limits: Vec<&LimitConfig> = ctx.limits.iter().collect();
    limits.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::with_capacity(limits.len());
    for limit in limits {
        let row = lock_row(db, &limit.name)?;
        let mut room = Room {
            name: limit.name.clone(),
            left: u32::MAX,
            lifts_at: None,
            rate: false,
            probe: false,
        };
        let held = row.held_until.filter(|t| *t > now);
        let breaker = row.breaker.admit(now);
        let open = match breaker {
            Admit::Open { until } => Some(until),
            _ => None,
        };
        if held.is_some() || open.is_some() || breaker == Admit::Probing {
            room.left = 0;
            room.lifts_at = held.max(open);
            out.push(room);
            continue;
        }
        room.probe = breaker == Admit::Probe;
        if let Some(cap) = limit.cost_micros_per_day
            && budget::exhausted(spent_today(db, &limit.name, now)?, cap)
        {
            room.left = 0;
            room.lifts_at = Some(budget::next_day(now));
            out.push(room);
            continue;
        }
        if let Some(conc) = limit.concurrency {
            let running = running(db, &limit.name)?;
            room.left = conc.saturating_sub(u32::try_from(running).unwrap_or(u32::MAX));
        }
        if let Some(rate) = limit.rate {
            room.rate = true;
            let start = now - rate.per;
            db.exec(
                "DELETE FROM limit_claims WHERE name = ?1 AND at <= ?2",
                ps![limit.name, start],
            )?;
            let (used, oldest): (i64, Option<Timestamp>) = db.one(
                "SELECT count(*), min(at) FROM limit_claims WHERE name = ?1",
                ps![limit.name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let left = rate.count.saturating_sub(u32::try_from(used).unwrap_or(u32::MAX));
            if left == 0 {
                room.lifts_at = oldest.map(|t| t + rate.per);
            }
            room.left = room.left.min(left);
        }
        if room.probe {
            room.left = room.left.min(1);
        }
        out.push(room);
    }
    Ok(out)
}

/// A claim of `key`, one of `room`'s jobs, at `now`: one less room, one more in its rate
/// window, and the breaker's probe when it is half-open (under the lock [`rooms`] took).
pub(crate) fn took(
    db: Db<'_>,
    room: &mut Room,
    key: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    room.left = room.left.saturating_sub(1);
    if room.rate {
        db.exec("INSERT INTO limit_claims (name, at) VALUES (?1, ?2)", ps![room.name, now])?;
    }
    if room.probe {
        room.probe = false;
        db.exec("UPDATE limits SET breaker_probe = ?2 WHERE name = ?1", ps![room.name, key])?;
    }
    Ok(())
}

/// Jobs of a full limit that lifts at a known time are due then, not now: the Retry scheduler
/// wakes for them, and claims meanwhile do not read them again. Answers how many it moved.
pub(crate) fn postpone(db: Db<'_>, name: &str, until: Timestamp) -> Result<u64, StoreError> {
    db.exec(
        "UPDATE jobs SET run_at = ?2 WHERE status = 'pending' AND limit_name = ?1 AND run_at < ?2",
        ps![name, until],
    )
}

/// Closes `name`'s breaker (an operator replayed its jobs: the cause is fixed) and makes due
/// now the jobs its opening postponed to the end of its cooldown.
pub(crate) fn close_breaker(db: Db<'_>, name: &str, now: Timestamp) -> Result<(), StoreError> {
    let open_until = load_row(db, name)?.breaker.open_until;
    Breaker::Limit(name).reset(db)?;
    if let Some(until) = open_until.filter(|t| *t > now) {
        db.exec(
            "UPDATE jobs SET run_at = ?3
             WHERE status = 'pending' AND limit_name = ?1 AND run_at = ?2",
            ps![name, until, now],
        )?;
    }
    Ok(())
}

/// A handler said the provider behind `name` refuses calls until `until` (a 429's
/// `retry_after_s` naming its limit): the whole limit is held, its pending jobs postponed.
pub(crate) fn hold(db: Db<'_>, name: &str, until: Timestamp) -> Result<(), StoreError> {
    lock_row(db, name)?;
    db.exec(
        "UPDATE limits SET held_until = ?2
         WHERE name = ?1 AND (held_until IS NULL OR held_until < ?2)",
        ps![name, until],
    )?;
    postpone(db, name, until)?;
    Ok(())
}

/// The limit a handler's `retry_after_s` named, to hold whole.
pub(crate) fn held(charge: &Charge) -> Option<&str> {
    charge.usage.as_ref().and_then(|u| u.limit.as_deref())
}

/// Each configured limit's state, without locks or writes.
pub(crate) fn statuses(
    db: Db<'_>,
    ctx: &StoreCtx,
    now: Timestamp,
) -> Result<Vec<LimitStatus>, StoreError> {
    let mut out = Vec::new();
    for limit in ctx.limits.iter() {
        let row = load_row(db, &limit.name)?;
        let rate_used: i64 = match limit.rate {
            Some(rate) => db.value(
                "SELECT count(*) FROM limit_claims WHERE name = ?1 AND at > ?2",
                ps![limit.name, now - rate.per],
            )?,
            None => 0,
        };
        let (breaker, open) = match row.breaker.admit(now) {
            Admit::Closed => ("closed", None),
            Admit::Open { until } => ("open", Some(until)),
            Admit::Probe | Admit::Probing => ("half_open", None),
        };
        out.push(LimitStatus {
            name: limit.name.clone(),
            running: running(db, &limit.name)? as u64,
            concurrency: limit.concurrency,
            rate_used: rate_used as u64,
            rate: limit.rate.map(|r| format!("{}/{}s", r.count, r.per.as_secs())),
            held_until: row.held_until.filter(|t| *t > now),
            breaker: breaker.to_owned(),
            breaker_open_until: open,
            breaker_probe: row.breaker.probe,
            spent_today_micros: spent_today(db, &limit.name, now)?,
        });
    }
    Ok(out)
}

fn running(db: Db<'_>, name: &str) -> Result<i64, StoreError> {
    db.value("SELECT count(*) FROM jobs WHERE limit_name = ?1 AND status = 'running'", ps![name])
}

fn spent_today(db: Db<'_>, name: &str, now: Timestamp) -> Result<i64, StoreError> {
    db.value(
        db.pick(
            "SELECT CAST(total(micros) AS INTEGER) FROM spend WHERE day = ?1 AND limit_name = ?2",
            "SELECT CAST(LEAST(coalesce(sum(micros), 0), 9223372036854775807) AS BIGINT)
             FROM spend WHERE day = ?1 AND limit_name = ?2",
        ),
        ps![utc_day(now), name],
    )
}

/// A limit's row: its hold and its breaker.
#[derive(Debug, Default)]
pub(crate) struct LimitRow {
    pub(crate) held_until: Option<Timestamp>,
    pub(crate) breaker: BreakerState,
}

/// The statement reading a limit's row, with `$tail` after it.
macro_rules! limit_row {
    ($tail:literal) => {
        concat!(
            "SELECT held_until, breaker_failures, breaker_open_until, breaker_cooldown_ms,
                    breaker_probe
             FROM limits WHERE name = ?1",
            $tail
        )
    };
}

fn read_row(r: &Row<'_>) -> Result<LimitRow, StoreError> {
    let breaker = BreakerState {
        failures: r.get(1)?,
        open_until: r.get(2)?,
        cooldown_ms: r.get(3)?,
        probe: r.get(4)?,
    };
    Ok(LimitRow { held_until: r.get(0)?, breaker })
}

/// The limit's row as it stands, unlocked (a limit never used has none: nothing held, its
/// breaker closed).
pub(crate) fn load_row(db: Db<'_>, name: &str) -> Result<LimitRow, StoreError> {
    Ok(db.opt(limit_row!(""), ps![name], read_row)?.unwrap_or_default())
}

/// The limit's row (created on first use), locked until the transaction ends on PostgreSQL.
pub(crate) fn lock_row(db: Db<'_>, name: &str) -> Result<LimitRow, StoreError> {
    let sql = db.pick(limit_row!(""), limit_row!(" FOR UPDATE"));
    if let Some(row) = db.opt(sql, ps![name], read_row)? {
        return Ok(row);
    }
    db.exec("INSERT INTO limits (name) VALUES (?1) ON CONFLICT (name) DO NOTHING", ps![name])?;
    db.one(sql, ps![name], read_row)
}

/// Writes the limit's breaker's state (its row locked by [`lock_row`]).
pub(crate) fn save_breaker(db: Db<'_>, name: &str, s: &BreakerState) -> Result<(), StoreError> {
    db.exec(
        "UPDATE limits SET breaker_failures = ?2, breaker_open_until = ?3,
                           breaker_cooldown_ms = ?4, breaker_probe = ?5
         WHERE name = ?1",
        ps![name, s.failures, s.open_until, s.cooldown_ms, s.probe],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
