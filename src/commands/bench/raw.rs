//! The yardstick: a job's whole lifecycle (insert, claim under a lease token, complete) done by
//! the database's own client in transactions of 100, with nothing of the engine in between:
//! raw rusqlite here, the raw `postgres` client in [`pg`].
//!
//! Kept honest by sharing everything with the engine but the engine: the database is created by
//! nightshift itself (`Admin::create`, every migration), so the table, its columns and its
//! indexes are ours by construction; a SQLite connection sets the pragmas the engine's do
//! (WAL, the same `synchronous`, foreign keys, busy timeout); the statements are the engine's
//! own insert, claim (the claim index, in the claim order, `run_at <= now`; on PostgreSQL
//! `FOR UPDATE SKIP LOCKED` as the engine's) and lease-fenced complete. What it leaves out is
//! what it measures the engine against: the gates read per claim, the spend and breaker
//! bookkeeping, and the round trips between actors.

pub(super) mod pg;

use std::path::Path;
use std::time::{Duration, Instant};

use nightshift_actors::Admin;
use rusqlite::{Connection, params};

use super::engine::config;
use super::{Level, failed};
use crate::Failure;

/// Jobs per transaction, in each of the three phases.
const BATCH: usize = 100;
/// The lease a raw claim takes, as the engine's default.
const LEASE_MS: i64 = 60_000;

/// The engine's insert, lease and complete statements (`?N` placeholders; [`pg`] numbers them
/// `$N`).
const INSERT: &str = "INSERT INTO jobs (key, queue, payload, status, max_attempts, priority,
                                        run_at, timeout_ms, created_at, updated_at)
                      VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?8, ?8)
                      ON CONFLICT (key) DO NOTHING";
const LEASE: &str = "UPDATE jobs SET status = 'running', lease_token = ?2, lease_owner = ?3,
                                     lease_expires_at = ?4, updated_at = ?5
                     WHERE key = ?1";
const COMPLETE: &str = "UPDATE jobs SET status = 'done', result = ?3, finished_at = ?4,
                                        updated_at = ?4, lease_token = NULL,
                                        lease_owner = NULL, lease_expires_at = NULL
                        WHERE key = ?1 AND lease_token = ?2 AND status = 'running'";
const DONE: &str = "SELECT count(*) FROM jobs WHERE status = 'done'";

/// One database's three phases, each call one transaction.
pub(super) trait Lifecycle {
    type Error: std::fmt::Display;
    /// Inserts the jobs named `keys`.
    fn insert(&mut self, keys: &[String], now: i64) -> Result<(), Self::Error>;
    /// Claims up to [`BATCH`] due jobs, each under a new token; returns (key, token).
    fn claim(
        &mut self,
        now: i64,
        tokens: &mut Tokens,
    ) -> Result<Vec<(String, String)>, Self::Error>;
    /// Completes claimed jobs, fenced by their tokens.
    fn complete(&mut self, claimed: &[(String, String)], now: i64) -> Result<(), Self::Error>;
    /// How many jobs are done.
    fn done(&mut self) -> Result<i64, Self::Error>;
}

/// Seconds for the whole lifecycle of `jobs` jobs; checks every one was done.
pub(super) fn timed<L: Lifecycle>(db: &mut L, jobs: usize, who: &str) -> Result<f64, Failure> {
    let start = Instant::now();
    run(db, jobs).map_err(failed)?;
    let secs = start.elapsed().as_secs_f64();
    let done = db.done().map_err(failed)?;
    if done as usize != jobs {
        return Err(failed(format!("{who} finished {done} of {jobs} jobs")));
    }
    Ok(secs)
}

fn run<L: Lifecycle>(db: &mut L, jobs: usize) -> Result<(), L::Error> {
    let mut tokens = Tokens(now_ms() as u64);
    for first in (0..jobs).step_by(BATCH) {
        let keys: Vec<String> =
            (first..(first + BATCH).min(jobs)).map(|i| format!("job-{i}")).collect();
        db.insert(&keys, now_ms())?;
    }
    loop {
        let claimed = db.claim(now_ms(), &mut tokens)?;
        if claimed.is_empty() {
            return Ok(());
        }
        db.complete(&claimed, now_ms())?;
    }
}

/// Seconds for the whole lifecycle of `jobs` jobs on a new SQLite database at `db`.
pub(super) fn lifecycle(db: &Path, jobs: usize, level: Level) -> Result<f64, Failure> {
    drop(Admin::create(&config(db, 1, level.sync))?);
    let conn = Connection::open(db).map_err(failed)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(failed)?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)).map_err(failed)?;
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {}; PRAGMA foreign_keys = ON;",
        level.pragma
    ))
    .map_err(failed)?;
    timed(&mut Lite(conn), jobs, "raw rusqlite")
}

struct Lite(Connection);

impl Lifecycle for Lite {
    type Error = rusqlite::Error;

    fn insert(&mut self, keys: &[String], now: i64) -> rusqlite::Result<()> {
        let tx = self.0.transaction()?;
        let mut insert = tx.prepare_cached(INSERT)?;
        for key in keys {
            insert.execute(params![key, "default", "{}", 4, 0, now, None::<i64>, now])?;
        }
        drop(insert);
        tx.commit()
    }

    fn claim(&mut self, now: i64, tokens: &mut Tokens) -> rusqlite::Result<Vec<(String, String)>> {
        let tx = self.0.transaction()?;
        let claimed = {
            let mut due = tx.prepare_cached(
                "SELECT key, queue, payload, attempts, max_attempts, timeout_ms
                 FROM jobs INDEXED BY jobs_claim
                 WHERE status = 'pending' AND run_at <= ?1
                 ORDER BY priority DESC, run_at, rowid LIMIT ?2",
            )?;
            // Every column read, as the engine reads them to hand the job to its handler.
            let keys: Vec<String> = due
                .query_map(params![now, BATCH as i64], |r| {
                    let _job: (String, String, u32, u32, Option<i64>) =
                        (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
                    r.get(0)
                })?
                .collect::<Result<_, _>>()?;
            let mut lease = tx.prepare_cached(LEASE)?;
            let mut claimed = Vec::with_capacity(keys.len());
            for key in keys {
                let token = tokens.next();
                lease.execute(params![key, token, "raw", now + LEASE_MS, now])?;
                claimed.push((key, token));
            }
            claimed
        };
        tx.commit()?;
        Ok(claimed)
    }

    fn complete(&mut self, claimed: &[(String, String)], now: i64) -> rusqlite::Result<()> {
        let tx = self.0.transaction()?;
        let mut complete = tx.prepare_cached(COMPLETE)?;
        for (key, token) in claimed {
            complete.execute(params![key, token, None::<String>, now])?;
        }
        drop(complete);
        tx.commit()
    }

    fn done(&mut self) -> rusqlite::Result<i64> {
        self.0.query_row(DONE, [], |r| r.get(0))
    }
}

fn now_ms() -> i64 {
    nightshift_actors::Clock::now(&nightshift_actors::SystemClock).as_millis()
}

/// Lease tokens of 128 bits in hex, as the engine's, from a splitmix64 sequence: unguessable is
/// not needed here, the same size and formatting work is.
pub(super) struct Tokens(u64);

impl Tokens {
    fn next(&mut self) -> String {
        let mut half = || {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        format!("{:016x}{:016x}", half(), half())
    }
}
