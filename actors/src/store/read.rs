//! Reads for `status`, `jobs` and drain: counts, one job, a filtered list.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreCtx;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::{DaySpend, JobRecord, JobStatus, Status};

/// Pending and running jobs from their partial indexes (live rows only), and every row of
/// `jobs` and `dead_letter` from the counts the triggers of migration 0004 keep: `status` never
/// reads a finished row, however many pile up.
pub(crate) const COUNTS: &str = "SELECT (SELECT count(*) FROM jobs WHERE status = 'pending'),
                                        (SELECT count(*) FROM jobs WHERE status = 'running'),
                                        jobs, dead
                                 FROM row_counts WHERE id = 1";

/// Alerts not delivered (pending or given up), counted from their partial index alone.
pub(crate) const UNDELIVERED: &str = "SELECT count(*) FROM alerts WHERE state != 'delivered'";

/// Counts by status, dead letters, gates, spend: each from a counter row or an index that
/// holds only live rows, never a scan of the finished ones.
pub(crate) fn status(
    conn: &Connection,
    ctx: &StoreCtx,
    now: Timestamp,
) -> Result<Status, StoreError> {
    let mut st = Status::default();
    let n = |r: &Row<'_>, i: usize| r.get::<_, i64>(i).map(|n| n.max(0) as u64);
    let all;
    (st.pending, st.running, all, st.dead) = conn
        .prepare_cached(COUNTS)?
        .query_row([], |r| Ok((n(r, 0)?, n(r, 1)?, n(r, 2)?, n(r, 3)?)))?;
    // Every status but pending and running is done (DESIGN.md section 4).
    st.done = all.saturating_sub(st.pending + st.running);
    st.next_due = super::claim::next_due(super::db::Db::Lite(conn))?;
    st.oldest_pending_ms = st.next_due.filter(|t| *t <= now).map(|t| now.millis_since(t));
    let control = super::gates::load_control(conn)?;
    let cap = control.cap_in_force(ctx);
    (st.cap_micros, st.cap_set_by) = (cap.micros, cap.set_by);
    st.paused = control.paused;
    st.pause_reason = control.pause_reason;
    st.alerts_undelivered = count(conn, UNDELIVERED)?;
    st.spend_today_micros = super::gates::spent_today(super::db::Db::Lite(conn), now)?;
    st.gate = super::gates::current(super::db::Db::Lite(conn), ctx, now)?;
    st.breaker_failures = conn
        .prepare_cached("SELECT breaker_failures FROM control WHERE id = 1")?
        .query_row([], |r| r.get(0))?;
    Ok(st)
}

const COLUMNS: &str =
    "key, queue, payload, status, attempts, max_attempts, priority, run_at, last_error, result";

fn from_row(r: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let status: String = r.get(3)?;
    Ok(JobRecord {
        key: r.get(0)?,
        queue: r.get(1)?,
        payload: r.get(2)?,
        status: JobStatus::parse(&status).unwrap_or(JobStatus::Pending),
        attempts: r.get(4)?,
        max_attempts: r.get(5)?,
        priority: r.get(6)?,
        run_at: r.get(7)?,
        last_error: r.get(8)?,
        result: r.get(9)?,
    })
}

/// One job by key.
pub(crate) fn job(conn: &Connection, key: &str) -> Result<Option<JobRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE key = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([key], from_row).optional()?)
}

/// The filter of [`jobs`] and [`count_jobs`].
const FILTER: &str = "(?1 IS NULL OR status = ?1) AND (?2 IS NULL OR queue = ?2)";

/// Jobs, optionally of one status and queue, the newest first: the order they were inserted
/// in (a replayed job is inserted again), read backwards along the table's rowid, so the first
/// page costs no sort however many finished rows pile up.
pub(crate) fn jobs(
    conn: &Connection,
    status: Option<JobStatus>,
    queue: Option<&str>,
    limit: u32,
) -> Result<Vec<JobRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE {FILTER} ORDER BY rowid DESC LIMIT ?3");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![status.map(JobStatus::as_str), queue, limit], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// How many jobs [`jobs`] would list without a limit.
pub(crate) fn count_jobs(
    conn: &Connection,
    status: Option<JobStatus>,
    queue: Option<&str>,
) -> Result<u64, StoreError> {
    let sql = format!("SELECT count(*) FROM jobs WHERE {FILTER}");
    let n: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params![status.map(JobStatus::as_str), queue], |r| r.get(0))?;
    Ok(n as u64)
}

/// What drain needs, from the partial indexes only: jobs running, the earliest pending
/// `run_at`, and the gate holding claims, if any.
pub(crate) fn drain_state(
    conn: &Connection,
    ctx: &StoreCtx,
    now: Timestamp,
) -> Result<DrainState, StoreError> {
    Ok(DrainState {
        running: count(conn, "SELECT count(*) FROM jobs WHERE status = 'running'")?,
        next_due: super::claim::next_due(super::db::Db::Lite(conn))?,
        gate: super::gates::current(super::db::Db::Lite(conn), ctx, now)?,
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
pub(crate) fn ledger(
    conn: &Connection,
    days: u32,
    now: Timestamp,
) -> Result<Vec<DaySpend>, StoreError> {
    let back = std::time::Duration::from_secs(86_400) * days.saturating_sub(1);
    let since = crate::clock::utc_day(now - back);
    let mut stmt = conn.prepare_cached(
        "SELECT day, CAST(total(micros) AS INTEGER), count(*) FROM spend WHERE day >= ?1
         GROUP BY day ORDER BY day DESC",
    )?;
    let rows = stmt
        .query_map([since], |r| {
            Ok(DaySpend { day: r.get(0)?, micros: r.get(1)?, attempts: r.get::<_, i64>(2)? as u64 })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn count(conn: &Connection, sql: &str) -> Result<u64, StoreError> {
    let n: i64 = conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?;
    Ok(n as u64)
}
