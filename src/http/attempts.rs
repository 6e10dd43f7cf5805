//! The job page's table of attempts: for each, when it started, how long it ran, how it exited,
//! the tail of its error, and what it cost, as the store kept them (`errors` for each failed or
//! interrupted attempt; `started_at`, `finished_at` and `cost_micros` for the running or
//! finishing one).

use std::time::Duration;

use nightshift_actors::{AttemptError, JobRecord, JobStatus, StepRecord, Timestamp};

use super::page::escape;
use crate::output;

/// The attempt a job is on or ended with, beside the failed ones.
pub struct Current {
    pub attempt: u32,
    pub started_at: Option<Timestamp>,
    /// `None`: still running.
    pub finished_at: Option<Timestamp>,
    pub cost_micros: Option<i64>,
}

impl Current {
    /// A running job's attempt, or the one that finished it; none for a pending job.
    pub fn of(job: &JobRecord) -> Option<Self> {
        let finished_at = match job.status {
            JobStatus::Pending | JobStatus::Cancelled => return None,
            JobStatus::Running | JobStatus::Waiting => None,
            JobStatus::Done => job.finished_at,
        };
        Some(Self {
            attempt: job.attempts_made(),
            started_at: job.started_at,
            finished_at,
            cost_micros: job.cost_micros,
        })
    }
}

/// The table, oldest attempt first, or a line saying there is none yet.
pub fn table(failed: &[AttemptError], current: Option<&Current>) -> String {
    let mut rows: String = failed
        .iter()
        .map(|e| {
            let (exit, tail) = split_exit(&e.error);
            row(
                e.attempt,
                e.started_at,
                &span(e.started_at, Some(e.at)),
                exit,
                &format!("<pre>{}</pre>", escape(tail)),
                e.cost_micros,
            )
        })
        .collect();
    if let Some(c) = current {
        let (duration, exit) = match c.finished_at {
            Some(end) => (span(c.started_at, Some(end)), "succeeded"),
            None => ("running".to_owned(), "none yet"),
        };
        rows.push_str(&row(c.attempt, c.started_at, &duration, exit, "none", c.cost_micros));
    }
    if rows.is_empty() {
        return "<p>No attempt has run yet.</p>\n".to_owned();
    }
    format!(
        "<div class=\"scroll\"><table>\n<thead><tr><th scope=\"col\" class=\"n\">Attempt</th>\
         <th scope=\"col\">Started</th><th scope=\"col\" class=\"n\">Duration</th>\
         <th scope=\"col\">Exit</th><th scope=\"col\">Error</th>\
         <th scope=\"col\" class=\"n\">Cost</th></tr></thead>\n<tbody>\n{rows}</tbody></table>\
         </div>\n"
    )
}

/// The memoized steps recorded for a job, oldest first: name, when, cost, and the start of the
/// output (a replay resumes after the last of them).
pub fn steps(steps: &[StepRecord]) -> String {
    if steps.is_empty() {
        return String::new();
    }
    let rows: String = steps
        .iter()
        .map(|s| {
            format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td><td class=\"n\">{}</td>\
                 <td class=\"wide\"><pre>{}</pre></td></tr>\n",
                escape(&s.name),
                output::time(s.recorded_at),
                output::usd(s.cost_micros),
                escape(&output::one_line(&s.output, 200)),
            )
        })
        .collect();
    format!(
        "<h2>Steps</h2>\n<p>Recorded outputs a new attempt reads back instead of running the step \
         again (a replay keeps them; <code>dlq replay --fresh</code> drops them).</p>\n\
         <div class=\"scroll\"><table>\n<thead><tr><th scope=\"col\">Step</th>\
         <th scope=\"col\">Recorded</th><th scope=\"col\" class=\"n\">Cost</th>\
         <th scope=\"col\">Output</th></tr></thead>\n<tbody>\n{rows}</tbody></table></div>\n"
    )
}

/// One row; `error` is HTML already.
fn row(
    attempt: u32,
    started: Option<Timestamp>,
    duration: &str,
    exit: &str,
    error: &str,
    cost: Option<i64>,
) -> String {
    format!(
        "<tr><td class=\"n\">{attempt}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td>\
         <td class=\"wide\">{error}</td><td class=\"n\">{}</td></tr>\n",
        started.map_or_else(|| "not recorded".to_owned(), output::time),
        escape(duration),
        escape(exit),
        cost.map_or_else(|| "none".to_owned(), output::usd),
    )
}

/// How long from `start` to `end`, to the millisecond, or "not recorded".
fn span(start: Option<Timestamp>, end: Option<Timestamp>) -> String {
    match (start, end) {
        (Some(start), Some(end)) if end >= start => {
            let ms = end.millis_since(start);
            humantime::format_duration(Duration::from_millis(ms.max(0).unsigned_abs())).to_string()
        }
        _ => "not recorded".to_owned(),
    }
}

/// A command handler's error as its exit status and the tail of its stderr: `exit status 1:
/// tail` and `killed by signal 9 (SIGKILL): tail` are split at the first colon; any other error
/// (a timeout, an interrupted attempt, an embedded handler's) has no exit status of its own.
pub fn split_exit(error: &str) -> (&str, &str) {
    let cut = error.find(": ").map_or((error, ""), |at| (&error[..at], &error[at + 2..]));
    let is_exit =
        |head: &str| head.starts_with("exit status ") || head.starts_with("killed by signal ");
    if is_exit(cut.0) {
        cut
    } else if is_exit(error) {
        (error, "")
    } else {
        ("none", error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_status_is_split_from_the_tail_of_stderr() {
        assert_eq!(
            split_exit("exit status 1: upstream said no"),
            ("exit status 1", "upstream said no")
        );
        assert_eq!(split_exit("exit status 3"), ("exit status 3", ""));
        assert_eq!(
            split_exit("killed by signal 9 (SIGKILL): a: b"),
            ("killed by signal 9 (SIGKILL)", "a: b")
        );
        assert_eq!(split_exit("timed out after 30s"), ("none", "timed out after 30s"));
        assert_eq!(split_exit("panic: bug: here"), ("none", "panic: bug: here"));
    }

    #[test]
    fn every_attempt_has_its_start_duration_exit_error_and_cost() {
        let at = Timestamp::from_millis;
        let failed = vec![AttemptError {
            attempt: 1,
            error: "exit status 1: <boom>".to_owned(),
            at: at(1_002_500),
            started_at: Some(at(1_000_000)),
            cost_micros: Some(1_200),
        }];
        let done = Current {
            attempt: 2,
            started_at: Some(at(2_000_000)),
            finished_at: Some(at(2_000_750)),
            cost_micros: None,
        };
        let html = table(&failed, Some(&done));
        assert_eq!(html.matches("<tr><td class=\"n\">").count(), 2, "{html}");
        for text in ["2s 500ms", "exit status 1", "&lt;boom&gt;", "$0.0012", "750ms", "succeeded"] {
            assert!(html.contains(text), "{text} in {html}");
        }
        assert!(!html.contains("<boom>"), "escaped: {html}");
        let step = StepRecord {
            name: "draft:2".to_owned(),
            output: "<summary>".to_owned(),
            cost_micros: 2_500,
            recorded_at: at(1_500_000),
        };
        let html = steps(&[step]);
        for text in ["draft:2", "&lt;summary&gt;", "$0.0025"] {
            assert!(html.contains(text), "{text} in {html}");
        }
        assert_eq!(steps(&[]), "");
        let running = Current { finished_at: None, ..done };
        assert!(table(&[], Some(&running)).contains("running"));
        assert!(table(&[], None).contains("No attempt has run yet"));
    }
}
