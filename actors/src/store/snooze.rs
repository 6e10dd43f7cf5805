//! A snooze: the handler said "not now" (exit 75, an upstream's `rate_limited` or `overloaded`),
//! so the job is pending again, due after the delay, with no attempt counted and nothing told to
//! the breaker (River's JobSnooze). `[retry] max_snoozes` bounds it: past that many snoozes a
//! snooze counts as a failed attempt, so a job cannot snooze forever. Fenced on the lease token,
//! as every settle is.

use std::time::Duration;

use super::db::{Db, ps};
use super::fail::{self, FailKind, Failed};
use super::ledger::{self, Charge};
use super::{StoreCtx, breaker, limits};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::policy::backoff::backoff;

/// What became of a snooze.
#[derive(Debug, Clone)]
pub(crate) enum Snoozed {
    /// Pending again, due at `at`: the job's `snoozes`-th snooze.
    Due { at: Timestamp, snoozes: u32, delay: Duration },
    /// Past `max_snoozes`: counted as a failed attempt (or the lease was no longer held).
    Counted(Failed),
}

/// Snoozes the attempt running under `(key, token)` for `delay` (`None`: the backoff of the
/// current attempt).
pub(crate) fn run(
    db: Db<'_>,
    ctx: &StoreCtx,
    key: &str,
    token: &str,
    delay: Option<Duration>,
    charge: &Charge,
    now: Timestamp,
) -> Result<Snoozed, StoreError> {
    let row: Option<(u32, u32)> = db.opt(
        db.pick(
            "SELECT attempts, snoozes FROM jobs
             WHERE key = ?1 AND lease_token = ?2 AND status = 'running'",
            // Locked until the transaction ends, as a failure's check is (see `fail::run`).
            "SELECT attempts, snoozes FROM jobs
             WHERE key = ?1 AND lease_token = ?2 AND status = 'running' FOR UPDATE",
        ),
        ps![key, token],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let Some((attempts, snoozes)) = row else { return Ok(Snoozed::Counted(Failed::LeaseLost)) };
    let max = ctx.retry.max_snoozes;
    if snoozes >= max {
        let error = format!(
            "snoozed {snoozes} times, the most [retry] max_snoozes = {max} allows: this snooze \
             counts as a failed attempt"
        );
        let kind = FailKind::Retryable { delay };
        return Ok(Snoozed::Counted(fail::fail_running(db, ctx, key, &error, kind, charge, now)?));
    }
    // The attempt is not counted, but what it spent is, under the attempt it ran as.
    ledger::record(db, key, attempts + 1, charge, now)?;
    // Neither a success nor a failure: a breaker probe that snoozed frees the probe's slot.
    breaker::released(db, key)?;
    let held = delay.and(limits::held(charge));
    let delay = delay.unwrap_or_else(|| backoff(ctx.retry.base, ctx.retry.cap, attempts));
    let at = now + delay;
    if let Some(limit) = held {
        // A 429 naming its limit: the provider's other jobs wait too.
        limits::hold(db, limit, at)?;
    }
    let snoozes = snoozes + 1;
    db.exec(
        "UPDATE jobs SET status = 'pending', snoozes = ?2, run_at = ?3, updated_at = ?4,
                         lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
         WHERE key = ?1",
        ps![key, snoozes, at, now],
    )?;
    Ok(Snoozed::Due { at, snoozes, delay })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::both::on_both;
    use crate::store::lease::tests::{at, claimed, job_row};

    #[test]
    fn a_snooze_is_fenced_on_the_lease_and_counts_no_attempt() {
        on_both(
            "snooze::fenced",
            |_| {},
            |db, ctx| {
                let token = claimed(db, ctx, &["a"], at(1_000)).remove(0);
                let delay = Some(Duration::from_secs(5));
                let charge = Charge::default();
                let stale = run(db, ctx, "a", "stale", delay, &charge, at(1_500)).unwrap();
                assert!(matches!(stale, Snoozed::Counted(Failed::LeaseLost)), "{stale:?}");
                assert_eq!(job_row(db, "a").0, "running", "a stale snooze changes nothing");

                let due = run(db, ctx, "a", &token, delay, &charge, at(2_000)).unwrap();
                assert!(matches!(due, Snoozed::Due { snoozes: 1, .. }), "{due:?}");
                let (status, attempts, run_at, lease) = job_row(db, "a");
                assert_eq!(
                    (status.as_str(), attempts, run_at, lease),
                    ("pending", 0, at(7_000), None)
                );
                let again = run(db, ctx, "a", &token, delay, &charge, at(2_500)).unwrap();
                assert!(matches!(again, Snoozed::Counted(Failed::LeaseLost)), "settled once");
            },
        );
    }
}
