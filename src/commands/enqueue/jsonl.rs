//! `enqueue --jsonl`: one job per line of JSON. Every line is parsed and checked before any is
//! written; blank lines are skipped, and each job remembers its line for the report.

use std::path::Path;
use std::time::Duration;

use nightshift_actors::NewJob;
use serde::Deserialize;

use crate::Failure;
use crate::config::parse_duration;

/// One line of `--jsonl` input, and the body of `POST /api/jobs`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// The idempotency key: enqueueing it again changes nothing.
    key: String,
    /// The handler's stdin: a JSON string is sent as its text, any other JSON value as JSON
    /// (`{}` when absent).
    #[serde(default)]
    payload: Option<serde_json::Value>,
    /// The queue (`default` when absent).
    queue: Option<String>,
    /// Attempts allowed (the config's `[retry] max_attempts` when absent).
    max_attempts: Option<u32>,
    /// Higher runs first.
    #[serde(default)]
    priority: i64,
    /// Not before this long from now, e.g. `90s`, `2h`.
    delay: Option<String>,
    /// This job's handler timeout, e.g. `10m`.
    timeout: Option<String>,
    /// The `[[limit]]` the job counts against.
    limit: Option<String>,
}

/// A job read from a line, with that line's number (1-based).
pub struct LineJob {
    pub line: usize,
    pub job: NewJob,
}

/// Reads the jobs of `path` (`-` is stdin).
pub fn read(path: &Path, max_payload: usize) -> Result<Vec<LineJob>, Failure> {
    let text = if path.as_os_str() == "-" {
        super::read_stdin(usize::MAX / 2)?
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
        super::read_limited(file, 1 << 30, &path.display().to_string())?
    };
    let jobs = parse(&text, max_payload).map_err(|e| Failure::Usage(e.to_string()))?;
    if jobs.is_empty() {
        return Err(Failure::Usage(format!("{} holds no jobs", path.display())));
    }
    Ok(jobs)
}

/// The jobs of JSON lines (blank lines skipped), each read as [`Line::into_job`] reads it;
/// the first bad line refuses them all. (The store checks keys and values when it enqueues.)
pub fn parse(text: &str, max_payload: usize) -> Result<Vec<LineJob>, BadLine> {
    let mut jobs = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let at = |error| BadLine { line: n + 1, error };
        if raw.trim().is_empty() {
            continue;
        }
        let line: Line =
            serde_json::from_str(raw).map_err(|e| at(LineError::Unreadable(e.to_string())))?;
        let job = line.into_job(max_payload).map_err(at)?;
        jobs.push(LineJob { line: n + 1, job });
    }
    Ok(jobs)
}

/// The line that refused a batch, and why.
#[derive(Debug)]
pub struct BadLine {
    /// 1-based.
    pub line: usize,
    pub error: LineError,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}; nothing was enqueued", self.line, self.error)
    }
}

/// Why a [`Line`] is not a job.
#[derive(Debug)]
pub enum LineError {
    /// The payload is over `[store] max_payload` bytes.
    TooLarge(usize),
    /// A field's value is wrong (a duration that does not parse, a key the store refuses).
    Invalid(String),
    /// The line is not a job's JSON object.
    Unreadable(String),
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::TooLarge(max) => write!(f, "the payload is over the {max}-byte limit"),
            LineError::Invalid(why) | LineError::Unreadable(why) => f.write_str(why),
        }
    }
}

impl Line {
    /// The job this line asks for: a payload given as a JSON string is the string's text,
    /// any other JSON value its compact text; no payload is `{}`.
    pub fn into_job(self, max_payload: usize) -> Result<NewJob, LineError> {
        let payload = match self.payload {
            None => "{}".to_owned(),
            Some(serde_json::Value::String(s)) => s,
            Some(other) => other.to_string(),
        };
        if payload.len() > max_payload {
            return Err(LineError::TooLarge(max_payload));
        }
        let duration = |what: &str, text: Option<String>| {
            text.as_deref()
                .map(|t| parse_duration(what, t))
                .transpose()
                .map_err(|e| LineError::Invalid(e.0))
        };
        let delay = duration("delay", self.delay)?;
        let timeout = duration("timeout", self.timeout)?;
        Ok(NewJob {
            key: self.key,
            payload,
            queue: self.queue.unwrap_or_else(|| "default".to_owned()),
            max_attempts: self.max_attempts,
            priority: self.priority,
            run_at: delay.map(|d: Duration| super::now() + d),
            timeout,
            limit: self.limit,
        })
    }
}
