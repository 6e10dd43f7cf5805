//! Lease-fenced writes and failed attempts, on both stores: only the lease's holder settles an
//! attempt, and a failure retries, then dead-letters with every attempt's error.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::{AttemptError, DeadReason, NewJob};
use crate::store::both::on_both;
use crate::store::claim::{self, Claim, ClaimArgs};
use crate::store::db::{Db, ps};
use crate::store::fail::{self, FailKind, Failed, Recovery};
use crate::store::lease::{complete, heartbeat, release};
use crate::store::op::{self, EnqueueArgs};
use crate::store::{Charge, StoreCtx};

/// Runs `test` on SQLite only, for a path that owes an alert or reads a dead letter: `alerts`
/// and `dead` are not on PostgreSQL in this change (they convert apart; then this is `on_both`).
pub(crate) fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// Enqueues `keys`, then claims every job due at `now` for worker `w1` (lease 30 s); the lease
/// tokens, in key order.
pub(crate) fn claimed(db: Db<'_>, ctx: &StoreCtx, keys: &[&str], now: Timestamp) -> Vec<String> {
    for key in keys {
        op::run(db, ctx, EnqueueArgs { job: NewJob::new(*key, "{}"), now }).unwrap();
    }
    let args = ClaimArgs {
        owner: "w1".to_owned(),
        lease: Duration::from_secs(30),
        timeout: Duration::from_secs(5),
    };
    let Claim::Jobs { mut jobs, .. } = claim::run(db, ctx, &args, 16, now).unwrap() else {
        panic!("claims gated")
    };
    jobs.sort_by(|a, b| a.job.key.cmp(&b.job.key));
    jobs.into_iter().map(|c| c.token).collect()
}

/// `status`, `attempts`, `run_at` and `lease_expires_at` of a job.
pub(crate) fn job_row(db: Db<'_>, key: &str) -> (String, u32, Timestamp, Option<Timestamp>) {
    db.one(
        "SELECT status, attempts, run_at, lease_expires_at FROM jobs WHERE key = ?1",
        ps![key],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .unwrap()
}

fn spend(db: Db<'_>) -> Vec<(String, u32, i64)> {
    db.query("SELECT key, attempt, micros FROM spend ORDER BY id", ps![], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
    .unwrap()
}

#[test]
fn complete_and_release_are_fenced_by_the_lease_token() {
    on_both(
        "lease::complete_and_release_are_fenced",
        |_| {},
        |db, ctx| {
            let tokens = claimed(db, ctx, &["a", "b"], at(1_000));
            let (a, b) = (&tokens[0], &tokens[1]);
            assert!(
                !complete(db, ctx, "a", b, Some("r"), &Charge::micros(7), at(2_000)).unwrap(),
                "other token"
            );
            assert!(complete(db, ctx, "a", a, Some("r"), &Charge::micros(7), at(2_000)).unwrap());
            assert!(
                !complete(db, ctx, "a", a, Some("r"), &Charge::micros(7), at(2_500)).unwrap(),
                "settled"
            );
            let result: (String, Option<String>, Option<Timestamp>) = db
                .one("SELECT status, result, lease_token FROM jobs WHERE key = 'a'", ps![], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .unwrap();
            assert_eq!(result, ("done".to_owned(), Some("r".to_owned()), None));
            assert_eq!(spend(db), [("a".to_owned(), 1, 7)], "spent once, under attempt 1");
            // The finishing attempt's start, end and cost, for the job page.
            let job = crate::store::read::job(db, "a").unwrap().unwrap();
            let kept = (job.started_at, job.finished_at, job.cost_micros);
            assert_eq!(kept, (Some(at(1_000)), Some(at(2_000)), Some(7)));

            assert!(!release(db, "b", a, at(3_000)).unwrap(), "other token");
            assert!(release(db, "b", b, at(3_000)).unwrap());
            assert_eq!(job_row(db, "b"), ("pending".to_owned(), 0, at(3_000), None));
            assert!(!release(db, "b", b, at(3_500)).unwrap(), "released already");
        },
    );
}

#[test]
fn a_heartbeat_extends_only_the_leases_still_held() {
    on_both(
        "lease::heartbeat_extends_held_leases",
        |_| {},
        |db, ctx| {
            let token = claimed(db, ctx, &["a"], at(1_000)).remove(0);
            let leases = [
                ("a".to_owned(), token.clone()),
                ("a".to_owned(), "stale".to_owned()),
                ("gone".to_owned(), token),
            ];
            let held = heartbeat(db, &leases, Duration::from_secs(60), at(5_000)).unwrap();
            assert_eq!(held, [true, false, false]);
            assert_eq!(job_row(db, "a").3, Some(at(65_000)));
        },
    );
}

#[test]
fn a_failure_retries_then_dead_letters_with_every_error() {
    on_both(
        "lease::a_failure_retries_then_dead_letters",
        |c| {
            c.retry.max_attempts = 2;
            c.breaker.failures = 0;
        },
        |db, ctx| {
            let token = claimed(db, ctx, &["a"], at(1_000)).remove(0);
            let lost = fail::run(
                db,
                ctx,
                "a",
                "stale",
                "x",
                FailKind::Permanent,
                &Charge::default(),
                at(1_500),
            );
            assert!(matches!(lost.unwrap(), Failed::LeaseLost));
            let delay = Some(Duration::from_secs(9));
            let kind = FailKind::Retryable { delay };
            let failed =
                fail::run(db, ctx, "a", &token, "first", kind, &Charge::micros(3), at(2_000))
                    .unwrap();
            let Failed::Retry { at: due, attempts, .. } = failed else { panic!("{failed:?}") };
            assert_eq!((due, attempts), (at(11_000), 1));
            assert_eq!(job_row(db, "a"), ("pending".to_owned(), 1, at(11_000), None));

            assert!(claimed(db, ctx, &[], at(10_999)).is_empty(), "not due yet");
            let token = claimed(db, ctx, &[], at(11_000)).remove(0);
            let failed =
                fail::run(db, ctx, "a", &token, "second", kind, &Charge::micros(4), at(12_000))
                    .unwrap();
            let Failed::Dead { job, .. } = failed else { panic!("{failed:?}") };
            assert_eq!(
                (job.reason, job.attempts, job.error.as_str()),
                (DeadReason::Exhausted, 2, "second")
            );
            // Each entry keeps when its attempt was claimed and what it cost.
            let entry = |attempt, error: &str, started, ended, cost| AttemptError {
                attempt,
                error: error.to_owned(),
                at: at(ended),
                started_at: Some(at(started)),
                cost_micros: Some(cost),
            };
            let errors =
                [entry(1, "first", 1_000, 2_000, 3), entry(2, "second", 11_000, 12_000, 4)];
            assert_eq!(job.errors, errors);
            let stored: String =
                db.value("SELECT errors FROM dead_letter WHERE key = 'a'", ps![]).unwrap();
            assert_eq!(serde_json::from_str::<Vec<AttemptError>>(&stored).unwrap(), errors);
            assert!(!db.exists("SELECT 1 FROM jobs WHERE key = 'a'", ps![]).unwrap());
            let owed: i64 = db
                .value(
                    "SELECT count(*) FROM alerts WHERE kind = 'dead_letter' AND key = 'a'",
                    ps![],
                )
                .unwrap();
            assert_eq!(owed, 1, "its alert owed in the same transaction");
            let spent: Vec<u32> = spend(db).into_iter().map(|(_, attempt, _)| attempt).collect();
            assert_eq!(spent, [1, 2]);
        },
    );
}

#[test]
fn recovery_counts_an_interrupted_attempt_for_expired_leases_only() {
    on_both(
        "fail::recovery_of_expired_leases",
        |_| {},
        |db, ctx| {
            claimed(db, ctx, &["a"], at(1_000));
            let owner_of = |key: &str| -> Result<Option<String>, StoreError> {
                db.value("SELECT lease_owner FROM jobs WHERE key = ?1", ps![key])
            };
            assert_eq!(owner_of("a").unwrap().as_deref(), Some("w1"));
            let none = fail::recover(db, ctx, Recovery::ExpiredLeases, at(31_000)).unwrap();
            assert!(none.is_empty(), "the lease runs to 31 000 ms");
            let swept = fail::recover(db, ctx, Recovery::ExpiredLeases, at(31_001)).unwrap();
            assert_eq!(swept.len(), 1);
            assert!(matches!(swept[0].1, Failed::Retry { attempts: 1, .. }), "{swept:?}");
            assert_eq!(job_row(db, "a"), ("pending".to_owned(), 1, at(31_001), None));
            assert_eq!(owner_of("a").unwrap(), None);

            claimed(db, ctx, &["b"], at(40_000));
            let crashed = fail::fail_owner(db, ctx, "w1", "worker crashed", at(41_000)).unwrap();
            let keys: Vec<&str> = crashed.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["a", "b"], "both claimed by w1 at 40 000 ms");
        },
    );
}
