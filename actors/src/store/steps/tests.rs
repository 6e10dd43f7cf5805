//! Steps on both stores: fenced on the lease, recorded once, charged once, deleted with their
//! job, kept by a replay unless it is fresh.

use std::time::Duration;

use super::{StepRead, StepWrite, get, list, put};
use crate::job::{Selector, Usage};
use crate::store::Charge;
use crate::store::both::on_both;
use crate::store::db::{Db, ps};
use crate::store::lease::tests::{at, claimed, job_row};
use crate::store::op::{self, PurgeDeadArgs, PurgeJobsArgs, ReplayArgs, ReplaySteps};

const LEASE: Duration = Duration::from_secs(30);

fn spend(db: Db<'_>) -> Vec<(String, u32, i64)> {
    db.query("SELECT key, attempt, micros FROM spend ORDER BY id", ps![], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
    .unwrap()
}

fn steps_of(db: Db<'_>, key: &str) -> Vec<String> {
    list(db, key).unwrap().into_iter().map(|s| s.name).collect()
}

/// Buries `key` straight into the dead letter, as an exhausted job.
fn bury(db: Db<'_>, key: &str) {
    db.exec("DELETE FROM jobs WHERE key = ?1", ps![key]).unwrap();
    db.exec(
        "INSERT INTO dead_letter (key, queue, payload, error, attempts, max_attempts, died,
                                  reason, errors)
         VALUES (?1, 'default', '{}', 'boom', 3, 3, 1, 'exhausted', '[]')",
        ps![key],
    )
    .unwrap();
}

#[test]
fn a_step_is_recorded_once_charged_once_and_read_back() {
    on_both(
        "steps::recorded_once",
        |_| {},
        |db, ctx| {
            let token = claimed(db, ctx, &["k"], at(1_000)).remove(0);
            assert_eq!(get(db, "k", &token, "fetch", LEASE, at(2_000)).unwrap(), StepRead::Missing);
            let used = Charge { micros: 250_000, usage: Some(Usage::model("small").tokens(40, 9)) };
            let first = put(db, "k", &token, "fetch", "page", &used, LEASE, at(3_000)).unwrap();
            assert_eq!(first, StepWrite::Recorded);
            let again =
                put(db, "k", &token, "fetch", "other", &Charge::micros(250_000), LEASE, at(4_000))
                    .unwrap();
            assert_eq!(again, StepWrite::Kept("page".to_owned()), "the first output stays");
            let read = get(db, "k", &token, "fetch", LEASE, at(5_000)).unwrap();
            assert_eq!(read, StepRead::Recorded("page".to_owned()));
            assert_eq!(spend(db), [("k".to_owned(), 1, 250_000)], "charged once, to attempt 1");
            let usage: (String, i64, i64) = db
                .one("SELECT model, tokens_in, tokens_out FROM spend", ps![], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .unwrap();
            assert_eq!(usage, ("small".to_owned(), 40, 9), "with the model and tokens it used");
            assert_eq!(
                job_row(db, "k").3,
                Some(at(5_000) + LEASE),
                "every request extends the lease"
            );
            let _ = ctx;
        },
    );
}

#[test]
fn a_stale_lease_is_refused_and_records_nothing() {
    on_both(
        "steps::stale_lease",
        |_| {},
        |db, ctx| {
            claimed(db, ctx, &["k"], at(1_000));
            let stale = put(
                db,
                "k",
                "an-old-token",
                "fetch",
                "x",
                &Charge::micros(1_000),
                LEASE,
                at(2_000),
            )
            .unwrap();
            assert_eq!(stale, StepWrite::LeaseLost);
            assert_eq!(
                get(db, "k", "an-old-token", "fetch", LEASE, at(2_000)).unwrap(),
                StepRead::LeaseLost
            );
            assert!(steps_of(db, "k").is_empty());
            assert!(spend(db).is_empty(), "nothing charged");
        },
    );
}

#[test]
fn steps_go_with_their_job_and_a_fresh_replay_only() {
    on_both(
        "steps::deleted_with_job",
        |_| {},
        |db, ctx| {
            let tokens = claimed(db, ctx, &["dead", "gone", "purged"], at(1_000));
            for (key, token) in ["dead", "gone", "purged"].iter().zip(&tokens) {
                put(db, key, token, "a", "1", &Charge::micros(0), LEASE, at(2_000)).unwrap();
            }
            // `purged` is purged from jobs; `dead` and `gone` are buried.
            db.exec(
                "UPDATE jobs SET status = 'done', lease_token = NULL WHERE key = 'purged'",
                ps![],
            )
            .unwrap();
            op::run(db, ctx, PurgeJobsArgs { keys: vec!["purged".to_owned()] }).unwrap();
            bury(db, "dead");
            bury(db, "gone");
            assert!(steps_of(db, "purged").is_empty(), "jobs purge deletes the steps");
            let keep =
                ReplayArgs { which: keys(&["dead"]), now: at(3_000), steps: ReplaySteps::Keep };
            op::run(db, ctx, keep).unwrap();
            assert_eq!(steps_of(db, "dead"), ["a"], "a replay keeps them");
            bury(db, "dead");
            let fresh =
                ReplayArgs { which: keys(&["dead"]), now: at(4_000), steps: ReplaySteps::Forget };
            op::run(db, ctx, fresh).unwrap();
            assert!(steps_of(db, "dead").is_empty(), "a fresh replay deletes them");
            op::run(db, ctx, PurgeDeadArgs { which: keys(&["gone"]) }).unwrap();
            assert!(steps_of(db, "gone").is_empty(), "dlq purge deletes them");
        },
    );
}

fn keys(keys: &[&str]) -> Selector {
    Selector::Keys(keys.iter().map(|k| k.to_string()).collect())
}

#[test]
fn retention_deletes_the_steps_of_the_jobs_it_prunes() {
    use crate::store::retention::{PruneArgs, PruneKind, run};
    on_both(
        "steps::pruned",
        |_| {},
        |db, ctx| {
            let tokens = claimed(db, ctx, &["old", "dead"], at(1_000));
            for (key, token) in ["old", "dead"].iter().zip(&tokens) {
                put(db, key, token, "a", "1", &Charge::micros(0), LEASE, at(2_000)).unwrap();
            }
            db.exec(
                "UPDATE jobs SET status = 'done', lease_token = NULL, finished_at = 2000
             WHERE key = 'old'",
                ps![],
            )
            .unwrap();
            bury(db, "dead");
            for kind in [PruneKind::Done, PruneKind::Dead] {
                let args = PruneArgs {
                    kind,
                    older_than: Duration::from_secs(1),
                    limit: 10,
                    schedules: std::sync::Arc::from(Vec::<String>::new()),
                };
                assert_eq!(run(db, &args, at(1_000_000)).unwrap(), 1, "{kind:?}");
            }
            let left: i64 = db.value("SELECT count(*) FROM steps", ps![]).unwrap();
            assert_eq!(left, 0);
        },
    );
}
