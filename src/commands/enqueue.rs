//! `nightshift enqueue`: one job from arguments, or many from JSON lines. Everything is checked
//! before anything is written; a key that exists is reported, never overwritten.

mod conflict;
pub mod jsonl;

use std::io::{IsTerminal, Read};

use nightshift_actors::{Clock, Enqueued, NewJob, SystemClock, Timestamp};
use serde::Serialize;
use serde_json::json;

use crate::Failure;
use crate::cli::EnqueueArgs;
use crate::config::payload::Taken;
use crate::config::{PayloadFormat, Settings, parse_duration};
use crate::output;
use crate::output::outln;
use conflict::Conflict;
use jsonl::LineJob;

pub fn run(settings: &Settings, args: &EnqueueArgs) -> Result<(), Failure> {
    let bulk = args.jsonl.is_some();
    let jobs = match &args.jsonl {
        Some(path) => jsonl::read(path, settings.max_payload)?,
        None => vec![LineJob { line: 0, job: from_args(args, settings.max_payload)? }],
    };
    check_limits(settings, &jobs)?;
    for warning in check_payloads(settings, args, &jobs)? {
        eprintln!("nightshift: warning: {warning}");
    }
    let mut admin = super::admin(settings)?;
    let new: Vec<NewJob> = jobs.iter().map(|j| j.job.clone()).collect();
    let outcomes = admin.enqueue_all(&new)?;
    let mut conflicts = Vec::new();
    for (j, outcome) in jobs.iter().zip(&outcomes) {
        if let Enqueued::Conflict { status } = outcome {
            conflicts.push(Conflict {
                key: &j.job.key,
                status: *status,
                line: bulk.then_some(j.line),
                given: &j.job.payload,
                // Best effort: the enqueue has committed, and what it did must be printed even
                // if this read fails.
                stored: admin.job(&j.job.key).ok().flatten().map(|r| r.payload),
            });
        }
    }
    let counts = Counts::of(&outcomes);
    // The conflicts in the order of their jobs, met again one by one below.
    let mut next_conflict = conflicts.iter();
    for (j, outcome) in jobs.iter().zip(&outcomes) {
        let key = &j.job.key;
        if args.json {
            let differs_at = match outcome {
                Enqueued::Conflict { .. } => next_conflict.next().and_then(Conflict::differs_at),
                _ => None,
            };
            let mut v = outcome_json(key, outcome, differs_at);
            if bulk {
                v.line = Some(j.line);
            }
            output::print_json(&v)?;
        } else {
            outln!("{}", output::enqueued(key, outcome))?;
        }
    }
    if bulk {
        if args.json {
            output::print_json(&json!({ "summary": counts.json() }))?;
        } else {
            outln!("{}", counts.text())?;
        }
    }
    if conflicts.is_empty() {
        return Ok(());
    }
    if !bulk {
        return Err(Failure::Failed(conflict::single(&conflicts[0])));
    }
    let outcome = if counts.enqueued == 0 {
        format!("nothing changed ({})", counts.text())
    } else {
        format!(
            "{} of {} lines conflicted and changed nothing; the others were applied ({})",
            counts.conflict,
            counts.lines,
            counts.text()
        )
    };
    Err(Failure::Failed(conflict::bulk(&conflicts, &outcome)))
}

/// What `enqueue --json` prints for one job (and `POST /api/jobs` answers): the outcome, the
/// key, and for a conflict the byte where the payloads differ (`None`: the row went away).
pub fn outcome_json(key: &str, outcome: &Enqueued, differs_at: Option<usize>) -> EnqueueAnswer {
    let conflict = matches!(outcome, Enqueued::Conflict { .. });
    EnqueueAnswer {
        key: key.to_owned(),
        outcome: outcome.clone(),
        differs_at_byte: conflict.then_some(differs_at),
        line: None,
    }
}

/// What `enqueue --json` prints for one job (and `POST /api/jobs` answers).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnqueueAnswer {
    /// The job's key.
    pub key: String,
    /// What happened: `outcome` is `enqueued`, `duplicate`, `conflict` or `dead_lettered`;
    /// a duplicate and a conflict name the existing job's `status`.
    #[serde(flatten)]
    pub outcome: Enqueued,
    /// A conflict only: the first byte where the stored payload and the one sent differ
    /// (null when it cannot be told).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub differs_at_byte: Option<Option<usize>>,
    /// A batch (`--jsonl`, JSON lines over HTTP) only: the job's line, 1-based.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

/// The byte where a stored payload and a given one start to differ.
pub fn differs_at(stored: &str, given: &str) -> usize {
    conflict::first_difference(stored, given)
}

/// How many jobs had each outcome.
#[derive(Default)]
pub struct Counts {
    lines: usize,
    enqueued: usize,
    duplicate: usize,
    dead_lettered: usize,
    cancelled: usize,
    conflict: usize,
}

impl Counts {
    pub fn of(outcomes: &[Enqueued]) -> Self {
        let mut c = Counts { lines: outcomes.len(), ..Counts::default() };
        for outcome in outcomes {
            match outcome {
                Enqueued::Enqueued => c.enqueued += 1,
                Enqueued::Duplicate { .. } => c.duplicate += 1,
                Enqueued::DeadLettered => c.dead_lettered += 1,
                Enqueued::Cancelled => c.cancelled += 1,
                Enqueued::Conflict { .. } => c.conflict += 1,
            }
        }
        c
    }

    fn text(&self) -> String {
        let cancelled = match self.cancelled {
            0 => String::new(),
            n => format!(", {n} cancelled"),
        };
        format!(
            "{} lines: {} enqueued, {} duplicate, {} dead_lettered, {} conflict{cancelled}",
            self.lines, self.enqueued, self.duplicate, self.dead_lettered, self.conflict
        )
    }

    /// The `summary` line of `enqueue --jsonl --json`.
    pub fn json(&self) -> serde_json::Value {
        let mut summary = json!({
            "lines": self.lines,
            "enqueued": self.enqueued,
            "duplicate": self.duplicate,
            "dead_lettered": self.dead_lettered,
            "conflict": self.conflict,
        });
        // Only when a line named a cancelled key: the summary stays as it was otherwise.
        if self.cancelled > 0 {
            summary["cancelled"] = json!(self.cancelled);
        }
        summary
    }
}

/// The advice for a payload given on the command line that is not JSON.
const QUOTE_IT: &str =
    "If a shell ate the quotes, quote the whole payload, e.g. '{\"topic\":\"inbox\"}'";

/// Refuses the whole batch if a payload is not JSON where JSON is required (`--json-payload`
/// or `[store] payload = "json"`); otherwise returns a warning for each text payload that
/// starts like JSON but does not parse.
fn check_payloads(
    settings: &Settings,
    args: &EnqueueArgs,
    jobs: &[LineJob],
) -> Result<Vec<String>, Failure> {
    let (format, rule) = if args.json_payload {
        (PayloadFormat::Json, "--json-payload")
    } else {
        (settings.payload, "[store] payload = \"json\"")
    };
    let mut warnings = Vec::new();
    for LineJob { line, job } in jobs {
        let (whose, advice) = match args.jsonl {
            Some(_) => (
                format!("line {line}: the payload of {:?}", job.key),
                "To send JSON, give the payload as a JSON value, not as a string",
            ),
            None => ("the payload".to_owned(), QUOTE_IT),
        };
        match format.check(&job.payload) {
            Ok(Taken::Quietly) => {}
            Ok(Taken::WithWarning(why)) => warnings.push(format!(
                "{whose} starts like JSON but is not JSON ({why}); enqueuing it as text anyway. \
                 {advice}. To refuse such payloads, pass --json-payload or set [store] payload = \
                 \"json\""
            )),
            Err(why) => {
                return Err(Failure::Usage(format!(
                    "{whose} is not JSON ({why}), and {rule} requires JSON; nothing was \
                     enqueued. {advice}"
                )));
            }
        }
    }
    Ok(warnings)
}

/// Every limit a job names must be a `[[limit]]` of the config: a typo would otherwise run
/// the job unlimited.
fn check_limits(settings: &Settings, jobs: &[LineJob]) -> Result<(), Failure> {
    for j in jobs {
        if let Some(why) = unknown_limit(settings, &j.job) {
            let at = if j.line > 0 { format!("line {}: ", j.line) } else { String::new() };
            return Err(Failure::Usage(format!("{at}{why}; nothing was enqueued")));
        }
    }
    Ok(())
}

/// Why `job`'s limit is refused, when it names one the config does not define.
pub fn unknown_limit(settings: &Settings, job: &NewJob) -> Option<String> {
    let name = job.limit.as_deref()?;
    let names: Vec<&str> = settings.limits.iter().map(|l| l.name.as_str()).collect();
    if names.contains(&name) {
        return None;
    }
    let known = match names.is_empty() {
        true => "no [[limit]] is configured".to_owned(),
        false => format!("the configured limits are {}", names.join(", ")),
    };
    Some(format!(
        "unknown limit {name:?}: {known}. Add a [[limit]] with name = {name:?} to the config, \
         or fix the name"
    ))
}

fn from_args(args: &EnqueueArgs, max_payload: usize) -> Result<NewJob, Failure> {
    let key = args.key.clone().unwrap_or_default();
    let payload = match args.payload.as_deref() {
        None => "{}".to_owned(),
        Some("-") => read_stdin(max_payload)?,
        Some(text) => text.to_owned(),
    };
    let run_at = match (&args.delay, &args.at) {
        (Some(d), _) => Some(now() + parse_duration("--delay", d)?),
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
        limit: args.limit.clone(),
    })
}

fn read_stdin(limit: usize) -> Result<String, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Failure::Usage(
            "payload `-` reads stdin, which is a terminal; pipe the payload in, or give it as an argument"
                .to_owned(),
        ));
    }
    read_limited(stdin.lock(), limit, "stdin")
}

/// Reads at most `limit` bytes of UTF-8, refusing more without buffering it all. One final
/// "\n" or "\r\n" is dropped first: `echo '{"a":1}' | nightshift enqueue k -` stores what
/// `nightshift enqueue k '{"a":1}'` does (and `--jsonl` input loses only an empty last line).
fn read_limited(input: impl Read, limit: usize, what: &str) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    input
        .take(limit as u64 + 3)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Usage(format!("cannot read the payload from {what}: {e}")))?;
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
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
    Ok(Timestamp::from_system(t))
}

fn now() -> Timestamp {
    SystemClock.now()
}
