//! Claim: the next due pending job, by priority (higher first), then `run_at`, then insertion
//! order, becomes `running` under a fresh lease. The gates are read inside the same transaction,
//! so a pause committed by another process cannot race a claim.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreCtx;
use super::gates::{self, Admission};
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
    /// The worker incarnation that will hold the lease.
    pub(crate) owner: String,
    pub(crate) lease: Duration,
    /// The handler timeout for jobs that set none.
    pub(crate) timeout: Duration,
}

/// The answer to a claim.
#[derive(Debug, Clone)]
pub(crate) enum Claim {
    /// Run this.
    Job(Claimed),
    /// Nothing due.
    Idle,
    /// A gate holds every claim.
    Gated,
}

pub(crate) fn run(
    conn: &Connection,
    ctx: &StoreCtx,
    args: &ClaimArgs,
    now: Timestamp,
) -> Result<Claim, StoreError> {
    let ClaimArgs { owner, lease, timeout: default_timeout } = args;
    let probe = match gates::admit(conn, ctx, now)? {
        Admission::Gated => return Ok(Claim::Gated),
        Admission::Go { probe } => probe,
    };
    let due = conn
        .prepare_cached(
            // INDEXED BY: left to itself the planner range-scans jobs_next_due and sorts every
            // due row per claim; the claim index yields them already in claim order.
            "SELECT key, queue, payload, attempts, max_attempts, timeout_ms
             FROM jobs INDEXED BY jobs_claim
             WHERE status = 'pending' AND run_at <= ?1
             ORDER BY priority DESC, run_at, rowid LIMIT 1",
        )?
        .query_row([now], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, u32>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })
        .optional()?;
    let Some((key, queue, payload, attempts, max_attempts, timeout_ms)) = due else {
        return Ok(Claim::Idle);
    };
    let token = new_token();
    conn.prepare_cached(
        "UPDATE jobs SET status = 'running', lease_token = ?2, lease_owner = ?3,
                         lease_expires_at = ?4, updated_at = ?5
         WHERE key = ?1",
    )?
    .execute(params![key, token, owner, now + lease.as_millis() as i64, now])?;
    if probe {
        gates::start_probe(conn, &key)?;
    }
    let timeout = timeout_ms.map(|ms| Duration::from_millis(ms as u64)).unwrap_or(*default_timeout);
    Ok(Claim::Job(Claimed {
        job: Job { key, queue, payload, attempt: attempts + 1, max_attempts, timeout },
        token,
    }))
}

/// The earliest `run_at` among pending jobs.
pub(crate) fn next_due(conn: &Connection) -> Result<Option<Timestamp>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT min(run_at) FROM jobs WHERE status = 'pending'")?
        .query_row([], |r| r.get(0))?)
}

/// A lease token: 128 random bits, so a stale worker can never guess a newer lease.
fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}
