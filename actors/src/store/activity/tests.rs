//! The dashboard's history reads, on both databases.

use super::HourActivity;
use crate::alerts::AlertKind;
use crate::clock::Timestamp;
use crate::store::both::on_both;
use crate::store::db::{Db, ps};
use crate::store::op::{self, ActivityArgs, NewestTicksArgs, OutboxArgs};

/// 2026-03-10T12:30:00Z: the current hour began half an hour ago.
const NOW: Timestamp = Timestamp::from_millis(1_773_145_800_000);
const HOUR: i64 = 3_600_000;
/// 12:00, the start of the current hour.
const CURRENT: i64 = 1_773_144_000_000;

/// `n` hours before the current hour's start, plus `ms`.
fn at(n: i64, ms: i64) -> Timestamp {
    Timestamp::from_millis(CURRENT - n * HOUR + ms)
}

/// A row's `errors`: a failed attempt at each of `failed`.
fn history(failed: &[Timestamp]) -> String {
    let errors: Vec<_> = failed
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({ "attempt": i + 1, "error": "boom", "at": t }))
        .collect();
    serde_json::Value::from(errors).to_string()
}

/// A job finished done at `finished`, with a failed attempt at each of `failed`.
fn job(db: Db<'_>, key: &str, status: &str, finished: Option<Timestamp>, failed: &[Timestamp]) {
    let updated = finished.or(failed.last().copied()).unwrap_or(NOW);
    db.exec(
        "INSERT INTO jobs (key, queue, payload, status, attempts, max_attempts, run_at, created_at,
                           updated_at, finished_at, errors)
         VALUES (?1, 'default', '{}', ?2, ?3, 5, ?4, ?4, ?4, ?5, ?6)",
        ps![key, status, failed.len() as u32, updated, finished, history(failed)],
    )
    .unwrap();
}

/// A dead letter buried at `died` after failures at each of `failed`.
fn dead(db: Db<'_>, key: &str, died: Timestamp, failed: &[Timestamp]) {
    db.exec(
        "INSERT INTO dead_letter (key, queue, payload, error, attempts, max_attempts, died, errors,
                                  reason)
         VALUES (?1, 'default', '{}', 'boom', ?2, ?2, ?3, ?4, 'exhausted')",
        ps![key, failed.len() as u32, died.as_secs(), history(failed)],
    )
    .unwrap();
}

#[test]
fn each_hour_counts_the_jobs_done_attempts_failed_and_jobs_dead_lettered_in_it() {
    on_both(
        "activity::hours",
        |_| {},
        |db, ctx| {
            job(db, "a", "done", Some(at(0, 60_000)), &[at(1, 5)]);
            job(db, "b", "done", Some(at(0, 0)), &[]);
            job(db, "c", "done", Some(at(2, HOUR - 1)), &[at(2, 0), at(3, 0)]);
            // Before the window: counted nowhere.
            job(db, "old", "done", Some(at(3, -1)), &[at(4, 0)]);
            job(db, "p", "pending", None, &[at(0, 1_000)]);
            job(db, "r", "running", None, &[]);
            dead(db, "d1", at(1, 1_000), &[at(1, 0), at(1, 500)]);
            dead(db, "d2", at(2, 59_000), &[at(2, 0)]);
            dead(db, "d-old", at(4, 0), &[at(4, 0)]);
            let hours = op::run(db, ctx, ActivityArgs { hours: 3, now: NOW }).unwrap();
            let want = |n: i64, done: u64, failed: u64, dead: u64| HourActivity {
                hour: at(n, 0),
                done,
                failed,
                dead,
            };
            assert_eq!(hours, [want(2, 1, 2, 1), want(1, 0, 3, 1), want(0, 2, 1, 0)]);
            let one = op::run(db, ctx, ActivityArgs { hours: 1, now: NOW }).unwrap();
            assert_eq!(one, [want(0, 2, 1, 0)]);
        },
    );
}

#[test]
fn an_empty_database_has_every_hour_at_zero() {
    on_both(
        "activity::empty",
        |_| {},
        |db, ctx| {
            let hours = op::run(db, ctx, ActivityArgs { hours: 24, now: NOW }).unwrap();
            assert_eq!(hours.len(), 24);
            assert_eq!(hours[0].hour, at(23, 0));
            assert_eq!(hours[23].hour, at(0, 0));
            assert!(hours.iter().all(|h| (h.done, h.failed, h.dead) == (0, 0, 0)));
        },
    );
}

#[test]
fn the_outbox_lists_the_newest_alerts_first_with_their_delivery_state() {
    on_both(
        "activity::outbox",
        |_| {},
        |db, ctx| {
            let body = serde_json::json!({ "key": "k" });
            let t0 = at(1, 0);
            let first =
                crate::store::alerts::owe(db, AlertKind::CapHit, None, &body, t0, t0).unwrap();
            let second = crate::store::alerts::owe_dead_letter(db, "k", &body, at(0, 0)).unwrap();
            db.exec(
                "UPDATE alerts SET attempts = 2, last_error = 'HTTP 500' WHERE id = ?1",
                ps![first],
            )
            .unwrap();
            let rows = op::run(db, ctx, OutboxArgs { limit: 10 }).unwrap();
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            assert_eq!(ids, [second, first]);
            assert_eq!(rows[0].kind, AlertKind::DeadLetter);
            assert_eq!((rows[0].key.as_deref(), rows[0].held), (Some("k"), true));
            assert_eq!((rows[1].attempts, rows[1].last_error.as_deref()), (2, Some("HTTP 500")));
            assert_eq!((rows[1].state.as_str(), rows[1].created_at), ("pending", t0));
            let json = serde_json::to_value(&rows[1]).unwrap();
            assert_eq!(json["kind"], "cap_hit");
            assert_eq!(op::run(db, ctx, OutboxArgs { limit: 1 }).unwrap().len(), 1);
        },
    );
}

#[test]
fn the_newest_tick_is_found_in_jobs_or_the_dead_letter() {
    on_both(
        "activity::newest_ticks",
        |_| {},
        |db, ctx| {
            job(db, "digest@2026-03-10T11:00:00Z", "done", Some(at(0, 0)), &[]);
            dead(db, "digest@2026-03-10T12:00:00Z", at(0, 0), &[]);
            job(db, "digest@not-a-tick", "done", Some(at(0, 0)), &[]);
            job(db, "other@2026-03-10T09:00:00Z", "pending", None, &[]);
            let names = ["digest", "other", "none"].map(str::to_owned).to_vec();
            let ticks = op::run(db, ctx, NewestTicksArgs { schedules: names }).unwrap();
            assert_eq!(
                ticks,
                [
                    Some("digest@2026-03-10T12:00:00Z".to_owned()),
                    Some("other@2026-03-10T09:00:00Z".to_owned()),
                    None
                ]
            );
        },
    );
}
