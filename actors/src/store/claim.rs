//! Claim: the next due pending jobs, by priority (higher first), then `run_at`, then insertion
//! order, becomes `running` under a fresh lease. The gates are read inside the same transaction,
//! so a pause committed by another process cannot race a claim.

use std::time::Duration;

use super::StoreCtx;
use super::db::{Db, ps};
use super::gates::{self, Admission};
use super::limits;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::Job;

/// A job claimed by a worker: the handler's view plus the lease that fences its outcome.
#[derive(Debug, Clone)]
pub(crate) struct Claimed {
    pub(crate) job: Job,
    pub(crate) token: String,
}

/// Who claims, and for how long.
#[derive(Debug, Clone)]
pub(crate) struct ClaimArgs {
    /// The lease owner written on the row: the runner instance (for people reading `jobs`).
    pub(crate) owner: String,
    pub(crate) lease: Duration,
    /// The handler timeout for jobs that set none.
    pub(crate) timeout: Duration,
}

/// The answer to a claim.
#[derive(Debug, Clone)]
pub(crate) enum Claim {
    /// Run these (as many as asked for, or fewer when fewer are due; none when none is).
    /// `postponed_to`: the earliest time a full `[[limit]]` lifts by itself (a hold, its rate
    /// window, its breaker's cooldown), when this claim postponed jobs of it to then: the Retry
    /// scheduler's timer must wake for them, or they would wait for the next rescan.
    Jobs { jobs: Vec<Claimed>, postponed_to: Option<Timestamp> },
    /// A gate holds every claim, until `until` when it lifts by itself.
    Gated { until: Option<Timestamp> },
}

/// Claims up to `want` due jobs, in claim order, each under a fresh lease. The gates are read
/// once for the batch; a breaker letting its half-open probe through lets one job through.
/// With `want` 0 only the gates are read: `Gated` tells a caller holding jobs claimed ahead to
/// give them back.
pub(crate) fn run(
    db: Db<'_>,
    ctx: &StoreCtx,
    args: &ClaimArgs,
    want: usize,
    now: Timestamp,
) -> Result<Claim, StoreError> {
    if want == 0 {
        // Nothing to take, but the caller holds jobs claimed ahead: is a gate closed now?
        return Ok(match gates::current(db, ctx, now)? {
            Some(gate) => Claim::Gated { until: gate.until() },
            None => Claim::Jobs { jobs: Vec::new(), postponed_to: None },
        });
    }
    let probe = match gates::admit(db, ctx, now)? {
        Admission::Gated { until } => return Ok(Claim::Gated { until }),
        Admission::Go { probe } => probe,
    };
    let limit = if probe { 1 } else { want };
    if !ctx.limits.is_empty() {
        return limited(db, ctx, args, limit, probe, now);
    }
    let rows = db.query(
        db.pick(
            // INDEXED BY: left to itself the planner range-scans jobs_next_due and sorts every
            // due row per claim; the claim index yields them already in claim order.
            "SELECT key, queue, payload, attempts, max_attempts, timeout_ms
             FROM jobs INDEXED BY jobs_claim
             WHERE status = 'pending' AND run_at <= ?1
             ORDER BY priority DESC, run_at, rowid LIMIT ?2",
            // Another runner's claim holds its rows locked until it commits: skip them rather
            // than wait, so runners sharing the queue never take the same job or block.
            "SELECT key, queue, payload, attempts, max_attempts, timeout_ms
             FROM jobs
             WHERE status = 'pending' AND run_at <= ?1
             ORDER BY priority DESC, run_at, seq LIMIT ?2
             FOR UPDATE SKIP LOCKED",
        ),
        ps![now, limit],
        |r| {
            let row: DueRow = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
            Ok(row)
        },
    )?;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in rows {
        jobs.push(take(db, args, row, probe, now)?);
    }
    Ok(Claim::Jobs { jobs, postponed_to: None })
}

/// A due row as the claim reads it.
type DueRow = (String, String, String, u32, u32, Option<i64>);

/// Makes `row` running under a fresh lease.
fn take(
    db: Db<'_>,
    args: &ClaimArgs,
    row: DueRow,
    probe: bool,
    now: Timestamp,
) -> Result<Claimed, StoreError> {
    let ClaimArgs { owner, lease, timeout: default_timeout } = args;
    let (key, queue, payload, attempts, max_attempts, timeout_ms) = row;
    let token = new_token();
    db.exec(
        "UPDATE jobs SET status = 'running', lease_token = ?2, lease_owner = ?3,
                         lease_expires_at = ?4, updated_at = ?5, started_at = ?5
         WHERE key = ?1",
        ps![key, token, owner, now + *lease, now],
    )?;
    if probe {
        gates::start_probe(db, &key)?;
    }
    let timeout = timeout_ms.map(crate::clock::duration).unwrap_or(*default_timeout);
    let attempt = attempts + 1;
    let steps = Default::default();
    let job = Job { key, queue, payload, attempt, max_attempts, timeout, steps };
    Ok(Claimed { job, token })
}

/// The claim when `[[limit]]`s are configured: due jobs in claim order, skipping those whose
/// limit admits no more (and reading again without them, so a full limit cannot starve the
/// jobs behind it). Jobs of a full limit that lifts by itself are postponed to then.
fn limited(
    db: Db<'_>,
    ctx: &StoreCtx,
    args: &ClaimArgs,
    want: usize,
    probe: bool,
    now: Timestamp,
) -> Result<Claim, StoreError> {
    let mut rooms = limits::rooms(db, ctx, now)?;
    let mut postponed_to: Option<Timestamp> = None;
    for room in rooms.iter().filter(|r| r.left == 0) {
        if let Some(until) = room.lifts_at
            && limits::postpone(db, &room.name, until)? > 0
        {
            postponed_to = Some(postponed_to.map_or(until, |t| t.min(until)));
        }
    }
    let mut claimed = Vec::new();
    for _ in 0..=rooms.len() {
        // Limit names are checked on enqueue and in the config (letters, digits, `-_.`), so
        // they can stand in the statement as literals.
        let full: Vec<String> =
            rooms.iter().filter(|r| r.left == 0).map(|r| format!("'{}'", r.name)).collect();
        let skip = if full.is_empty() {
            String::new()
        } else {
            format!(" AND (limit_name IS NULL OR limit_name NOT IN ({}))", full.join(", "))
        };
        let sql = db.pick(
            "SELECT key, queue, payload, attempts, max_attempts, timeout_ms, limit_name
             FROM jobs INDEXED BY jobs_claim WHERE status = 'pending' AND run_at <= ?1",
            "SELECT key, queue, payload, attempts, max_attempts, timeout_ms, limit_name
             FROM jobs WHERE status = 'pending' AND run_at <= ?1",
        );
        let order = db.pick(
            " ORDER BY priority DESC, run_at, rowid LIMIT ?2",
            " ORDER BY priority DESC, run_at, seq LIMIT ?2 FOR UPDATE SKIP LOCKED",
        );
        let rows =
            db.query(&format!("{sql}{skip}{order}"), ps![now, want - claimed.len()], |r| {
                let row: (DueRow, Option<String>) =
                    ((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?), r.get(6)?);
                Ok(row)
            })?;
        let read = rows.len();
        let mut skipped = false;
        for (row, limit) in rows {
            let room = limit.and_then(|l| rooms.iter_mut().find(|r| r.name == l));
            if let Some(room) = room {
                if room.left == 0 {
                    skipped = true;
                    continue;
                }
                limits::took(db, room, &row.0, now)?;
            }
            claimed.push(take(db, args, row, probe, now)?);
        }
        if !skipped || claimed.len() >= want || read == 0 {
            break;
        }
    }
    Ok(Claim::Jobs { jobs: claimed, postponed_to })
}

/// The earliest `run_at` among pending jobs.
pub(crate) fn next_due(db: Db<'_>) -> Result<Option<Timestamp>, StoreError> {
    db.value("SELECT min(run_at) FROM jobs WHERE status = 'pending'", ps![])
}

/// A lease token: 128 random bits, so a stale worker can never guess a newer lease.
fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}
