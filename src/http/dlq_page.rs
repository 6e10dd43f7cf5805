//! `GET /dlq`: the dead letters, the newest first, at most [`SHOWN`] rows, each with its
//! replay form; and `POST /dlq/{key}/replay`, that form's target.
//!
//! A replay writes through [`super::Database::replay`], as `/api/dlq/{key}/replay` does (so
//! inside a runner it goes through the engine, the process's one writer). The form carries the
//! viewer's CSRF token; one without it is refused (403) before anything is written.
//!
//! Purge is not here: the handlers' `Database` has no purge, and a page that deletes jobs for
//! good should come with the confirmation step it deserves, not before it.

use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use nightshift_actors::{DeadJob, Selector};

use super::job_page::replay_form;
use super::login::CsrfForm;
use super::page::{self, escape, job_href};
use super::session::Viewer;
use super::{Api, ApiError};
use crate::output;

/// The most rows the list shows.
const SHOWN: u32 = 100;

pub async fn list(
    State(api): State<Api>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Response, ApiError> {
    let (dead, total) =
        api.database.read(|admin| Ok((admin.dead_letters(SHOWN)?, admin.status()?.dead))).await?;
    let summary = format!(
        "<p data-count=\"dead\">Showing {} of {total} dead letters, the newest first.</p>\n",
        dead.len()
    );
    let body = [summary, table(&dead, &viewer)].concat();
    Ok(page::render(StatusCode::OK, "Dead letters", Some(&viewer), &body))
}

pub async fn replay(
    State(api): State<Api>,
    Extension(viewer): Extension<Viewer>,
    key: Result<Path<String>, PathRejection>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    if !viewer.csrf_matches(&form.csrf) {
        return Ok(page::csrf_refused(&viewer));
    }
    let Ok(Path(key)) = key else {
        let text = "The key in this address could not be read; nothing was replayed.";
        return Ok(page::message(StatusCode::BAD_REQUEST, "Replay", &viewer, text));
    };
    let replayed = api.database.replay(Selector::Keys(vec![key.clone()])).await?;
    if !replayed.contains(&key) {
        let text = format!("No job {key:?} in the dead letter; nothing was replayed.");
        return Ok(page::message(StatusCode::NOT_FOUND, "Replay", &viewer, &text));
    }
    Ok(Redirect::to(&job_href(&key)).into_response())
}

/// One row per dead letter: key (a link to its page), queue, reason, attempts, when, the last
/// error's first line, and its replay form.
fn table(dead: &[DeadJob], viewer: &Viewer) -> String {
    if dead.is_empty() {
        return "<p>The dead letter is empty.</p>\n".to_owned();
    }
    let rows: String = dead
        .iter()
        .map(|d| {
            format!(
                "<tr><th scope=\"row\"><a href=\"{}\">{}</a></th><td>{}</td><td>{}</td>\
                 <td class=\"n\">{}</td><td>{}</td><td class=\"wide\">{}</td><td>{}</td></tr>\n",
                escape(&job_href(&d.key)),
                escape(&d.key),
                escape(&d.queue),
                d.reason,
                d.attempts,
                output::time(d.died),
                escape(&output::one_line(&d.error, 80)),
                replay_form(&d.key, viewer)
            )
        })
        .collect();
    format!(
        "<div class=\"scroll\"><table>\n<thead><tr><th scope=\"col\">Key</th>\
         <th scope=\"col\">Queue</th><th scope=\"col\">Reason</th>\
         <th scope=\"col\" class=\"n\">Attempts</th><th scope=\"col\">Dead-lettered at</th>\
         <th scope=\"col\">Last error</th><th scope=\"col\">Action</th></tr></thead>\n\
         <tbody>\n{rows}</tbody></table></div>\n"
    )
}
