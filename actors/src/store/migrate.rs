//! Moving up: a SQLite database copied into a PostgreSQL one (`nightshift migrate`).
//!
//! Everything is copied in one transaction on the target, so a failure leaves it as it was;
//! the source is opened read-only and never changed. A target that already holds jobs or dead
//! letters is refused: merging two queues is not a copy. Rows go in their insertion order, so
//! the target's `seq` keeps the order `jobs` lists and claims by. The alert outbox goes too (an
//! alert owed is a promise), the recorded steps, and the control row (kill switch, breaker, cap).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::db::{Col, Db, Param, Row, Value, ps};
use super::pg::Link;
use super::{StoreCtx, open};
use crate::config::EngineConfig;
use crate::error::StoreError;

/// What was copied, table by table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    /// Rows of `jobs`.
    pub jobs: u64,
    /// Rows of `dead_letter`.
    pub dead_letters: u64,
    /// Rows of the spend ledger.
    pub spend: u64,
    /// Rows of the alert outbox.
    pub alerts: u64,
    /// Recorded steps.
    pub steps: u64,
}

/// The tables copied: name, columns (the same on both stores), order of insertion.
const TABLES: [(&str, &str, &str); 5] = [
    (
        "jobs",
        "key, queue, payload, status, attempts, max_attempts, priority, run_at, timeout_ms, \
         lease_token, lease_owner, lease_expires_at, last_error, result, errors, created_at, \
         updated_at, finished_at, started_at, cost_micros, snoozes, limit_name, wait_name, \
         wait_until, wait_dead",
        "rowid",
    ),
    (
        "dead_letter",
        "key, queue, payload, error, attempts, max_attempts, priority, timeout_ms, died, errors, \
         reason, limit_name",
        "died, key",
    ),
    (
        "spend",
        "id, day, key, attempt, micros, at, queue, model, tokens_in, tokens_out, limit_name",
        "id",
    ),
    (
        "alerts",
        "id, kind, key, body, created_at, state, attempts, next_attempt_at, delivered_at, \
         last_error, held, digest",
        "id",
    ),
    ("steps", "job_key, name, output, cost_micros, created_at", "job_key, name"),
];

const CONTROL: &str = "paused, pause_reason, paused_at, breaker_failures, breaker_open_until, \
                       breaker_cooldown_ms, breaker_probe, cap_alerted_day, cap_micros, \
                       cap_set_by, cap_recorded_at";

/// Rows read from the source and written to the target per round trip.
const CHUNK: usize = 500;

/// A value in flight between the stores.
#[derive(Debug, Clone)]
enum Cell {
    Int(i64),
    Text(String),
    Null,
}

impl Param for Cell {
    fn value(&self) -> Value<'_> {
        match self {
            Cell::Int(n) => Value::Int(*n),
            Cell::Text(s) => Value::Text(s),
            Cell::Null => Value::Null,
        }
    }
}

impl Col for Cell {
    fn read(row: &Row<'_>, i: usize) -> Result<Self, StoreError> {
        let Row::Lite(r) = row else { unreachable!("the source is SQLite") };
        Ok(match r.get_ref(i)? {
            rusqlite::types::ValueRef::Null => Cell::Null,
            rusqlite::types::ValueRef::Integer(n) => Cell::Int(n),
            rusqlite::types::ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into()),
            other => {
                return Err(StoreError::Inconsistent(format!(
                    "column {i} holds a {:?}, which nightshift never writes",
                    other.data_type()
                )));
            }
        })
    }
}

/// Copies the SQLite database at `from` into the PostgreSQL database at `to` (creating
/// nightshift's schema there if it is empty).
pub fn copy(from: &Path, to: &str) -> Result<Copied, StoreError> {
    open::check_existing(from)?;
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    // A source from an older nightshift is read as its schema stands: migrate it first.
    let version: i64 = source.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version as usize != open::MIGRATIONS.len() {
        return Err(StoreError::Open(format!(
            "{} has schema version {version}, not {}; run any nightshift command on it once \
             (`nightshift status --db {0}`) to bring it up to date, then migrate",
            from.display(),
            open::MIGRATIONS.len()
        )));
    }
    let link = Link::open(to, true, StoreCtx::from_config(&EngineConfig::new(from)))?;
    link.run(|pg, _| {
        let db = Db::Pg(pg);
        db.batch("BEGIN")?;
        let held: i64 = db.value(
            "SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM dead_letter)",
            ps![],
        )?;
        if held > 0 {
            return Err(StoreError::InvalidValue(
                "the target already holds jobs or dead letters; nightshift copies into an \
                 empty queue only (give it a new database, or drop those rows first)"
                    .to_owned(),
            ));
        }
        Ok(())
    })??;
    let copied = copy_rows(&source, &link);
    let end = if copied.is_ok() { "COMMIT" } else { "ROLLBACK" };
    link.run(move |pg, _| Db::Pg(pg).batch(end))??;
    copied
}

fn copy_rows(source: &Connection, link: &Link) -> Result<Copied, StoreError> {
    let src = Db::Lite(source);
    let mut copied = Copied::default();
    for (table, columns, order) in TABLES {
        let width = columns.split(',').count();
        let read = format!("SELECT {columns} FROM {table} ORDER BY {order} LIMIT ?1 OFFSET ?2");
        let marks: Vec<String> = (1..=width).map(|i| format!("?{i}")).collect();
        let insert = format!("INSERT INTO {table} ({columns}) VALUES ({})", marks.join(", "));
        let mut offset = 0u64;
        loop {
            let rows = src.query(&read, ps![CHUNK, offset], |r| {
                (0..width).map(|i| r.get::<Cell>(i)).collect::<Result<Vec<_>, _>>()
            })?;
            let n = rows.len() as u64;
            let insert = insert.clone();
            link.run(move |pg, _| -> Result<(), StoreError> {
                let db = Db::Pg(pg);
                for row in &rows {
                    let params: Vec<&dyn Param> = row.iter().map(|c| c as &dyn Param).collect();
                    db.exec(&insert, &params)?;
                }
                Ok(())
            })??;
            offset += n;
            if n < CHUNK as u64 {
                break;
            }
        }
        match table {
            "jobs" => copied.jobs = offset,
            "dead_letter" => copied.dead_letters = offset,
            "spend" => copied.spend = offset,
            "steps" => copied.steps = offset,
            _ => copied.alerts = offset,
        }
    }
    let control = src.one(&format!("SELECT {CONTROL} FROM control WHERE id = 1"), ps![], |r| {
        (0..CONTROL.split(',').count()).map(|i| r.get::<Cell>(i)).collect::<Result<Vec<_>, _>>()
    })?;
    link.run(move |pg, _| -> Result<(), StoreError> {
        let db = Db::Pg(pg);
        let sets: Vec<String> = CONTROL
            .split(',')
            .enumerate()
            .map(|(i, c)| format!("{} = ?{}", c.trim(), i + 1))
            .collect();
        let params: Vec<&dyn Param> = control.iter().map(|c| c as &dyn Param).collect();
        db.exec(&format!("UPDATE control SET {} WHERE id = 1", sets.join(", ")), &params)?;
        // Identity columns copied with their values: later rows must number after them.
        for table in ["spend", "alerts"] {
            db.batch(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 GREATEST((SELECT max(id) FROM {table}), 0) + 1, false)"
            ))?;
        }
        Ok(())
    })??;
    Ok(copied)
}
