//! `GET /jobs/{key}`: one job as `jobs show KEY --json` reads it (its limit, and while it
//! waits, what for, until when and the command that continues it), or, for a dead-lettered
//! key, the dead letter as `dlq show KEY --json` reads it (its reason, and every attempt's
//! error and time as the store kept them) with the form that replays it and the link that
//! purges it (through a confirmation page). A key in neither: a 404 page.
//!
//! Both show every attempt (`attempts::table`): when it started, how long it ran, how it
//! exited, its error and its cost; and the steps recorded for the key (`attempts::steps`),
//! which a replay keeps.

use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use nightshift_actors::{DeadJob, JobRecord};

use super::attempts::{self, Current};
use super::page::{self, csrf_field, escape, path_segment};
use super::session::Viewer;
use super::{Api, ApiError};
use crate::commands::jobs;
use crate::output;

pub async fn show(
    State(api): State<Api>,
    Extension(viewer): Extension<Viewer>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Ok(Path(key)) = key else {
        let text = "The key in this address could not be read.";
        return Ok(page::message(StatusCode::BAD_REQUEST, "Job", &viewer, text));
    };
    let lookup = key.clone();
    let (job, dead, steps) = api
        .database
        .read(move |admin| {
            Ok((admin.job(&lookup)?, admin.dead_letter(&lookup)?, admin.steps(&lookup)?))
        })
        .await?;
    let body = match (job, dead) {
        (Some(job), _) => live(&job) + &attempts::steps(&steps),
        (None, Some(dead)) => dead_letter(&dead, &viewer) + &attempts::steps(&steps),
        (None, None) => {
            let text = format!("No job {key:?} in jobs or in the dead letter.");
            return Ok(page::message(StatusCode::NOT_FOUND, "No such job", &viewer, &text));
        }
    };
    Ok(page::render(StatusCode::OK, "Job", Some(&viewer), &body))
}

/// A term of a `<dl>`, its value escaped here.
fn term(name: &str, value: &str) -> String {
    format!("<dt>{name}</dt><dd>{}</dd>\n", escape(value))
}

/// A term whose value is text kept as written (an error, a result, a payload).
fn block(name: &str, value: Option<&str>) -> String {
    match value {
        Some(text) => format!("<dt>{name}</dt><dd><pre>{}</pre></dd>\n", escape(text)),
        None => format!("<dt>{name}</dt><dd>none</dd>\n"),
    }
}

/// A job in `jobs`.
fn live(job: &JobRecord) -> String {
    let queue = format!("/jobs?queue={}", path_segment(&job.queue));
    [
        "<dl>\n".to_owned(),
        term("Key", &job.key),
        format!(
            "<dt>Queue</dt><dd><a href=\"{}\">{}</a></dd>\n",
            escape(&queue),
            escape(&job.queue)
        ),
        format!("<dt>Status</dt><dd data-status>{}</dd>\n", job.status),
        term(
            "Attempts",
            &format!(
                "{} made of {} allowed ({} failed)",
                job.attempts_made(),
                job.max_attempts,
                job.attempts
            ),
        ),
        term("Priority", &job.priority.to_string()),
        term("Run at", &output::time(job.run_at)),
        job.limit.as_deref().map(|limit| term("Limit", limit)).unwrap_or_default(),
        waiting(job),
        block("Last error", job.last_error.as_deref()),
        block("Result", job.result.as_deref()),
        block("Payload", Some(&job.payload)),
        "</dl>\n<h2>Attempts</h2>\n".to_owned(),
        attempts::table(&job.errors, Current::of(job).as_ref()),
    ]
    .concat()
}

/// What a waiting job waits for, until when, and the command that continues it (the one its
/// `waiting` alert gives); nothing for a job not waiting.
fn waiting(job: &JobRecord) -> String {
    let Some(wait) = &job.wait else { return String::new() };
    [
        term("Waits for", &wait.name),
        term("Deadline", &jobs::deadline(wait)),
        format!(
            "<dt>Continue with</dt><dd><pre data-command>{}</pre>the payload on its stdin</dd>\n",
            escape(&wait.command(&job.key))
        ),
    ]
    .concat()
}

/// A dead letter: why, every attempt's error, and the replay form.
fn dead_letter(dead: &DeadJob, viewer: &Viewer) -> String {
    [
        "<p><strong>Dead letter</strong>: this job is not run again unless it is replayed.</p>\n\
         <dl>\n"
            .to_owned(),
        term("Key", &dead.key),
        term("Queue", &dead.queue),
        format!("<dt>Status</dt><dd data-status>dead letter ({})</dd>\n", dead.reason),
        term("Reason", reason_words(dead)),
        term("Attempts", &dead.attempts.to_string()),
        term("Dead-lettered at", &output::time(dead.died)),
        block("Last error", Some(&dead.error)),
        block("Payload", Some(&dead.payload)),
        "</dl>\n<h2>Attempts</h2>\n".to_owned(),
        attempts::table(&dead.errors, None),
        replay_form(&dead.key, viewer),
        purge_link(&dead.key),
    ]
    .concat()
}

/// The reason in the user's words.
fn reason_words(dead: &DeadJob) -> &'static str {
    use nightshift_actors::DeadReason as R;
    match dead.reason {
        R::Exhausted => "exhausted: every allowed attempt failed",
        R::Permanent => "permanent: the handler said retrying cannot help",
        R::Crashed => "crashed: the last attempt was cut short by a crash",
    }
}

/// The form that replays one dead letter (`POST /dlq/{key}/replay`).
pub fn replay_form(key: &str, viewer: &Viewer) -> String {
    format!(
        "<form method=\"post\" action=\"/dlq/{}/replay\" class=\"inline\">{}\
         <button type=\"submit\" aria-label=\"Replay {}\">Replay</button></form>\n",
        escape(&path_segment(key)),
        csrf_field(viewer),
        escape(key)
    )
}

/// The link to the confirmation page of one dead letter's purge.
pub fn purge_link(key: &str) -> String {
    format!(
        "<a href=\"/dlq/confirm?action=purge&amp;key={}\" aria-label=\"Purge {}\">Purge…</a>\n",
        escape(&path_segment(key)),
        escape(key)
    )
}
