//! The alert outbox. A row is written in the same transaction as the event it reports, then
//! the Alert actor delivers it and records the result here; undelivered rows survive restarts.
//!
//! A dead-letter alert is written *held*: the Alert actor does not see it until the DeadLetter
//! actor, once the row's group_wait is over, releases it alone or as a member of a digest.

use super::db::{Db, Row, ps};
use crate::alerts::AlertKind;
use crate::clock::Timestamp;
use crate::error::StoreError;

/// An alert owed to the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AlertRow {
    pub(crate) id: i64,
    pub(crate) kind: AlertKind,
    pub(crate) key: Option<String>,
    pub(crate) body: String,
    pub(crate) attempts: u32,
    /// The digest this row goes out in (its first member's id); `None` goes out alone.
    pub(crate) digest: Option<i64>,
}

/// A dead-letter alert held for the DeadLetter actor's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeldAlert {
    pub(crate) id: i64,
    /// When its job was buried.
    pub(crate) at: Timestamp,
}

/// A delivery attempt that did not succeed.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryFailed {
    pub(crate) id: i64,
    pub(crate) error: String,
    /// When to try again; `None` gives up (a permanent refusal such as 400 or 404).
    pub(crate) retry_at: Option<Timestamp>,
}

/// Reads `id, kind, key, body, attempts, digest`.
fn from_row(r: &Row<'_>) -> Result<AlertRow, StoreError> {
    Ok(AlertRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        key: r.get(2)?,
        body: r.get(3)?,
        attempts: r.get(4)?,
        digest: r.get(5)?,
    })
}

/// Owes an alert, deliverable from `due`. An alert is rare beside jobs, so RETURNING serves
/// both databases.
pub(crate) fn owe(
    db: Db<'_>,
    kind: AlertKind,
    key: Option<&str>,
    body: &serde_json::Value,
    now: Timestamp,
    due: Timestamp,
) -> Result<i64, StoreError> {
    db.value(
        "INSERT INTO alerts (kind, key, body, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        ps![kind, key, body.to_string(), now, due],
    )
}

/// Owes the alert for a job buried at `now`, held until the DeadLetter actor releases it.
pub(crate) fn owe_dead_letter(
    db: Db<'_>,
    key: &str,
    body: &serde_json::Value,
    now: Timestamp,
) -> Result<i64, StoreError> {
    db.value(
        "INSERT INTO alerts (kind, key, body, created_at, next_attempt_at, held)
         VALUES (?1, ?2, ?3, ?4, ?4, 1) RETURNING id",
        ps![AlertKind::DeadLetter, key, body.to_string(), now],
    )
}

/// Takes the released alerts due by `now` for delivery, oldest first, and tells the next due
/// time among those later (the taken ones included: they come due again if never recorded).
pub(crate) fn due(
    db: Db<'_>,
    now: Timestamp,
    limit: u32,
) -> Result<(Vec<AlertRow>, Option<Timestamp>), StoreError> {
    let rows = db.query(
        db.pick(
            "SELECT id, kind, key, body, attempts, digest FROM alerts
             WHERE state = 'pending' AND held = 0 AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2",
            // Rows another runner is taking right now are skipped, not waited for.
            "SELECT id, kind, key, body, attempts, digest FROM alerts
             WHERE state = 'pending' AND held = 0 AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2
             FOR UPDATE SKIP LOCKED",
        ),
        ps![now, limit],
        from_row,
    )?;
    // Taken for delivery: no runner (of several sharing a database) takes them again until
    // this one records the outcome, or dies and the lease runs out.
    let leased = now + DELIVERY_LEASE;
    for row in &rows {
        db.exec("UPDATE alerts SET next_attempt_at = ?2 WHERE id = ?1", ps![row.id, leased])?;
    }
    let next = db.value(
        "SELECT min(next_attempt_at) FROM alerts
         WHERE state = 'pending' AND held = 0 AND next_attempt_at > ?1",
        ps![now],
    )?;
    Ok((rows, next))
}

/// How long an alert taken for delivery is not handed out again: the bound on how late an
/// alert goes out when the runner delivering it dies (it may then go out twice: delivered,
/// but not yet recorded).
pub(crate) const DELIVERY_LEASE: std::time::Duration = std::time::Duration::from_secs(60);

/// Every dead-letter alert still held (what the DeadLetter actor owes after a restart). Held
/// rows are pending, so the pending-only index finds them without reading delivered ones.
pub(crate) fn held(db: Db<'_>) -> Result<Vec<HeldAlert>, StoreError> {
    db.query(
        db.pick(
            "SELECT id, created_at FROM alerts INDEXED BY alerts_due
             WHERE state = 'pending' AND held = 1",
            "SELECT id, created_at FROM alerts WHERE state = 'pending' AND held = 1",
        ),
        ps![],
        |r| Ok(HeldAlert { id: r.get(0)?, at: r.get(1)? }),
    )
}

/// Hands held alerts to the Alert actor, due at `now`: each alone (`digest` `None`) or all
/// as one digest named by `digest`. Rows already released are left as they are.
pub(crate) fn release(
    db: Db<'_>,
    ids: &[i64],
    digest: Option<i64>,
    now: Timestamp,
) -> Result<(), StoreError> {
    for id in ids {
        db.exec(
            "UPDATE alerts SET held = 0, digest = ?2, next_attempt_at = ?3
             WHERE id = ?1 AND held = 1",
            ps![id, digest, now],
        )?;
    }
    Ok(())
}

/// Makes the alerts taken for delivery with the given leases (each the time it ends) due
/// again at `now`: the rows still carrying one (an outcome recorded since wins).
pub(crate) fn give_back(
    db: Db<'_>,
    leases: &[Timestamp],
    now: Timestamp,
) -> Result<(), StoreError> {
    for lease in leases {
        db.exec(
            "UPDATE alerts SET next_attempt_at = ?2
             WHERE state = 'pending' AND held = 0 AND next_attempt_at = ?1",
            ps![lease, now],
        )?;
    }
    Ok(())
}

/// Records a delivery.
pub(crate) fn delivered(db: Db<'_>, id: i64, now: Timestamp) -> Result<(), StoreError> {
    db.exec(
        "UPDATE alerts SET state = 'delivered', delivered_at = ?2, attempts = attempts + 1,
                           last_error = NULL
         WHERE id = ?1",
        ps![id, now],
    )?;
    Ok(())
}

/// Records a failed delivery: retried at `retry_at`, or given up. (`?3` is compared only after
/// the coalesce, where PostgreSQL learns its type.)
pub(crate) fn failed(db: Db<'_>, f: &DeliveryFailed) -> Result<(), StoreError> {
    db.exec(
        "UPDATE alerts SET attempts = attempts + 1, last_error = ?2,
                           next_attempt_at = coalesce(?3, next_attempt_at),
                           state = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'pending' END
         WHERE id = ?1",
        ps![f.id, f.error, f.retry_at],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::both::on_both;
    use crate::store::op::{self, AlertDeliveredArgs, AlertsDueArgs, AlertsHeldArgs};
    use crate::store::op::{AlertsGiveBackArgs, AlertsReleaseArgs, OweAlertArgs};

    const T: Timestamp = Timestamp::from_millis(10_000);

    fn due_ids(
        db: Db<'_>,
        ctx: &crate::store::StoreCtx,
        now: Timestamp,
    ) -> (Vec<i64>, Option<Timestamp>) {
        let (rows, next) = op::run(db, ctx, AlertsDueArgs { now, limit: 10 }).unwrap();
        (rows.into_iter().map(|r| r.id).collect(), next)
    }

    #[test]
    fn owed_alerts_fall_due_and_are_delivered_or_given_up() {
        on_both(
            "alerts::owe_due",
            |_| {},
            |db, ctx| {
                let body = serde_json::json!({"event": "cap_hit"});
                let kind = AlertKind::CapHit;
                let a =
                    op::run(db, ctx, OweAlertArgs { kind, body: body.clone(), now: T }).unwrap();
                let b =
                    owe(db, AlertKind::BreakerOpened, None, &body, T, T + Duration::from_secs(60))
                        .unwrap();
                assert!(b > a, "ids grow: {a} then {b}");
                let (rows, next) = op::run(db, ctx, AlertsDueArgs { now: T, limit: 10 }).unwrap();
                let row = AlertRow {
                    id: a,
                    kind,
                    key: None,
                    body: body.to_string(),
                    attempts: 0,
                    digest: None,
                };
                assert_eq!((rows, next), (vec![row], Some(T + Duration::from_secs(60))));
                // A failure to retry later: due again then, one attempt counted.
                let retry_at = Some(T + Duration::from_secs(5));
                failed(db, &DeliveryFailed { id: a, error: "503".into(), retry_at }).unwrap();
                assert_eq!(due_ids(db, ctx, T), (vec![], retry_at));
                let later = T + Duration::from_secs(60);
                // Taken for delivery: not handed out again until the lease runs out.
                assert_eq!(due_ids(db, ctx, later), (vec![a, b], Some(later + DELIVERY_LEASE)));
                assert_eq!(due_ids(db, ctx, later), (vec![], Some(later + DELIVERY_LEASE)));
                op::run(db, ctx, AlertDeliveredArgs { id: a, now: T }).unwrap();
                // A permanent refusal gives up: never due again.
                failed(db, &DeliveryFailed { id: b, error: "404".into(), retry_at: None }).unwrap();
                assert_eq!(due_ids(db, ctx, T + Duration::from_secs(3_600)), (vec![], None));
                let states: Vec<(String, u32, Option<String>)> = db
                    .query(
                        "SELECT state, attempts, last_error FROM alerts ORDER BY id",
                        ps![],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .unwrap();
                let state = |s: &str, n, e: Option<&str>| (s.to_owned(), n, e.map(str::to_owned));
                assert_eq!(states, [state("delivered", 2, None), state("failed", 1, Some("404"))]);
            },
        );
    }

    /// Several runners share a PostgreSQL database: an alert one of them took is not taken by
    /// another while the first delivers it, and comes due again if it never records the outcome.
    #[test]
    fn a_taken_alert_is_leased_until_its_outcome_or_the_lease_ends() {
        on_both(
            "alerts::leased",
            |_| {},
            |db, ctx| {
                let body = serde_json::json!({"event": "cap_hit"});
                let a = owe(db, AlertKind::CapHit, None, &body, T, T).unwrap();
                assert_eq!(due_ids(db, ctx, T).0, vec![a], "taken by one runner");
                let during = T + DELIVERY_LEASE - Duration::from_millis(1);
                assert_eq!(due_ids(db, ctx, during).0, Vec::<i64>::new(), "not by another");
                // The first runner died before recording anything: the alert comes due again.
                assert_eq!(due_ids(db, ctx, T + DELIVERY_LEASE).0, vec![a]);
                // A killed Alert actor's successor gives back what it had taken: due at once,
                // but only while the row still carries that lease.
                let b = owe(db, AlertKind::CapHit, None, &body, T, T).unwrap();
                let now = T + DELIVERY_LEASE * 2;
                assert_eq!(due_ids(db, ctx, now).0, vec![a, b]);
                op::run(db, ctx, AlertDeliveredArgs { id: a, now }).unwrap();
                op::run(db, ctx, AlertsGiveBackArgs { leases: vec![now], now }).unwrap();
                assert_eq!(due_ids(db, ctx, now).0, Vec::<i64>::new(), "another lease: kept");
                let leases = vec![now + DELIVERY_LEASE];
                op::run(db, ctx, AlertsGiveBackArgs { leases, now }).unwrap();
                assert_eq!(due_ids(db, ctx, now).0, vec![b], "the delivered one stays delivered");
            },
        );
    }

    #[test]
    fn dead_letter_alerts_are_held_until_released_alone_or_as_a_digest() {
        on_both(
            "alerts::held",
            |_| {},
            |db, ctx| {
                let body = serde_json::json!({"event": "dead_letter"});
                let ids: Vec<i64> = ["x", "y", "z"]
                    .iter()
                    .map(|key| owe_dead_letter(db, key, &body, T).unwrap())
                    .collect();
                assert_eq!(due_ids(db, ctx, T), (vec![], None), "held rows are not due");
                let held = op::run(db, ctx, AlertsHeldArgs).unwrap();
                assert_eq!(held, ids.iter().map(|&id| HeldAlert { id, at: T }).collect::<Vec<_>>());
                let later = T + Duration::from_secs(30);
                let release = |ids: &[i64], digest| {
                    op::run(db, ctx, AlertsReleaseArgs { ids: ids.to_vec(), digest, now: later })
                        .unwrap()
                };
                release(&ids[..1], None);
                release(&ids[1..], Some(ids[1]));
                // Released again: left as it is, not moved into another digest.
                release(&ids[..1], Some(ids[1]));
                assert!(op::run(db, ctx, AlertsHeldArgs).unwrap().is_empty());
                assert_eq!(due_ids(db, ctx, T), (vec![], Some(later)));
                let (rows, _) = op::run(db, ctx, AlertsDueArgs { now: later, limit: 10 }).unwrap();
                let seen: Vec<_> =
                    rows.iter().map(|r| (r.key.as_deref(), r.digest, r.kind)).collect();
                let dl = AlertKind::DeadLetter;
                let d = Some(ids[1]);
                assert_eq!(seen, [(Some("x"), None, dl), (Some("y"), d, dl), (Some("z"), d, dl)]);
            },
        );
    }
}
