//! `GET /`: the overview page (counts by status and queue, the dead letter, the oldest pending
//! job's age, the runners alive, the gate holding claims, today's spend against the cap, each
//! `[[limit]]`'s state, and two charts: the last 24 hours' jobs done, failed and
//! dead-lettered, and 30 days' spend), and the kill switch's forms, `POST /pause` (with a
//! reason) and `POST /resume`.
//!
//! The page reads what `/metrics` reads ([`Snapshot`]: `status`'s counts, gates and limits,
//! the tallies by queue, the runners); the forms write through [`super::Database::set_paused`], as
//! `/api/pause` does. Each form carries the viewer's CSRF token; one without it is refused (403)
//! before anything is written.

use std::time::Duration;

use axum::Extension;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use nightshift_actors::{Clock, LimitStatus, SystemClock};
use serde::Deserialize;

use super::activity::History;
use super::page::{self, csrf_field, escape};
use super::session::Viewer;
use super::{Api, ApiError};
use crate::commands::status::gate_line;
use crate::metrics::Snapshot;
use crate::output;

pub async fn show(
    State(api): State<Api>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Response, ApiError> {
    let settings = api.settings.clone();
    let (snapshot, history) = api
        .database
        .read(move |admin| {
            let now = SystemClock.now();
            Ok((Snapshot::read(admin, &settings, now)?, History::read(admin, now)?))
        })
        .await?;
    let body = [
        counts(&snapshot),
        limits(&snapshot.tallies.status.limits),
        history.charts(),
        queues(&snapshot),
        kill_switch(&snapshot, &viewer),
    ]
    .concat();
    Ok(page::render(StatusCode::OK, "Overview", Some(&viewer), &body))
}

/// The kill switch's pause form: its CSRF token and a reason (empty: none).
#[derive(Deserialize)]
pub struct PauseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub async fn pause(
    State(api): State<Api>,
    Extension(viewer): Extension<Viewer>,
    Form(form): Form<PauseForm>,
) -> Result<Response, ApiError> {
    if !viewer.csrf_matches(&form.csrf) {
        return Ok(page::csrf_refused(&viewer));
    }
    let reason = form.reason.trim();
    let reason = (!reason.is_empty()).then(|| reason.to_owned());
    api.database.set_paused(true, reason).await?;
    Ok(Redirect::to("/").into_response())
}

pub async fn resume(
    State(api): State<Api>,
    Extension(viewer): Extension<Viewer>,
    Form(form): Form<super::login::CsrfForm>,
) -> Result<Response, ApiError> {
    if !viewer.csrf_matches(&form.csrf) {
        return Ok(page::csrf_refused(&viewer));
    }
    api.database.set_paused(false, None).await?;
    Ok(Redirect::to("/").into_response())
}

/// The counts, the runners and the gates, as a list of terms.
fn counts(snapshot: &Snapshot) -> String {
    let st = &snapshot.tallies.status;
    let oldest = st
        .oldest_pending_ms
        .map(|ms| output::span(Duration::from_millis(u64::try_from(ms).unwrap_or(0))))
        .unwrap_or_else(|| "none due".to_owned());
    let runner = match snapshot.runners.alive.as_slice() {
        [] => "none alive".to_owned(),
        alive => format!("alive: {}", alive.join("; ")),
    };
    let cap = st.cap_micros.map_or_else(|| "no cap".to_owned(), output::usd);
    let term = |name: &str, id: &str, value: &str| {
        format!("<dt>{name}</dt><dd data-count=\"{id}\">{}</dd>\n", escape(value))
    };
    [
        "<h2>Jobs</h2>\n<dl>\n".to_owned(),
        term("Pending", "pending", &st.pending.to_string()),
        term("Running", "running", &st.running.to_string()),
        term("Done", "done", &st.done.to_string()),
        term("Waiting", "waiting", &st.waiting.to_string()),
        term("Cancelled", "cancelled", &st.cancelled.to_string()),
        term("Dead letters", "dead", &st.dead.to_string()),
        term("Oldest pending", "oldest_pending", &oldest),
        term("Runner", "runner", &runner),
        term("Gate", "gate", &gate_line(st.gate.as_ref())),
        term("Spend today", "spend_today", &output::usd(st.spend_today_micros)),
        term("Daily cap", "daily_cap", &cap),
        term("Alerts undelivered", "alerts_undelivered", &st.alerts_undelivered.to_string()),
        "</dl>\n".to_owned(),
    ]
    .concat()
}

/// One row per queue with a job or a dead letter.
fn queues(snapshot: &Snapshot) -> String {
    let queues = &snapshot.tallies.queues;
    if queues.is_empty() {
        return "<h2>Queues</h2>\n<p>No jobs yet.</p>\n".to_owned();
    }
    let rows: String = queues
        .iter()
        .map(|q| {
            format!(
                "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                escape(&q.queue),
                q.pending,
                q.running,
                q.done,
                q.dead
            )
        })
        .collect();
    format!(
        "<h2>Queues</h2>\n<div class=\"scroll\"><table>\n<thead><tr><th scope=\"col\">Queue</th>\
         <th scope=\"col\" class=\"n\">Pending</th><th scope=\"col\" class=\"n\">Running</th>\
         <th scope=\"col\" class=\"n\">Done</th><th scope=\"col\" class=\"n\">Dead</th></tr>\
         </thead>\n<tbody>\n{rows}</tbody></table></div>\n"
    )
}

/// One row per `[[limit]]`, as `status --json`'s `limits` holds them; nothing when none is
/// configured.
fn limits(limits: &[LimitStatus]) -> String {
    if limits.is_empty() {
        return String::new();
    }
    let rows: String = limits
        .iter()
        .map(|l| {
            let running = match l.concurrency {
                Some(c) => format!("{} / {c}", l.running),
                None => format!("{} / no bound", l.running),
            };
            let rate = match &l.rate {
                Some(rate) => format!("{} / {rate}", l.rate_used),
                None => "no rate".to_owned(),
            };
            let held = l.held_until.map_or_else(|| "not held".to_owned(), output::time);
            let breaker = match l.breaker_open_until {
                Some(until) => format!("open until {}", output::time(until)),
                None => l.breaker.clone(),
            };
            let cells: String = [running, rate, held, breaker, output::usd(l.spent_today_micros)]
                .iter()
                .map(|cell| format!("<td>{}</td>", escape(cell)))
                .collect();
            format!(
                "<tr data-limit=\"{name}\"><th scope=\"row\">{name}</th>{cells}</tr>\n",
                name = escape(&l.name)
            )
        })
        .collect();
    format!(
        "<h2>Limits</h2>\n<div class=\"scroll\"><table>\n<thead><tr><th scope=\"col\">Limit</th>\
         <th scope=\"col\">Running</th><th scope=\"col\">Rate used</th>\
         <th scope=\"col\">Held until</th><th scope=\"col\">Breaker</th>\
         <th scope=\"col\">Spent today</th></tr></thead>\n<tbody>\n{rows}</tbody></table></div>\n"
    )
}

/// The kill switch: its state in words, and the form that turns it the other way.
fn kill_switch(snapshot: &Snapshot, viewer: &Viewer) -> String {
    let st = &snapshot.tallies.status;
    let csrf = csrf_field(viewer);
    if st.paused {
        let reason = st.pause_reason.as_deref().map_or_else(
            || "no reason given".to_owned(),
            |r| format!("reason: <q data-reason>{}</q>", escape(r)),
        );
        format!(
            "<h2>Kill switch</h2>\n<p><strong>Paused</strong>: no job is claimed ({reason}).</p>\n\
             <form method=\"post\" action=\"/resume\">{csrf}\
             <button type=\"submit\">Resume claiming</button></form>\n"
        )
    } else {
        format!(
            "<h2>Kill switch</h2>\n<p><strong>Not paused</strong>: runners claim jobs.</p>\n\
             <form method=\"post\" action=\"/pause\">{csrf}\
             <label for=\"reason\">Reason (optional)</label>\
             <input type=\"text\" id=\"reason\" name=\"reason\" maxlength=\"500\">\
             <div><button type=\"submit\">Pause all claims</button></div></form>\n"
        )
    }
}
