//! Reads for `status`, `jobs` and drain: counts, one job, a filtered list.

use super::StoreCtx;
use super::db::{Clauses, Db, Row, ps};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::listing::prefix_upper;
use crate::job::{DaySpend, JobPage, JobQuery, JobRecord, JobStatus, Status};

/// Pending and running jobs from their partial indexes (live rows only), and every row of
/// `jobs` and `dead_letter` from the counts the triggers of migration 0004 keep: `status` never
/// reads a finished row, however many pile up.
pub(crate) const COUNTS: &str = "SELECT (SELECT count(*) FROM jobs WHERE status = 'pending'),
                                        (SELECT count(*) FROM jobs WHERE status = 'running'),
                                        jobs, dead,
                                        (SELECT count(*) FROM jobs WHERE status = 'waiting'),
                                        (SELECT count(*) FROM jobs WHERE status = 'cancelled')
                                 FROM row_counts WHERE id = 1";

/// Alerts not delivered (pending or given up), counted from their partial index alone.
pub(crate) const UNDELIVERED: &str = "SELECT count(*) FROM alerts WHERE state != 'delivered'";

/// Counts by status, dead letters, gates, spend: each from a counter row or an index that
/// holds only live rows, never a scan of the finished ones.
pub(crate) fn status(db: Db<'_>, ctx: &StoreCtx, now: Timestamp) -> Result<Status, StoreError> {
    let mut st = counts(db, now)?;
    let control = super::gates::load_control(db)?;
    let cap = control.cap_in_force(ctx);
    (st.cap_micros, st.cap_set_by) = (cap.micros, cap.set_by);
    st.paused = control.paused;
    st.pause_reason = control.pause_reason;
    st.spend_today_micros = super::gates::spent_today(db, now)?;
    st.gate = super::gates::current(db, ctx, now)?;
    st.limits = super::limits::statuses(db, ctx, now)?;
    Ok(st)
}

/// The part of [`status`] that is counted: jobs by status, dead letters, the next due job,
/// alerts undelivered and the breaker's failures.
pub(crate) fn counts(db: Db<'_>, now: Timestamp) -> Result<Status, StoreError> {
    let mut st = Status::default();
    let n = |r: &Row<'_>, i: usize| r.get::<i64>(i).map(|n| n.max(0) as u64);
    let all;
    (st.pending, st.running, all, st.dead, st.waiting, st.cancelled) =
        db.one(COUNTS, ps![], |r| {
            Ok((n(r, 0)?, n(r, 1)?, n(r, 2)?, n(r, 3)?, n(r, 4)?, n(r, 5)?))
        })?;
    // Every other status is done (DESIGN.md section 4); waiting and cancelled have their own
    // partial indexes.
    st.done = all.saturating_sub(st.pending + st.running + st.waiting + st.cancelled);
    st.next_due = super::claim::next_due(db)?;
    st.oldest_pending_ms = st.next_due.filter(|t| *t <= now).map(|t| now.millis_since(t));
    st.alerts_undelivered = count(db, UNDELIVERED)?;
    st.breaker_failures = db.value("SELECT breaker_failures FROM control WHERE id = 1", ps![])?;
    Ok(st)
}

const COLUMNS: &str = "key, queue, payload, status, attempts, max_attempts, priority, run_at, \
                       last_error, result, started_at, finished_at, cost_micros, errors, snoozes, \
                       limit_name";

fn from_row(r: &Row<'_>) -> Result<JobRecord, StoreError> {
    let status: String = r.get(3)?;
    let key: String = r.get(0)?;
    let errors = super::fail::attempt_errors(&format!("job {key:?}"), &r.get::<String>(13)?)?;
    Ok(JobRecord {
        key,
        queue: r.get(1)?,
        payload: r.get(2)?,
        status: JobStatus::parse(&status).unwrap_or(JobStatus::Pending),
        attempts: r.get(4)?,
        max_attempts: r.get(5)?,
        priority: r.get(6)?,
        run_at: r.get(7)?,
        last_error: r.get(8)?,
        result: r.get(9)?,
        started_at: r.get(10)?,
        finished_at: r.get(11)?,
        cost_micros: r.get::<Option<i64>>(12)?.filter(|c| *c > 0),
        errors,
        snoozes: r.get(14)?,
        limit: r.get(15)?,
    })
}

/// One job by key.
pub(crate) fn job(db: Db<'_>, key: &str) -> Result<Option<JobRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE key = ?1");
    db.opt(&sql, ps![key], from_row)
}

/// The filters of a [`JobQuery`] as conditions: status and queue as given, and a key prefix as
/// a range along the key's index (so `%` and `_` in it are plain characters).
fn filters<'p>(
    q: &'p JobQuery,
    status: &'p Option<&'static str>,
    upper: &'p Option<String>,
) -> Clauses<'p> {
    let mut w = Clauses::default();
    if let Some(status) = status {
        w.add("status = ?", &[status]);
    }
    if let Some(queue) = &q.queue {
        w.add("queue = ?", &[queue]);
    }
    if let Some(prefix) = q.prefix.as_ref().filter(|p| !p.is_empty()) {
        match upper {
            Some(upper) => w.add("key >= ? AND key < ?", &[prefix, upper]),
            None => w.add("key >= ?", &[prefix]),
        }
    }
    w
}

/// A page of jobs, the newest first: the order they were inserted in (a replayed job is
/// inserted again), read backwards along the table's rowid (`seq` on PostgreSQL), so the first
/// page costs no sort however many finished rows pile up. A page continues after the row whose
/// place `q.after` names: rows inserted meanwhile come before it, so none is met twice.
pub(crate) fn jobs(db: Db<'_>, q: &JobQuery) -> Result<JobPage, StoreError> {
    let order = db.pick("rowid", "seq");
    let (status, upper) =
        (q.status.map(JobStatus::as_str), q.prefix.as_deref().and_then(prefix_upper));
    let mut w = filters(q, &status, &upper);
    let after_sql = format!("{order} < ?");
    if let Some(after) = &q.after {
        w.add(&after_sql, &[after]);
    }
    let limit = w.placeholder(&q.limit);
    let sql = format!(
        "SELECT {COLUMNS}, {order} FROM jobs {} ORDER BY {order} DESC LIMIT {limit}",
        w.sql()
    );
    // The row's place comes after every column `from_row` reads.
    let place = COLUMNS.split(',').count();
    let rows = db.query(&sql, w.params(), |r| Ok((from_row(r)?, r.get::<i64>(place)?)))?;
    let next = rows.last().filter(|_| rows.len() >= q.limit as usize).map(|(_, at)| *at);
    Ok(JobPage { jobs: rows.into_iter().map(|(job, _)| job).collect(), next })
}

/// How many jobs [`jobs`] would list without a limit or a cursor.
pub(crate) fn count_jobs(db: Db<'_>, q: &JobQuery) -> Result<u64, StoreError> {
    let (status, upper) =
        (q.status.map(JobStatus::as_str), q.prefix.as_deref().and_then(prefix_upper));
    let w = filters(q, &status, &upper);
    let n: i64 = db.value(&format!("SELECT count(*) FROM jobs {}", w.sql()), w.params())?;
    Ok(n as u64)
}

/// What drain needs, from the partial indexes only: jobs running, the earliest pending
/// `run_at`, and the gate holding claims, if any.
pub(crate) fn drain_state(
    db: Db<'_>,
    ctx: &StoreCtx,
    now: Timestamp,
) -> Result<DrainState, StoreError> {
    Ok(DrainState {
        running: count(db, "SELECT count(*) FROM jobs WHERE status = 'running'")?,
        next_due: super::claim::next_due(db)?,
        gate: super::gates::current(db, ctx, now)?,
    })
}

/// See [`drain_state`].
#[derive(Debug, Clone)]
pub(crate) struct DrainState {
    pub(crate) running: u64,
    pub(crate) next_due: Option<Timestamp>,
    pub(crate) gate: Option<super::gates::Gate>,
}

/// The spend ledger for the `days` UTC days up to `now`'s, newest first (days with no spend
/// are left out). Each day's sum saturates at `i64::MAX`, as in [`super::gates::spent_today`].
pub(crate) fn ledger(db: Db<'_>, days: u32, now: Timestamp) -> Result<Vec<DaySpend>, StoreError> {
    let back = std::time::Duration::from_secs(86_400) * days.saturating_sub(1);
    let since = crate::clock::utc_day(now - back);
    db.query(
        db.pick(
            // total() is a float, which CAST saturates.
            "SELECT day, CAST(total(micros) AS INTEGER), count(*) FROM spend WHERE day >= ?1
             GROUP BY day ORDER BY day DESC",
            // sum() is numeric, which a CAST past bigint's range refuses: saturate first.
            "SELECT day, CAST(LEAST(sum(micros), 9223372036854775807) AS BIGINT), count(*)
             FROM spend WHERE day >= ?1 GROUP BY day ORDER BY day DESC",
        ),
        ps![since],
        |r| Ok(DaySpend { day: r.get(0)?, micros: r.get(1)?, attempts: r.get(2)? }),
    )
}

fn count(db: Db<'_>, sql: &str) -> Result<u64, StoreError> {
    let n: i64 = db.value(sql, ps![])?;
    Ok(n as u64)
}

#[cfg(test)]
mod tests;
