//! `nightshift enqueue`: one job from arguments, or many from JSON lines. Everything is checked
//! before anything is written; a key that exists is reported, never overwritten.

use std::io::{IsTerminal, Read};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nightshift_actors::{Enqueued, NewJob, Timestamp};
use serde::Deserialize;
use serde_json::json;

use crate::Failure;
use crate::cli::EnqueueArgs;
use crate::config::{Settings, parse_duration};
use crate::output;

pub fn run(settings: &Settings, args: &EnqueueArgs) -> Result<(), Failure> {
    let jobs = match &args.jsonl {
        Some(path) => read_jsonl(path, settings.max_payload)?,
        None => vec![from_args(args, settings.max_payload)?],
    };
    let mut admin = super::admin(settings)?;
    let outcomes = admin.enqueue_all(&jobs)?;
    let mut conflicts = Vec::new();
    for (job, outcome) in jobs.iter().zip(&outcomes) {
        if args.json {
            let mut v = serde_json::to_value(outcome).unwrap_or_default();
            v["key"] = json!(job.key);
            output::json(&v);
        } else {
            match outcome {
                Enqueued::Enqueued => println!("enqueued {}", job.key),
                Enqueued::Duplicate { status } => println!("duplicate {} ({status})", job.key),
                Enqueued::DeadLettered => println!("dead_lettered {}", job.key),
                Enqueued::Conflict { status } => println!("conflict {} ({status})", job.key),
            }
        }
        if let Enqueued::Conflict { status } = outcome {
            conflicts.push(format!("{} ({status})", job.key));
        }
    }
    if conflicts.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(format!(
            "conflict: {} already exists with a different payload; nothing changed. Use another key, \
             or wait for the job to finish and purge it first",
            conflicts.join(", ")
        )))
    }
}

fn from_args(args: &EnqueueArgs, max_payload: usize) -> Result<NewJob, Failure> {
    let key = args.key.clone().unwrap_or_default();
    let payload = match args.payload.as_deref() {
        None => "{}".to_owned(),
        Some("-") => read_stdin(max_payload)?,
        Some(text) => text.to_owned(),
    };
    let run_at = match (&args.delay, &args.at) {
        (Some(d), _) => Some(now() + parse_duration("--delay", d)?.as_millis() as i64),
        (_, Some(at)) => Some(parse_at(at)?),
        _ => None,
    };
    Ok(NewJob {
        key,
        payload,
        queue: args.queue.clone(),
        max_attempts: args.max_attempts,
        priority: args.priority,
        run_at,
        timeout: args.timeout.as_deref().map(|t| parse_duration("--timeout", t)).transpose()?,
    })
}

fn read_stdin(max_payload: usize) -> Result<String, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Failure::Usage(
            "payload `-` reads stdin, which is a terminal; pipe the payload in, or give it as an argument"
                .to_owned(),
        ));
    }
    read_limited(stdin.lock(), max_payload, "stdin")
}

/// Reads at most `limit` bytes of UTF-8, refusing more without buffering it all.
fn read_limited(input: impl Read, limit: usize, what: &str) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    input
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Usage(format!("cannot read the payload from {what}: {e}")))?;
    if bytes.len() > limit {
        return Err(Failure::Usage(format!(
            "the payload from {what} is over the {limit}-byte limit; raise [store] max_payload or send less"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        Failure::Usage(format!(
            "the payload from {what} is not UTF-8 (invalid byte at offset {}); payloads are text, \
             send binary data base64-encoded",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn parse_at(text: &str) -> Result<Timestamp, Failure> {
    let t = humantime::parse_rfc3339_weak(text.trim()).map_err(|e| {
        Failure::Usage(format!(
            "--at {text:?} is not an RFC 3339 time ({e}); write it like 2026-11-24T07:00:00Z"
        ))
    })?;
    Ok(t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0))
}

fn now() -> Timestamp {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

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

fn read_jsonl(path: &std::path::Path, max_payload: usize) -> Result<Vec<NewJob>, Failure> {
    let text = if path.as_os_str() == "-" {
        read_stdin(usize::MAX / 2)?
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
        read_limited(file, 1 << 30, &path.display().to_string())?
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
        jobs.push(NewJob {
            key: line.key,
            payload,
            queue: line.queue.unwrap_or_else(|| "default".to_owned()),
            max_attempts: line.max_attempts,
            priority: line.priority,
            run_at: delay.map(|d: Duration| now() + d.as_millis() as i64),
            timeout,
        });
    }
    if jobs.is_empty() {
        return Err(Failure::Usage(format!("{} holds no jobs", path.display())));
    }
    Ok(jobs)
}
