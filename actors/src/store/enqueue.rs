//! Enqueue: idempotent on the key. A key already in `jobs` is a duplicate (same payload) or a
//! conflict (another payload); a key in `dead_letter` stays buried until `replay`.

use super::StoreCtx;
use super::db::{Db, ps};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::{Enqueued, JobStatus, NewJob};

/// Checks a key against the rules: 1 to 255 bytes of UTF-8, no control characters.
pub(crate) fn validate_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::InvalidKey("the key is empty; give 1 to 255 bytes".to_owned()));
    }
    if key.len() > 255 {
        return Err(StoreError::InvalidKey(format!(
            "the key is {} bytes; keys are at most 255 bytes",
            key.len()
        )));
    }
    if let Some((pos, c)) = key.char_indices().find(|(_, c)| c.is_control()) {
        return Err(StoreError::InvalidKey(format!(
            "control character {:?} at byte {pos}; keys may not hold control characters",
            c
        )));
    }
    Ok(())
}

/// Checks a job before it reaches the Store's transaction.
pub(crate) fn validate(job: &NewJob, max_payload: usize) -> Result<(), StoreError> {
    validate_key(&job.key)?;
    if job.payload.len() > max_payload {
        return Err(StoreError::PayloadTooLarge { size: job.payload.len(), limit: max_payload });
    }
    if job.queue.is_empty() || job.queue.len() > 255 || job.queue.chars().any(char::is_control) {
        return Err(StoreError::InvalidValue(
            "queue names are 1 to 255 bytes with no control characters".to_owned(),
        ));
    }
    if job.max_attempts == Some(0) {
        return Err(StoreError::InvalidValue("max_attempts must be at least 1".to_owned()));
    }
    if job.limit.as_deref().is_some_and(|l| !crate::limit::valid_name(l)) {
        return Err(StoreError::InvalidValue(
            "limit names are 1 to 64 letters, digits, '-', '_' or '.'".to_owned(),
        ));
    }
    if job.timeout.is_some_and(|t| t.is_zero()) {
        return Err(StoreError::InvalidValue("the timeout must be above zero".to_owned()));
    }
    Ok(())
}

impl NewJob {
    /// Checks this job against the rules every enqueue applies (key, payload size, queue name,
    /// attempts, timeout) without a database, for a caller that must refuse a job before it
    /// starts anything: a config's `[[schedule]]` entries are checked this way when it loads.
    pub fn validate(&self, max_payload: usize) -> Result<(), StoreError> {
        validate(self, max_payload)
    }
}

/// Enqueues `jobs` as one operation: all are checked first, so a bad one writes nothing (the
/// error names it by position and key); then each is enqueued idempotently.
pub(crate) fn run_all(
    db: Db<'_>,
    ctx: &StoreCtx,
    jobs: &[NewJob],
    now: Timestamp,
) -> Result<Vec<Enqueued>, StoreError> {
    for (i, job) in jobs.iter().enumerate() {
        validate(job, ctx.max_payload)
            .map_err(|e| StoreError::InvalidValue(format!("job {} ({:?}): {e}", i + 1, job.key)))?;
    }
    jobs.iter().map(|job| run(db, ctx, job, now)).collect()
}

/// Enqueues one job, idempotently on its key. A job that names no limit counts against the
/// `[[limit]]` that lists its queue, if one does: every enqueue (the CLI, JSON lines, the HTTP
/// API, schedules, the embedding API) passes here, with the limits of the process's config.
pub(crate) fn run(
    db: Db<'_>,
    ctx: &StoreCtx,
    job: &NewJob,
    now: Timestamp,
) -> Result<Enqueued, StoreError> {
    validate(job, ctx.max_payload)?;
    if db.exists("SELECT 1 FROM dead_letter WHERE key = ?1", ps![job.key])? {
        return Ok(Enqueued::DeadLettered);
    }
    let limit = job.limit.as_deref().or_else(|| crate::limit::of_queue(&ctx.limits, &job.queue));
    let inserted = db.exec(
        "INSERT INTO jobs (key, queue, payload, status, max_attempts, priority, run_at,
                           timeout_ms, created_at, updated_at, limit_name)
         VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?8, ?8, ?9)
         ON CONFLICT (key) DO NOTHING",
        ps![
            job.key,
            job.queue,
            job.payload,
            job.max_attempts.unwrap_or(ctx.retry.max_attempts),
            job.priority,
            job.run_at.unwrap_or(now),
            job.timeout.map(crate::clock::millis),
            now,
            limit,
        ],
    )?;
    if inserted == 1 {
        db.notify()?;
        return Ok(Enqueued::Enqueued);
    }
    let existing: Option<(String, String)> =
        db.opt("SELECT payload, status FROM jobs WHERE key = ?1", ps![job.key], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let Some((payload, status)) = existing else {
        return Err(StoreError::Inconsistent(format!("key {:?} vanished during enqueue", job.key)));
    };
    let status = JobStatus::parse(&status).unwrap_or(JobStatus::Pending);
    if status == JobStatus::Cancelled {
        return Ok(Enqueued::Cancelled);
    }
    Ok(if payload == job.payload {
        Enqueued::Duplicate { status }
    } else {
        Enqueued::Conflict { status }
    })
}
