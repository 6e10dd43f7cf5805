//! Provider limits inside the claim's transaction: each `[[limit]]` this runner knows admits
//! as many more claims as its concurrency, its rate window, its hold (a 429's `retry_after_s`),
//! its own breaker and its daily cost cap leave. The shared state lives in the `limits` row,
//! locked FOR UPDATE on PostgreSQL so runners sharing the database count one at a time.
//! Jobs that name no limit pay none of this: the claim takes its usual path when no limit is
//! configured, and skips only the limits that are full when some are.

use serde_json::json;

use super::db::{Db, ps};
use super::ledger::Charge;
use super::{StoreCtx, alerts};
use crate::alerts::AlertKind;
use crate::clock::{Timestamp, utc_day};
use crate::error::StoreError;
use crate::limit::{LimitConfig, LimitStatus};
use crate::policy::budget;

/// How many more claims a limit admits now.
#[derive(Debug, Clone)]
pub(crate) struct Room {
    pub(crate) name: String,
    /// `u32::MAX` when nothing bounds it.
    pub(crate) left: u32,
    /// When a limit that admits none lifts by itself (a hold, its rate window, its breaker's
    /// cooldown, the next UTC day); `None` while only a running job's end frees it.
    pub(crate) lifts_at: Option<Timestamp>,
    rate: bool,
}

/// Each configured limit's room, in name order, its row locked on PostgreSQL.
pub(crate) fn rooms(db: Db<'_>, ctx: &StoreCtx, now: Timestamp) -> Result<Vec<Room>, StoreError> {
    let mut limits: Vec<&LimitConfig> = ctx.limits.iter().collect();
    limits.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::with_capacity(limits.len());
    for limit in limits {
        let (held, open) = lock_row(db, &limit.name)?;
        let mut room =
            Room { name: limit.name.clone(), left: u32::MAX, lifts_at: None, rate: false };
        let blocked_until = [held, open].into_iter().flatten().filter(|t| *t > now).max();
        if let Some(until) = blocked_until {
            room.left = 0;
            room.lifts_at = Some(until);
            out.push(room);
            continue;
        }
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
        out.push(room);
    }
    Ok(out)
}

/// A claim of one of `room`'s jobs at `now`: one less room, and one more in its rate window.
pub(crate) fn took(db: Db<'_>, room: &mut Room, now: Timestamp) -> Result<(), StoreError> {
    room.left = room.left.saturating_sub(1);
    if room.rate {
        db.exec("INSERT INTO limit_claims (name, at) VALUES (?1, ?2)", ps![room.name, now])?;
    }
    Ok(())
}

/// Jobs of a full limit that lifts at a known time are due then, not now: the Retry scheduler
/// wakes for them, and claims meanwhile do not read them again.
pub(crate) fn postpone(db: Db<'_>, name: &str, until: Timestamp) -> Result<(), StoreError> {
    db.exec(
        "UPDATE jobs SET run_at = ?2 WHERE status = 'pending' AND limit_name = ?1 AND run_at < ?2",
        ps![name, until],
    )?;
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
    postpone(db, name, until)
}

/// The limit a handler's `retry_after_s` named, to hold whole.
pub(crate) fn held(charge: &Charge) -> Option<&str> {
    charge.usage.as_ref().and_then(|u| u.limit.as_deref())
}

/// The limit `key` counts against, if it is one this runner knows and has a breaker.
pub(crate) fn breaker_of<'a>(
    db: Db<'_>,
    ctx: &'a StoreCtx,
    key: &str,
) -> Result<Option<&'a LimitConfig>, StoreError> {
    if !ctx.limits.iter().any(|l| l.breaker) {
        return Ok(None);
    }
    let name: Option<Option<String>> =
        db.opt("SELECT limit_name FROM jobs WHERE key = ?1", ps![key], |r| r.get(0))?;
    let Some(name) = name.flatten() else { return Ok(None) };
    Ok(ctx.limits.iter().find(|l| l.breaker && l.name == name))
}

/// Counts a failure toward `limit`'s breaker (or opens it `at_once`); `Some(until)` when this
/// failure opened it.
pub(crate) fn breaker_failed(
    db: Db<'_>,
    ctx: &StoreCtx,
    limit: &LimitConfig,
    key: &str,
    error: &str,
    now: Timestamp,
    at_once: bool,
) -> Result<Option<Timestamp>, StoreError> {
    let (_, open) = lock_row(db, &limit.name)?;
    if open.is_some_and(|t| t > now) {
        return Ok(None);
    }
    let failures: u32 = db.value(
        "UPDATE limits SET breaker_failures = breaker_failures + 1 WHERE name = ?1
         RETURNING breaker_failures",
        ps![limit.name],
    )?;
    if !at_once && failures < ctx.breaker.failures {
        return Ok(None);
    }
    let until = now + ctx.breaker.cooldown;
    db.exec(
        "UPDATE limits SET breaker_open_until = ?2, breaker_failures = 0 WHERE name = ?1",
        ps![limit.name, until],
    )?;
    postpone(db, &limit.name, until)?;
    let cause = if at_once { "auth" } else { "consecutive failures" };
    let body = json!({
        "limit": limit.name, "cause": cause, "until": until, "last_key": key,
        "cooldown_ms": until.millis_since(now),
        "error": error.chars().take(512).collect::<String>(),
    });
    alerts::owe(db, AlertKind::BreakerOpened, None, &body, now, now)?;
    Ok(Some(until))
}

/// A success of one of `limit`'s jobs resets its breaker's count.
pub(crate) fn breaker_succeeded(db: Db<'_>, limit: &LimitConfig) -> Result<(), StoreError> {
    db.exec(
        "UPDATE limits SET breaker_failures = 0 WHERE name = ?1 AND breaker_failures <> 0",
        ps![limit.name],
    )?;
    Ok(())
}

/// Each configured limit's state, without locks or writes.
pub(crate) fn statuses(
    db: Db<'_>,
    ctx: &StoreCtx,
    now: Timestamp,
) -> Result<Vec<LimitStatus>, StoreError> {
    let mut out = Vec::new();
    for limit in ctx.limits.iter() {
        let row: Option<(Option<Timestamp>, Option<Timestamp>)> = db.opt(
            "SELECT held_until, breaker_open_until FROM limits WHERE name = ?1",
            ps![limit.name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (held, open) = row.unwrap_or_default();
        let rate_used: i64 = match limit.rate {
            Some(rate) => db.value(
                "SELECT count(*) FROM limit_claims WHERE name = ?1 AND at > ?2",
                ps![limit.name, now - rate.per],
            )?,
            None => 0,
        };
        let open = open.filter(|t| *t > now);
        out.push(LimitStatus {
            name: limit.name.clone(),
            running: running(db, &limit.name)? as u64,
            concurrency: limit.concurrency,
            rate_used: rate_used as u64,
            rate: limit.rate.map(|r| format!("{}/{}s", r.count, r.per.as_secs())),
            held_until: held.filter(|t| *t > now),
            breaker: if open.is_some() { "open" } else { "closed" }.to_owned(),
            breaker_open_until: open,
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

/// The limit's row (created on first use), locked until the transaction ends on PostgreSQL:
/// its hold and its breaker's cooldown.
fn lock_row(db: Db<'_>, name: &str) -> Result<(Option<Timestamp>, Option<Timestamp>), StoreError> {
    let sql = db.pick(
        "SELECT held_until, breaker_open_until FROM limits WHERE name = ?1",
        "SELECT held_until, breaker_open_until FROM limits WHERE name = ?1 FOR UPDATE",
    );
    let read = |r: &super::db::Row<'_>| Ok((r.get(0)?, r.get(1)?));
    if let Some(row) = db.opt(sql, ps![name], read)? {
        return Ok(row);
    }
    db.exec("INSERT INTO limits (name) VALUES (?1) ON CONFLICT (name) DO NOTHING", ps![name])?;
    db.one(sql, ps![name], read)
}
