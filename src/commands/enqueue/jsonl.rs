//! `enqueue --jsonl`: one job per line of JSON. Every line is parsed and checked before any is
//! written; blank lines are skipped, and each job remembers its line for the report.

use std::path::Path;
use std::time::Duration;

use nightshift_actors::NewJob;
use serde::Deserialize;

use crate::Failure;
use crate::config::parse_duration;

/// One line of `--jsonl` input.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    key: String,
    #[serde(default)]
    payload: Option<serde_json::Value>,
    queue: Option<String>,
    max_attempts: Option<u32>,
    #[serde(default)]
    priority: i64,
    delay: Option<String>,
    timeout: Option<String>,
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
    let mut jobs = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let at =
            |msg: String| Failure::Usage(format!("line {}: {msg}; nothing was enqueued", n + 1));
        if raw.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(raw).map_err(|e| at(e.to_string()))?;
        let payload = match line.payload {
            None => "{}".to_owned(),
            Some(serde_json::Value::String(s)) => s,
            Some(other) => other.to_string(),
        };
        if payload.len() > max_payload {
            return Err(at(format!("the payload is over the {max_payload}-byte limit")));
        }
        let delay = line
            .delay
            .as_deref()
            .map(|d| parse_duration("delay", d))
            .transpose()
            .map_err(|e| at(e.0))?;
        let timeout = line
            .timeout
            .as_deref()
            .map(|t| parse_duration("timeout", t))
            .transpose()
            .map_err(|e| at(e.0))?;
        let job = NewJob {
            key: line.key,
            payload,
            queue: line.queue.unwrap_or_else(|| "default".to_owned()),
            max_attempts: line.max_attempts,
            priority: line.priority,
            run_at: delay.map(|d: Duration| super::now() + d),
            timeout,
        };
        jobs.push(LineJob { line: n + 1, job });
    }
    if jobs.is_empty() {
        return Err(Failure::Usage(format!("{} holds no jobs", path.display())));
    }
    Ok(jobs)
}
