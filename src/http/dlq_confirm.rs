//! The confirmation step of the dashboard's bulk replays and of every purge:
//! `GET /dlq/confirm?action=replay|purge&key=K...` (or `&all=1`, or `&queue=Q&reason=R`) shows
//! what would be done ("Purge 3 dead letters: a, b, c") with a Confirm button and a Cancel
//! link; nothing changes until the Confirm form is sent, by POST to `/dlq/replay` or
//! `/dlq/purge`, carrying the viewer's CSRF token (refused with 403, nothing changed, without
//! it) and the same selection.
//!
//! Keys confirmed are acted on as listed. "All" and a filter are confirmed as such: the page
//! counts and lists what matches now, and a dead letter that arrives before Confirm is sent is
//! taken too (the page says so). Writes go through [`super::Database::act_on_dead`], as the
//! API's do.

use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use nightshift_actors::{DeadQuery, Selector};

use super::database::DeadAction;
use super::dlq::Which;
use super::page::{self, csrf_field, escape, job_href};
use super::session::Viewer;
use super::{Api, ApiError, params};

/// How many keys the page lists by name.
const LISTED: usize = 100;

pub async fn confirm(
    State(api): State<Api>,
    Extension(viewer): Extension<Viewer>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let (action, which) = match read(&pairs, None) {
        Ok(read) => read,
        Err(why) => return Ok(page::message(StatusCode::BAD_REQUEST, "Confirm", &viewer, &why)),
    };
    let selector = which.selector().map_err(ApiError::bad_request)?;
    let (found, more) = api
        .database
        .read(move |admin| match selector {
            Selector::Keys(keys) => {
                let mut found = Vec::new();
                for key in keys {
                    if admin.dead_letter(&key)?.is_some() && !found.contains(&key) {
                        found.push(key);
                    }
                }
                Ok((found, false))
            }
            other => {
                let filter = match other {
                    Selector::Matching(filter) => filter,
                    _ => Default::default(),
                };
                let limit = params::MAX_LIMIT;
                let dead = admin.dead_letters_page(&DeadQuery { filter, after: None, limit })?;
                let more = dead.len() >= limit as usize;
                Ok((dead.into_iter().map(|d| d.key).collect(), more))
            }
        })
        .await?;
    let verb = action.verb();
    let title = format!("Confirm {verb}");
    if found.is_empty() {
        let text = format!("Nothing to {verb}: no dead letter matches. Nothing was changed.");
        return Ok(page::message(StatusCode::NOT_FOUND, &title, &viewer, &text));
    }
    let count = if more { format!("at least {}", found.len()) } else { found.len().to_string() };
    let items: String = found
        .iter()
        .take(LISTED)
        .map(|k| format!("<li><a href=\"{}\">{}</a></li>", escape(&job_href(k)), escape(k)))
        .collect();
    let rest = match found.len().saturating_sub(LISTED) {
        0 => String::new(),
        n => format!("<p>and {n}{} more.</p>\n", if more { " or" } else { "" }),
    };
    let what = match &which.keys {
        Some(_) => "",
        None => " (every one that matches when you confirm, including any that arrive meanwhile)",
    };
    let permanence = if action == DeadAction::Purge { " They are deleted for good." } else { "" };
    let heading = match action {
        DeadAction::Replay => "Replay",
        DeadAction::Purge => "Purge",
    };
    let body = format!(
        "<p role=\"alert\" data-count=\"confirm\">{heading} {count} dead letters{what}:</p>\n\
         <ul>{items}</ul>\n{rest}<p>{permanence}</p>\n\
         <form method=\"post\" action=\"/dlq/{verb}\">{}{}\
         <button type=\"submit\">Confirm</button> <a href=\"/dlq\">Cancel</a></form>\n",
        csrf_field(&viewer),
        hidden(&which)
    );
    Ok(page::render(StatusCode::OK, &title, Some(&viewer), &body))
}

pub async fn replay(
    api: State<Api>,
    viewer: Extension<Viewer>,
    form: Form<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    act(api, viewer, form, DeadAction::Replay).await
}

pub async fn purge(
    api: State<Api>,
    viewer: Extension<Viewer>,
    form: Form<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    act(api, viewer, form, DeadAction::Purge).await
}

/// The Confirm form's target: checks the CSRF token before anything else, then acts.
async fn act(
    State(api): State<Api>,
    Extension(viewer): Extension<Viewer>,
    Form(pairs): Form<Vec<(String, String)>>,
    action: DeadAction,
) -> Result<Response, ApiError> {
    let given = pairs.iter().find(|(name, _)| name == "csrf").map_or("", |(_, v)| v.as_str());
    if !viewer.csrf_matches(given) {
        return Ok(page::csrf_refused(&viewer));
    }
    let title = format!("Confirm {}", action.verb());
    let which = match read(&pairs, Some(action))
        .and_then(|(_, which)| which.selector().map(|selector| (which, selector)))
    {
        Ok(read) => read,
        Err(why) => return Ok(page::message(StatusCode::BAD_REQUEST, &title, &viewer, &why)),
    };
    let (which, selector) = which;
    let done = api.database.act_on_dead(action, selector).await?;
    let missing = which.missing(&done);
    let mut text = format!("{} {} dead letters.", capitalised(action.done()), done.len());
    if !missing.is_empty() {
        text.push_str(&format!(" Not in the dead letter (nothing done): {}.", missing.join(", ")));
    }
    let status = if missing.is_empty() { StatusCode::OK } else { StatusCode::NOT_FOUND };
    let body = format!(
        "<p role=\"status\" data-count=\"{}\">{}</p>\n<p><a href=\"/dlq\">Back to the dead \
         letters</a></p>",
        action.done(),
        escape(&text)
    );
    Ok(page::render(status, &title, Some(&viewer), &body))
}

/// The action and selection of a confirm link or form (`action` is fixed by a form's path).
fn read(
    pairs: &[(String, String)],
    action: Option<DeadAction>,
) -> Result<(DeadAction, Which), String> {
    let mut which = Which::default();
    let mut asked = action;
    for (name, value) in pairs {
        match name.as_str() {
            "key" => which.keys.get_or_insert_with(Vec::new).push(value.clone()),
            "all" => which.all = value == "1",
            "queue" => which.queue = Some(value.clone()).filter(|v| !v.is_empty()),
            "reason" => which.reason = Some(value.clone()).filter(|v| !v.is_empty()),
            "action" if value == "replay" => asked = asked.or(Some(DeadAction::Replay)),
            "action" if value == "purge" => asked = asked.or(Some(DeadAction::Purge)),
            _ => {}
        }
    }
    let action = asked.ok_or("Choose replay or purge with the dead letters' page buttons.")?;
    if which.keys.is_none() && !which.all && which.queue.is_none() && which.reason.is_none() {
        return Err("No dead letter was selected: tick some rows first, or use \"all\".".to_owned());
    }
    Ok((action, which))
}

/// The selection as the Confirm form's hidden fields.
fn hidden(which: &Which) -> String {
    let field = |name: &str, value: &str| {
        format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(value))
    };
    let mut out: String = which.keys.iter().flatten().map(|k| field("key", k)).collect();
    if which.all {
        out.push_str(&field("all", "1"));
    }
    for (name, value) in [("queue", &which.queue), ("reason", &which.reason)] {
        if let Some(value) = value {
            out.push_str(&field(name, value));
        }
    }
    out
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
