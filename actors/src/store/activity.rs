//! The dashboard's history reads: jobs done, attempts failed and jobs dead-lettered per UTC
//! hour ([`activity`]), and the alert outbox's newest rows ([`outbox`]). Read only, and bounded:
//! the hours read go through `jobs_finished` and `dead_letter_died`; only rows holding a failed
//! attempt in the window are loaded, since an attempt's time is kept in the row's JSON history
//! (`errors`), not in a column of its own.

use serde::Serialize;

use super::db::{Db, Row, ps};
use crate::alerts::AlertKind;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::AttemptError;

const HOUR_MS: i64 = 3_600_000;

/// One UTC hour of activity.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HourActivity {
    /// The hour's start, unix ms.
    pub hour: Timestamp,
    /// Jobs that finished done in the hour.
    pub done: u64,
    /// Attempts that failed (or were interrupted) in the hour, on the jobs and dead letters held.
    pub failed: u64,
    /// Jobs dead-lettered in the hour.
    pub dead: u64,
}

/// The last `hours` UTC hours, oldest first, the last one holding `now` (so it is partial).
pub(crate) fn activity(
    db: Db<'_>,
    hours: u32,
    now: Timestamp,
) -> Result<Vec<HourActivity>, StoreError> {
    let current = now.as_millis().div_euclid(HOUR_MS) * HOUR_MS;
    let since = current - i64::from(hours.saturating_sub(1)) * HOUR_MS;
    let mut out: Vec<HourActivity> = (0..i64::from(hours))
        .map(|i| HourActivity {
            hour: Timestamp::from_millis(since + i * HOUR_MS),
            ..HourActivity::default()
        })
        .collect();
    // The hour a time falls in: none before the window (negative) or after its last hour (a
    // runner's clock ahead: `get_mut` finds none).
    let slot = |ms: i64| usize::try_from((ms - since).div_euclid(HOUR_MS)).ok();
    let counted = |r: &Row<'_>| Ok((r.get::<i64>(0)?, r.get::<u64>(1)?));
    let done = db.query(
        "SELECT h, count(*) FROM (SELECT (finished_at - ?1) / 3600000 AS h FROM jobs
                                  WHERE status = 'done' AND finished_at >= ?1) AS done
         GROUP BY h",
        ps![since],
        counted,
    )?;
    add(&mut out, done, |b| &mut b.done);
    // `died` is in seconds; the window starts on a whole hour, so whole seconds.
    let dead = db.query(
        "SELECT h, count(*) FROM (SELECT (died * 1000 - ?1) / 3600000 AS h FROM dead_letter
                                  WHERE died >= ?2) AS dead
         GROUP BY h",
        ps![since, since / 1000],
        counted,
    )?;
    add(&mut out, dead, |b| &mut b.dead);
    // A job's `updated_at` is at or after its last failure, a dead letter's `died` after all
    // of its own: rows older than the window hold no failure in it.
    let histories = [
        db.query(
            "SELECT errors FROM jobs WHERE updated_at >= ?1 AND errors <> '[]'",
            ps![since],
            |r| r.get::<String>(0),
        )?,
        db.query("SELECT errors FROM dead_letter WHERE died >= ?1", ps![since / 1000], |r| {
            r.get::<String>(0)
        })?,
    ];
    for errors in histories.iter().flatten() {
        // A history that does not parse counts nothing here; `jobs show` reports it.
        let list: Vec<AttemptError> = serde_json::from_str(errors).unwrap_or_default();
        for e in list {
            if let Some(b) = slot(e.at.as_millis()).and_then(|i| out.get_mut(i)) {
                b.failed += 1;
            }
        }
    }
    Ok(out)
}

/// Adds counts by hour index (as SQL grouped them) to the hours' `field`.
fn add(
    out: &mut [HourActivity],
    counts: Vec<(i64, u64)>,
    field: fn(&mut HourActivity) -> &mut u64,
) {
    for (h, n) in counts {
        if let Some(b) = usize::try_from(h).ok().and_then(|i| out.get_mut(i)) {
            *field(b) += n;
        }
    }
}

/// One row of the alert outbox, as the dashboard shows it. The webhook's URL is not in the
/// table, and delivery errors are stored without it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxAlert {
    /// The row's id (a digest names its first member's).
    pub id: i64,
    /// `dead_letter`, `dead_letter_digest`, `cap_hit`, `breaker_opened`, `crash_loop`, `test`.
    #[serde(serialize_with = "kind_word")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: AlertKind,
    /// The job it reports, for a dead-letter alert.
    pub key: Option<String>,
    /// When it was owed, unix ms.
    pub created_at: Timestamp,
    /// `pending`, `delivered` or `failed` (given up).
    pub state: String,
    /// Delivery attempts made.
    pub attempts: u32,
    /// A dead-letter alert waiting for the DeadLetter actor's decision (alone or in a digest).
    pub held: bool,
    /// The digest it goes out in (its first member's id), if any.
    pub digest: Option<i64>,
    /// When it was delivered, unix ms.
    pub delivered_at: Option<Timestamp>,
    /// The next delivery attempt, unix ms (meaningful while pending).
    pub next_attempt_at: Timestamp,
    /// The last delivery attempt's error.
    pub last_error: Option<String>,
}

fn kind_word<S: serde::Serializer>(kind: &AlertKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

/// The newest `limit` alerts, newest first.
pub(crate) fn outbox(db: Db<'_>, limit: u32) -> Result<Vec<OutboxAlert>, StoreError> {
    db.query(
        "SELECT id, kind, key, created_at, state, attempts, held, digest, delivered_at,
                next_attempt_at, last_error
         FROM alerts ORDER BY id DESC LIMIT ?1",
        ps![limit],
        |r| {
            Ok(OutboxAlert {
                id: r.get(0)?,
                kind: r.get(1)?,
                key: r.get(2)?,
                created_at: r.get(3)?,
                state: r.get(4)?,
                attempts: r.get(5)?,
                held: r.get(6)?,
                digest: r.get(7)?,
                delivered_at: r.get(8)?,
                next_attempt_at: r.get(9)?,
                last_error: r.get(10)?,
            })
        },
    )
}

#[cfg(test)]
mod tests;
