//! The reads of `status`, `jobs` and `spend`, on both databases.

use std::time::Duration;

use super::{counts, ledger};
use crate::clock::{Timestamp, utc_day};
use crate::job::JobQuery;
use crate::job::{DaySpend, JobStatus, NewJob};
use crate::store::both::on_both;
use crate::store::db::{Db, ps};
use crate::store::op::{self, CountJobsArgs, EnqueueArgs, JobArgs, JobsArgs, PurgeDeadArgs};
use crate::store::retention::tests::{dead, job};

const DAY: Duration = Duration::from_secs(86_400);
/// 2026-03-10T12:00:00Z.
const NOW: Timestamp = Timestamp::from_millis(1_773_144_000_000);

fn count(db: Db<'_>, sql: &str) -> u64 {
    db.value::<u64>(sql, ps![]).unwrap()
}

#[test]
fn status_counts_follow_every_change_through_the_counters() {
    on_both(
        "read::counts",
        |_| {},
        |db, ctx| {
            for i in 0..4 {
                job(db, &format!("p{i}"), "pending", None);
                job(db, &format!("d{i}"), "done", Some(NOW));
                dead(db, &format!("x{i}"), NOW);
            }
            // A claim, a completion, a purge of each table, and an alert owed and one delivered.
            db.exec("UPDATE jobs SET status = 'running' WHERE key = 'p0'", ps![]).unwrap();
            db.exec("UPDATE jobs SET status = 'done' WHERE key = 'p1'", ps![]).unwrap();
            db.exec("DELETE FROM jobs WHERE key IN ('d0', 'd1')", ps![]).unwrap();
            let which = crate::job::Selector::Keys(vec!["x0".to_owned()]);
            op::run(db, ctx, PurgeDeadArgs { which }).unwrap();
            for state in ["pending", "delivered"] {
                db.exec(
                    "INSERT INTO alerts (kind, body, created_at, state, next_attempt_at)
                 VALUES ('cap_hit', '{}', 0, ?1, 0)",
                    ps![state],
                )
                .unwrap();
            }
            db.exec("UPDATE jobs SET run_at = ?1 WHERE key = 'p2'", ps![NOW - DAY]).unwrap();
            db.exec("UPDATE control SET breaker_failures = 2 WHERE id = 1", ps![]).unwrap();
            let st = counts(db, NOW).unwrap();
            assert_eq!((st.pending, st.running, st.done, st.dead), (2, 1, 3, 3));
            assert_eq!(st.done, count(db, "SELECT count(*) FROM jobs WHERE status = 'done'"));
            assert_eq!(st.dead, count(db, "SELECT count(*) FROM dead_letter"));
            assert_eq!((st.alerts_undelivered, st.breaker_failures), (1, 2));
            // p3 is due since the epoch, the oldest pending.
            assert_eq!(st.next_due, Some(Timestamp::EPOCH));
            assert_eq!(st.oldest_pending_ms, Some(NOW.as_millis()));
        },
    );
}

fn listed(db: Db<'_>, ctx: &crate::store::StoreCtx, args: JobsArgs) -> Vec<String> {
    op::run(db, ctx, args).unwrap().jobs.into_iter().map(|j| j.key).collect()
}

fn query(status: Option<JobStatus>, queue: Option<String>, limit: u32) -> JobsArgs {
    JobsArgs { query: JobQuery { status, queue, limit, ..JobQuery::default() } }
}

#[test]
fn jobs_list_newest_first_filtered_and_counted() {
    on_both(
        "read::jobs",
        |_| {},
        |db, ctx| {
            for (key, queue) in [("a", "mail"), ("b", "default"), ("c", "mail"), ("d", "mail")] {
                let job = NewJob { queue: queue.to_owned(), ..NewJob::new(key, "{}") };
                op::run(db, ctx, EnqueueArgs { job, now: NOW }).unwrap();
            }
            db.exec("UPDATE jobs SET status = 'done' WHERE key = 'c'", ps![]).unwrap();
            // Inserted again (as a replay does): the newest, whatever its key.
            db.exec("DELETE FROM jobs WHERE key = 'a'", ps![]).unwrap();
            op::run(db, ctx, EnqueueArgs { job: NewJob::new("a", "{}"), now: NOW }).unwrap();
            let all = query(None, None, 10);
            assert_eq!(listed(db, ctx, all), ["a", "d", "c", "b"]);
            let first = query(None, None, 2);
            assert_eq!(listed(db, ctx, first), ["a", "d"]);
            let mail = || Some("mail".to_owned());
            let pending = Some(JobStatus::Pending);
            assert_eq!(listed(db, ctx, query(None, mail(), 10)), ["d", "c"]);
            let pending_mail = query(pending, mail(), 10);
            assert_eq!(listed(db, ctx, pending_mail), ["d"]);
            let pending_any = query(pending, None, 10);
            assert_eq!(listed(db, ctx, pending_any), ["a", "d", "b"]);
            let n = |status, queue| {
                let query = JobQuery { status, queue, ..JobQuery::default() };
                op::run(db, ctx, CountJobsArgs { query }).unwrap()
            };
            assert_eq!(
                (n(None, None), n(pending, None), n(None, mail()), n(pending, mail())),
                (4, 3, 2, 1)
            );
            assert_eq!(n(Some(JobStatus::Running), None), 0);
            let c = op::run(db, ctx, JobArgs { key: "c".to_owned() }).unwrap().unwrap();
            assert_eq!((c.queue.as_str(), c.status, c.run_at), ("mail", JobStatus::Done, NOW));
            assert!(op::run(db, ctx, JobArgs { key: "z".to_owned() }).unwrap().is_none());
        },
    );
}

#[test]
fn pages_continue_after_their_cursor_and_prefixes_are_ranges_not_patterns() {
    on_both(
        "read::pages",
        |_| {},
        |db, ctx| {
            for key in ["a%1", "a_2", "ab3", "a%4", "b5"] {
                op::run(db, ctx, EnqueueArgs { job: NewJob::new(key, "{}"), now: NOW }).unwrap();
            }
            let page = |prefix: &str, after, limit| {
                let prefix = Some(prefix.to_owned()).filter(|p| !p.is_empty());
                let query = JobQuery { prefix, after, limit, ..JobQuery::default() };
                op::run(db, ctx, JobsArgs { query }).unwrap()
            };
            let first = page("", None, 2);
            assert_eq!(first.jobs.iter().map(|j| &j.key).collect::<Vec<_>>(), ["b5", "a%4"]);
            // Inserted between pages: newer than the cursor, so never on a later page.
            op::run(db, ctx, EnqueueArgs { job: NewJob::new("new", "{}"), now: NOW }).unwrap();
            let second = page("", first.next, 2);
            assert_eq!(second.jobs.iter().map(|j| &j.key).collect::<Vec<_>>(), ["ab3", "a_2"]);
            let last = page("", second.next, 2);
            assert_eq!(last.jobs.iter().map(|j| &j.key).collect::<Vec<_>>(), ["a%1"]);
            assert_eq!(last.next, None);
            let keys =
                |prefix| page(prefix, None, 10).jobs.into_iter().map(|j| j.key).collect::<Vec<_>>();
            assert_eq!(keys("a%"), ["a%4", "a%1"]);
            assert_eq!(keys("a_"), ["a_2"]);
            assert_eq!(keys("a"), ["a%4", "ab3", "a_2", "a%1"]);
            let n = |prefix: &str| {
                let query = JobQuery { prefix: Some(prefix.to_owned()), ..JobQuery::default() };
                op::run(db, ctx, CountJobsArgs { query }).unwrap()
            };
            assert_eq!((n("a%"), n("a"), n("c")), (2, 4, 0));
        },
    );
}

#[test]
fn the_spend_ledger_sums_each_day_newest_first_and_saturates() {
    on_both(
        "read::ledger",
        |_| {},
        |db, _| {
            let spend = |at: Timestamp, micros: i64| {
                db.exec(
                    "INSERT INTO spend (day, key, attempt, micros, at) VALUES (?1, 'k', 1, ?2, ?3)",
                    ps![utc_day(at), micros, at],
                )
                .unwrap();
            };
            spend(NOW, 5);
            spend(NOW - Duration::from_secs(3_600), 7);
            spend(NOW - DAY * 2, 11);
            spend(NOW - DAY * 3, i64::MAX / 2 + 1);
            spend(NOW - DAY * 3, i64::MAX / 2 + 1);
            // Outside a three-day window.
            spend(NOW - DAY * 9, 1);
            let day =
                |day: &str, micros, attempts| DaySpend { day: day.to_owned(), micros, attempts };
            assert_eq!(
                ledger(db, 3, NOW).unwrap(),
                [day("2026-03-10", 12, 2), day("2026-03-08", 11, 1)]
            );
            let week = ledger(db, 7, NOW).unwrap();
            assert_eq!(week.len(), 3);
            assert_eq!(week[2], day("2026-03-07", i64::MAX, 2));
        },
    );
}
