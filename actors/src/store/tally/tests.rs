//! The tallies of `status --prom`, on both databases.

use std::time::Duration;

use super::{DURATION_BUCKETS_MS, QueueTally};
use crate::clock::Timestamp;
use crate::store::both::on_both;
use crate::store::db::{Db, ps};
use crate::store::op::{self, TalliesArgs};

/// 2026-03-10T12:00:00Z.
const NOW: Timestamp = Timestamp::from_millis(1_773_144_000_000);

/// A job of `queue` as the engine leaves it: due at `run_at`, finished `ran_ms` later if done.
fn job(db: Db<'_>, key: &str, queue: &str, status: &str, attempts: u32, ran_ms: Option<i64>) {
    let run_at = NOW - Duration::from_secs(3_600);
    let finished_at = ran_ms.map(|ms| Timestamp::from_millis(run_at.as_millis() + ms));
    db.exec(
        "INSERT INTO jobs (key, queue, payload, status, attempts, max_attempts, run_at, created_at,
                           updated_at, finished_at)
         VALUES (?1, ?2, '{}', ?3, ?4, 5, ?5, ?5, ?5, ?6)",
        ps![key, queue, status, attempts, run_at, finished_at],
    )
    .unwrap();
}

fn dead(db: Db<'_>, key: &str, queue: &str, attempts: u32) {
    db.exec(
        "INSERT INTO dead_letter (key, queue, payload, error, attempts, max_attempts, died, errors,
                                  reason)
         VALUES (?1, ?2, '{}', 'boom', ?3, ?3, 0, '[]', 'exhausted')",
        ps![key, queue, attempts],
    )
    .unwrap();
}

/// Bucket counts with `n` in bucket `i` for each `(i, n)`.
fn buckets(counts: &[(usize, u64)]) -> Vec<u64> {
    let mut all = vec![0; DURATION_BUCKETS_MS.len() + 1];
    for &(i, n) in counts {
        all[i] = n;
    }
    all
}

#[test]
fn tallies_count_each_queue_and_bucket_done_jobs_by_duration() {
    on_both(
        "tally::queues",
        |_| {},
        |db, ctx| {
            job(db, "m1", "mail", "done", 0, Some(50));
            job(db, "m2", "mail", "done", 2, Some(2_000));
            job(db, "m3", "mail", "pending", 1, None);
            job(db, "m4", "mail", "running", 0, None);
            // Finished "before" it was due (another runner's clock): counted as zero.
            job(db, "d1", "default", "done", 0, Some(-40));
            job(db, "d2", "default", "done", 0, Some(5 * 3_600_000));
            dead(db, "d3", "default", 3);
            dead(db, "x1", "bulk", 2);
            let t = op::run(db, ctx, TalliesArgs { now: NOW }).unwrap();
            let names: Vec<&str> = t.queues.iter().map(|q| q.queue.as_str()).collect();
            assert_eq!(names, ["bulk", "default", "mail"]);
            assert_eq!(
                t.queues[0],
                QueueTally {
                    queue: "bulk".to_owned(),
                    dead: 1,
                    failed_attempts: 2,
                    durations: buckets(&[]),
                    ..QueueTally::default()
                }
            );
            let default = &t.queues[1];
            assert_eq!((default.done, default.dead, default.failed_attempts), (2, 1, 3));
            assert_eq!(default.durations, buckets(&[(0, 1), (DURATION_BUCKETS_MS.len(), 1)]));
            assert_eq!(default.duration_sum_ms, 5 * 3_600_000);
            let mail = &t.queues[2];
            assert_eq!((mail.pending, mail.running, mail.done, mail.dead), (1, 1, 2, 0));
            // m2's two failures and m3's one, then a success for each done job.
            assert_eq!((mail.failed_attempts, mail.attempts()), (3, 5));
            assert_eq!(mail.durations, buckets(&[(0, 1), (3, 1)]));
            assert_eq!(mail.duration_sum_ms, 2_050);
            // The totals are the ones `status` counts.
            let sum = |f: fn(&QueueTally) -> u64| t.queues.iter().map(f).sum::<u64>();
            let st = &t.status;
            assert_eq!((sum(|q| q.pending), sum(|q| q.running)), (st.pending, st.running));
            assert_eq!((sum(|q| q.done), sum(|q| q.dead)), (st.done, st.dead));
            assert!(!t.breaker_open);
        },
    );
}

#[test]
fn the_breaker_shows_open_even_while_the_kill_switch_holds_claims() {
    on_both(
        "tally::breaker",
        |_| {},
        |db, ctx| {
            let until = NOW + Duration::from_secs(60);
            db.exec(
                "UPDATE control SET paused = 1, breaker_open_until = ?1 WHERE id = 1",
                ps![until],
            )
            .unwrap();
            let t = op::run(db, ctx, TalliesArgs { now: NOW }).unwrap();
            assert!(t.status.paused && t.breaker_open);
            assert!(t.queues.is_empty());
            // Past its cool-down with no probe running it admits a probe: not holding claims.
            let later = until + Duration::from_secs(1);
            let t = op::run(db, ctx, TalliesArgs { now: later }).unwrap();
            assert!(!t.breaker_open);
        },
    );
}
