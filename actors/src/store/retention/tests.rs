//! Retention batches and the row counts `status` reads: each kind on both databases, the
//! query plans and counters on a real SQLite file.

use std::time::Duration;

use rusqlite::Connection;

use super::{PruneArgs, PruneKind, run};
use crate::clock::{Timestamp, utc_day};
use crate::config::{EngineConfig, Synchronous};
use crate::store::both::on_both;
use crate::store::db::{Db, ps};
use crate::store::{StoreCtx, open, read};

const DAY: Duration = Duration::from_secs(86_400);
/// 2026-03-10T12:00:00Z.
const NOW: Timestamp = Timestamp::from_millis(1_773_144_000_000);

fn db(dir: &tempfile::TempDir) -> Connection {
    open::open(&dir.path().join("t.db"), Synchronous::Normal, false).unwrap()
}

/// Inserts a job row as the engine would have left it.
pub(crate) fn job(db: Db<'_>, key: &str, status: &str, finished_at: Option<Timestamp>) {
    db.exec(
        "INSERT INTO jobs (key, payload, status, max_attempts, run_at, created_at, updated_at,
                           finished_at)
         VALUES (?1, '{}', ?2, 4, 0, 0, 0, ?3)",
        ps![key, status, finished_at],
    )
    .unwrap();
}

/// Inserts a dead letter that died at `died_ms` (stored in seconds).
pub(crate) fn dead(db: Db<'_>, key: &str, died_ms: Timestamp) {
    db.exec(
        "INSERT INTO dead_letter (key, queue, payload, error, attempts, max_attempts, died, errors,
                                  reason)
         VALUES (?1, 'default', '{}', 'boom', 4, 4, ?2, '[]', 'exhausted')",
        ps![key, died_ms.as_secs()],
    )
    .unwrap();
}

fn args(kind: PruneKind, days: u64, limit: u32, schedules: &[&str]) -> PruneArgs {
    let schedules = schedules.iter().map(|s| s.to_string()).collect::<Vec<_>>().into();
    PruneArgs { kind, older_than: Duration::from_secs(days * 86_400), limit, schedules }
}

/// The first column of every row of `sql`.
pub(crate) fn keys(db: Db<'_>, sql: &str) -> Vec<String> {
    db.query(sql, ps![], |r| r.get(0)).unwrap()
}

#[test]
fn done_jobs_go_oldest_first_a_batch_at_a_time_and_live_jobs_never() {
    on_both(
        "retention::done_jobs",
        |_| {},
        |db, _| {
            for i in 0..5 {
                job(db, &format!("old-{i}"), "done", Some(NOW - DAY * (20 - i)));
            }
            job(db, "young", "done", Some(NOW - DAY));
            job(db, "waiting", "pending", None);
            job(db, "busy", "running", None);
            let batch = args(PruneKind::Done, 7, 2, &[]);
            assert_eq!(run(db, &batch, NOW).unwrap(), 2);
            let left = keys(db, "SELECT key FROM jobs ORDER BY key");
            assert_eq!(left, ["busy", "old-2", "old-3", "old-4", "waiting", "young"]);
            assert_eq!(run(db, &batch, NOW).unwrap(), 2);
            // Fewer than the batch size: nothing of the kind is left to prune.
            assert_eq!(run(db, &batch, NOW).unwrap(), 1);
            assert_eq!(run(db, &batch, NOW).unwrap(), 0);
            assert_eq!(keys(db, "SELECT key FROM jobs ORDER BY key"), ["busy", "waiting", "young"]);
        },
    );
}

#[test]
fn cancelled_jobs_go_with_the_done_ones_in_what_is_left_of_a_batch() {
    on_both(
        "retention::cancelled_jobs",
        |_| {},
        |db, _| {
            job(db, "done-old", "done", Some(NOW - DAY * 20));
            job(db, "cancelled-old", "cancelled", Some(NOW - DAY * 20));
            job(db, "cancelled-older", "cancelled", Some(NOW - DAY * 30));
            job(db, "cancelled-young", "cancelled", Some(NOW - DAY));
            let batch = args(PruneKind::Done, 7, 2, &[]);
            // The done row first, then the oldest cancelled one in the batch's other place.
            assert_eq!(run(db, &batch, NOW).unwrap(), 2);
            let left = keys(db, "SELECT key FROM jobs ORDER BY key");
            assert_eq!(left, ["cancelled-old", "cancelled-young"]);
            assert_eq!(run(db, &batch, NOW).unwrap(), 1);
            assert_eq!(run(db, &batch, NOW).unwrap(), 0);
            assert_eq!(keys(db, "SELECT key FROM jobs"), ["cancelled-young"]);
        },
    );
}

#[test]
fn the_newest_tick_of_each_schedule_is_kept_however_old() {
    on_both(
        "retention::newest_tick",
        |_| {},
        |db, _| {
            let old = NOW - DAY * 400;
            job(db, "yearly@2024-01-01T00:00:00Z", "done", Some(old));
            job(db, "yearly@2025-01-01T00:00:00Z", "done", Some(old + DAY));
            // A key in the schedule's namespace that is not a tick protects nothing.
            job(db, "yearly@zzz", "done", Some(old));
            job(db, "yearly@2026-01-01T00:00:00Zx", "done", Some(old));
            job(db, "digest@2025-01-01T00:15:00Z", "done", Some(old));
            // digest's newest tick is dead-lettered: it, not the older done row, is kept.
            dead(db, "digest@2025-01-01T00:30:00Z", old);
            job(db, "other@2025-01-01T00:00:00Z", "done", Some(old));
            let schedules = ["yearly", "digest"];
            assert_eq!(run(db, &args(PruneKind::Done, 7, 100, &schedules), NOW).unwrap(), 5);
            assert_eq!(run(db, &args(PruneKind::Dead, 7, 100, &schedules), NOW).unwrap(), 0);
            assert_eq!(keys(db, "SELECT key FROM jobs"), ["yearly@2025-01-01T00:00:00Z"]);
            assert_eq!(keys(db, "SELECT key FROM dead_letter"), ["digest@2025-01-01T00:30:00Z"]);
        },
    );
}

#[test]
fn schedule_names_with_pattern_characters_match_only_themselves() {
    // Characters GLOB, LIKE or a regular expression would read as more than themselves: each
    // name's own ticks must still match its pattern, so its newest tick is kept.
    let names = ["a*b", "c?d", "e[1]f", "g%h", "i_j", "k.l", r"m\n", "o(p)|q+", "r^s$", "t{2}é"];
    on_both(
        "retention::pattern_names",
        |_| {},
        move |db, _| {
            let old = NOW - DAY * 400;
            for name in names {
                job(db, &format!("{name}@2025-01-01T00:00:00Z"), "done", Some(old));
                job(db, &format!("{name}@2025-02-01T00:00:00Z"), "done", Some(old));
                // Sorts after the newest tick, but is no tick: the pattern is anchored at its end.
                job(db, &format!("{name}@2025-03-01T00:00:00Z "), "done", Some(old));
            }
            let prune = args(PruneKind::Done, 7, 500, &names);
            assert_eq!(run(db, &prune, NOW).unwrap(), 2 * names.len() as u64);
            let mut expected: Vec<String> =
                names.iter().map(|name| format!("{name}@2025-02-01T00:00:00Z")).collect();
            expected.sort();
            let mut left = keys(db, "SELECT key FROM jobs");
            left.sort();
            assert_eq!(left, expected);
        },
    );
}

#[test]
fn dead_letters_go_by_when_they_died() {
    on_both(
        "retention::dead_letters",
        |_| {},
        |db, _| {
            dead(db, "ancient", NOW - DAY * 31);
            dead(db, "recent", NOW - DAY * 29);
            assert_eq!(run(db, &args(PruneKind::Dead, 30, 500, &[]), NOW).unwrap(), 1);
            assert_eq!(keys(db, "SELECT key FROM dead_letter"), ["recent"]);
        },
    );
}

#[test]
fn spend_goes_by_whole_days_and_never_today() {
    on_both(
        "retention::spend",
        |_| {},
        |db, _| {
            for days_ago in [0, 1, 7, 8, 30] {
                let at = NOW - DAY * days_ago;
                db.exec(
                    "INSERT INTO spend (day, key, attempt, micros, at) VALUES (?1, 'k', 1, 5, ?2)",
                    ps![utc_day(at), at],
                )
                .unwrap();
            }
            // Seven days back from noon is noon on 03-03: that day is kept whole, the ones before
            // go.
            assert_eq!(run(db, &args(PruneKind::Spend, 7, 500, &[]), NOW).unwrap(), 2);
            let days = keys(db, "SELECT day FROM spend ORDER BY day");
            assert_eq!(days, ["2026-03-03", "2026-03-09", "2026-03-10"]);
            // Even an age of zero leaves the current day.
            assert_eq!(run(db, &args(PruneKind::Spend, 0, 500, &[]), NOW).unwrap(), 2);
            assert_eq!(keys(db, "SELECT day FROM spend"), ["2026-03-10"]);
        },
    );
}

#[test]
fn only_delivered_alerts_go() {
    on_both(
        "retention::alerts",
        |_| {},
        |db, _| {
            let old = NOW - DAY * 60;
            for (kind, state, delivered) in [
                ("sent-long-ago", "delivered", Some(old)),
                ("sent-today", "delivered", Some(NOW)),
                ("owed", "pending", None),
                ("refused", "failed", None),
            ] {
                db.exec(
                "INSERT INTO alerts (kind, body, created_at, state, next_attempt_at, delivered_at)
                 VALUES (?1, '{}', ?2, ?3, ?2, ?4)",
                ps![kind, old, state, delivered],
            )
            .unwrap();
            }
            assert_eq!(run(db, &args(PruneKind::Alerts, 30, 500, &[]), NOW).unwrap(), 1);
            let left = keys(db, "SELECT kind FROM alerts ORDER BY id");
            assert_eq!(left, ["sent-today", "owed", "refused"]);
        },
    );
}

/// The lines of `EXPLAIN QUERY PLAN sql`.
fn plan(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

#[test]
fn each_batch_reads_its_rows_along_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let conn = db(&dir);
    let selects = [
        "SELECT rowid FROM jobs WHERE status = 'done' AND finished_at < 1 ORDER BY finished_at LIMIT 5",
        "SELECT rowid FROM jobs WHERE status = 'cancelled' AND finished_at < 1 ORDER BY finished_at LIMIT 5",
        "SELECT rowid FROM dead_letter WHERE died < 1 ORDER BY died LIMIT 5",
        "SELECT id FROM spend WHERE day < '2026-01-01' ORDER BY day LIMIT 5",
        "SELECT id FROM alerts WHERE state = 'delivered' AND delivered_at < 1
         ORDER BY delivered_at LIMIT 5",
    ];
    for sql in selects {
        let lines = plan(&conn, sql);
        assert!(lines.iter().all(|l| l.starts_with("SEARCH")), "{sql}: {lines:?}");
        assert!(!lines.iter().any(|l| l.contains("TEMP B-TREE")), "{sql}: {lines:?}");
    }
}

#[test]
fn status_counts_fifty_thousand_done_rows_without_scanning_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = db(&dir);
    let tx = conn.transaction().unwrap();
    for i in 0..50_000 {
        job(Db::Lite(&tx), &format!("done-{i}"), "done", Some(NOW - DAY * 10));
    }
    for i in 0..3 {
        job(Db::Lite(&tx), &format!("pending-{i}"), "pending", None);
        dead(Db::Lite(&tx), &format!("dead-{i}"), NOW);
    }
    tx.commit().unwrap();
    // Every way a row changes: a claim, a completion, a purge, a dead letter replayed.
    conn.execute("UPDATE jobs SET status = 'running' WHERE key = 'pending-0'", []).unwrap();
    conn.execute("UPDATE jobs SET status = 'done' WHERE key = 'pending-1'", []).unwrap();
    conn.execute("UPDATE jobs SET status = 'done' WHERE key = 'pending-1'", []).unwrap();
    conn.execute("DELETE FROM jobs WHERE key IN ('done-0', 'done-1')", []).unwrap();
    conn.execute("DELETE FROM dead_letter WHERE key = 'dead-0'", []).unwrap();
    assert_eq!(run(Db::Lite(&conn), &args(PruneKind::Done, 7, 500, &[]), NOW).unwrap(), 500);

    let ctx = StoreCtx::from_config(&EngineConfig::new(dir.path().join("t.db")));
    let st = read::status(Db::Lite(&conn), &ctx, NOW).unwrap();
    let counted: i64 = conn
        .query_row("SELECT count(*) FROM jobs WHERE status = 'done'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(st.done, counted as u64);
    assert_eq!((st.pending, st.running, st.done, st.dead), (1, 1, 50_000 - 2 + 1 - 500, 2));
    // `jobs` is read only through the partial indexes of pending, running, waiting and
    // cancelled rows, so none of the 50,000 done rows is visited; `dead_letter` and the alerts
    // not at all, or by an index.
    let live = ["jobs_next_due", "jobs_claim", "jobs_leases", "jobs_waits", "jobs_cancelled"];
    for sql in [read::COUNTS, read::UNDELIVERED] {
        let lines = plan(&conn, sql);
        for line in &lines {
            let reads_jobs = line.contains(" jobs ") || line.ends_with(" jobs");
            assert!(!reads_jobs || live.iter().any(|i| line.contains(i)), "{sql}: {lines:?}");
            assert!(!line.contains("dead_letter"), "{sql}: {lines:?}");
            assert!(!line.starts_with("SCAN alerts") || line.contains("alerts_undelivered"));
        }
    }
}

#[test]
fn the_migration_counts_the_rows_already_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    {
        let conn = Connection::open(&path).unwrap();
        for sql in &open::MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch("PRAGMA user_version = 3").unwrap();
        for (key, status) in [("a", "done"), ("b", "done"), ("c", "pending")] {
            job(Db::Lite(&conn), key, status, Some(Timestamp::EPOCH));
        }
        dead(Db::Lite(&conn), "d", NOW);
    }
    let conn = open::open(&path, Synchronous::Normal, false).unwrap();
    let ctx = StoreCtx::from_config(&EngineConfig::new(&path));
    let st = read::status(Db::Lite(&conn), &ctx, NOW).unwrap();
    assert_eq!((st.pending, st.running, st.done, st.dead), (1, 0, 2, 1));
}

/// Runners sharing a PostgreSQL database prune one at a time: while one holds the prune lock
/// (its batch's transaction is open), another's batch deletes nothing; afterwards it does.
#[test]
fn on_postgres_one_runner_prunes_at_a_time() {
    use crate::store::op::{self, PruneBatchArgs};
    use crate::store::pg::Link;
    let Some(scratch) = crate::store::pg::scratch::ScratchDb::create("retention::one_at_a_time")
    else {
        return;
    };
    let ctx = || StoreCtx::from_config(&EngineConfig::new(scratch.url()));
    let (first, second) = (
        Link::open(scratch.url(), true, ctx()).unwrap(),
        Link::open(scratch.url(), true, ctx()).unwrap(),
    );
    first
        .run(|pg, _| {
            let db = Db::Pg(pg);
            job(db, "old", "done", Some(NOW - 10 * DAY));
            db.batch("BEGIN").unwrap();
            db.value::<bool>("SELECT pg_try_advisory_xact_lock(?1)", ps![super::PRUNE_LOCK])
        })
        .unwrap()
        .unwrap();
    let prune = || {
        let batch = super::PruneBatch {
            kinds: vec![(PruneKind::Done, 7 * DAY)],
            limit: 100,
            schedules: Vec::new().into(),
        };
        PruneBatchArgs { batch, now: NOW }
    };
    let batch = prune();
    let pruned = second.run(move |pg, ctx| op::run(Db::Pg(pg), ctx, batch)).unwrap().unwrap();
    assert_eq!(pruned, [0], "another runner is pruning");
    first.run(|pg, _| Db::Pg(pg).batch("COMMIT")).unwrap().unwrap();
    let batch = prune();
    let pruned = second.run(move |pg, ctx| op::run(Db::Pg(pg), ctx, batch)).unwrap().unwrap();
    assert_eq!(pruned, [1], "the lock is free again");
}
