//! `GET /dlq?queue=&reason=`: the dead letters, the newest first, at most [`SHOWN`] rows,
//! filtered by queue and reason, each with its replay form, its purge link and a checkbox; and
//! `POST /dlq/{key}/replay`, the replay form's target.
//!
//! A replay writes through [`super::Database::replay`], as `/api/dlq/{key}/replay` does (so
//! inside a runner it goes through the engine, the process's one writer). The form carries the
//! viewer's CSRF token; one without it is refused (403) before anything is written.
//!
//! Everything else goes through a confirmation page first (`dlq_confirm`): a purge of one row,
//! and the bulk buttons, "Replay selected" / "Purge selected" (the checked rows) and
//! "Replay all" / "Purge all" (every dead letter the filter matches).

use axum::Extension;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use nightshift_actors::{DeadFilter, DeadJob, DeadQuery, Selector};
use serde::Deserialize;

use super::job_page::{purge_link, replay_form};
use super::login::CsrfForm;
use super::page::{self, escape, job_href};
use super::session::Viewer;
use super::{Api, ApiError};
use crate::output;

/// The most rows the list shows.
const SHOWN: u32 = 100;

/// The filter form's fields; an empty field is no filter.
#[derive(Deserialize, Default)]
pub struct Filter {
    #[serde(default)]
    queue: String,
    #[serde(default)]
    reason: String,
}

pub async fn list(
    State(api): State<Api>,
    Extension(viewer): Extension<Viewer>,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Result<Response, ApiError> {
    let asked = filter.map(|Query(f)| f).unwrap_or_default();
    let filter = match super::dlq::filter(Some(&asked.queue), Some(&asked.reason)) {
        Ok(filter) => filter,
        Err(why) => {
            return Ok(page::message(StatusCode::BAD_REQUEST, "Dead letters", &viewer, &why));
        }
    };
    let filtered = filter != DeadFilter::default();
    let query = DeadQuery { filter, after: None, limit: SHOWN };
    let (dead, total) = api
        .database
        .read(move |admin| Ok((admin.dead_letters_page(&query)?, admin.status()?.dead)))
        .await?;
    let summary = if filtered {
        format!(
            "<p data-count=\"dead\">Showing {} matching dead letters (of {total}), the newest \
             first.</p>\n",
            dead.len()
        )
    } else {
        format!(
            "<p data-count=\"dead\">Showing {} of {total} dead letters, the newest first.</p>\n",
            dead.len()
        )
    };
    let body =
        [filter_form(&asked), summary, bulk_forms(&asked, &dead), table(&dead, &viewer)].concat();
    Ok(page::render(StatusCode::OK, "Dead letters", Some(&viewer), &body))
}

/// The filters as a GET form, holding what was asked.
fn filter_form(asked: &Filter) -> String {
    let options = page::options(&["exhausted", "permanent", "crashed"], &asked.reason);
    format!(
        "<form method=\"get\" action=\"/dlq\" role=\"search\">\
         <label for=\"queue\">Queue</label>\
         <input type=\"text\" id=\"queue\" name=\"queue\" value=\"{}\">\
         <label for=\"reason\">Reason</label><select id=\"reason\" name=\"reason\">{options}</select>\
         <div><button type=\"submit\">Filter</button> <a href=\"/dlq\">Clear</a></div></form>\n",
        escape(&asked.queue)
    )
}

/// The bulk buttons, each to the confirmation page: the checked rows (their checkboxes belong
/// to the form `bulk`), and every row the filter matches.
fn bulk_forms(asked: &Filter, dead: &[DeadJob]) -> String {
    if dead.is_empty() {
        return String::new();
    }
    let hidden = |name: &str, value: &str| {
        format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(value))
    };
    let scope = if asked.queue.is_empty() && asked.reason.is_empty() {
        hidden("all", "1")
    } else {
        [hidden("queue", &asked.queue), hidden("reason", &asked.reason)].concat()
    };
    let button = |action: &str, label: &str| {
        format!("<button type=\"submit\" name=\"action\" value=\"{action}\">{label}</button> ")
    };
    format!(
        "<form method=\"get\" action=\"/dlq/confirm\" id=\"bulk\" class=\"inline\">{}{}</form>\
         <form method=\"get\" action=\"/dlq/confirm\" class=\"inline\">{scope}{}{}</form>\n",
        button("replay", "Replay selected"),
        button("purge", "Purge selected"),
        button("replay", "Replay all"),
        button("purge", "Purge all"),
    )
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
                "<tr><td><input type=\"checkbox\" form=\"bulk\" name=\"key\" value=\"{}\" \
                 aria-label=\"Select {}\"></td>\
                 <th scope=\"row\"><a href=\"{}\">{}</a></th><td>{}</td><td>{}</td>\
                 <td class=\"n\">{}</td><td>{}</td><td class=\"wide\">{}</td><td>{}{}</td></tr>\n",
                escape(&d.key),
                escape(&d.key),
                escape(&job_href(&d.key)),
                escape(&d.key),
                escape(&d.queue),
                d.reason,
                d.attempts,
                output::time(d.died),
                escape(&output::one_line(&d.error, 80)),
                replay_form(&d.key, viewer),
                purge_link(&d.key)
            )
        })
        .collect();
    format!(
        "<div class=\"scroll\"><table>\n<thead><tr><th scope=\"col\">Select</th>\
         <th scope=\"col\">Key</th>\
         <th scope=\"col\">Queue</th><th scope=\"col\">Reason</th>\
         <th scope=\"col\" class=\"n\">Attempts</th><th scope=\"col\">Dead-lettered at</th>\
         <th scope=\"col\">Last error</th><th scope=\"col\">Action</th></tr></thead>\n\
         <tbody>\n{rows}</tbody></table></div>\n"
    )
}
