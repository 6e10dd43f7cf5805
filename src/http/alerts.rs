//! `GET /api/alerts?limit=N` and the page `/alerts`: the alert outbox's newest rows, with how
//! each one's delivery went (delivered, pending, held for a digest, given up) and its last
//! error. The webhook's URL is never shown: it is not in the table, and a delivery error is
//! stored without it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use nightshift_actors::OutboxAlert;

use super::error::ErrorBody;
use super::page::{self, escape, job_href};
use super::params::{self, Limit};
use super::session::Viewer;
use super::{Api, ApiError};
use crate::output;

/// `[{"id", "kind", "key", "created_at", "state", "attempts", "held", "digest",
/// "delivered_at", "next_attempt_at", "last_error"}]`, newest first (100 unless `limit`).
/// The alert outbox, the newest first; never the webhook's URL.
#[utoipa::path(get, operation_id = "alerts", path = "/api/alerts", tag = "alerts", params(Limit),
    responses(
        (status = 200, description = "The newest alerts", body = Vec<OutboxAlert>),
        (status = 400, description = "A bad limit", body = ErrorBody),
    ))]
pub async fn list(
    State(api): State<Api>,
    query: Result<Query<Limit>, QueryRejection>,
) -> Result<Json<Vec<OutboxAlert>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = params::limit(query.limit)?;
    Ok(Json(api.database.read(move |admin| admin.alerts(limit)).await?))
}

/// The page: the newest 100 alerts.
pub async fn page(
    State(api): State<Api>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Response, ApiError> {
    let limit = params::limit(None)?;
    let alerts = api.database.read(move |admin| admin.alerts(limit)).await?;
    if alerts.is_empty() {
        let body = "<p>No alerts yet. One is owed when a job is dead-lettered, the daily cap is \
                    reached, the circuit breaker opens or the runner gives up restarting.</p>\n";
        return Ok(page::render(StatusCode::OK, "Alerts", Some(&viewer), body));
    }
    let rows: String = alerts.iter().map(row).collect();
    let body = format!(
        "<p>The newest {limit} alerts of the outbox, newest first. Times are UTC.</p>\n\
         <div class=\"scroll\"><table>\n<thead><tr><th scope=\"col\" class=\"n\">Id</th>\
         <th scope=\"col\">Kind</th><th scope=\"col\">Job</th><th scope=\"col\">Owed at</th>\
         <th scope=\"col\">Delivery</th><th scope=\"col\" class=\"n\">Attempts</th>\
         <th scope=\"col\">Last error</th></tr></thead>\n<tbody>\n{rows}</tbody></table></div>\n"
    );
    Ok(page::render(StatusCode::OK, "Alerts", Some(&viewer), &body))
}

fn row(a: &OutboxAlert) -> String {
    let key = match &a.key {
        Some(key) => format!("<a href=\"{}\">{}</a>", escape(&job_href(key)), escape(key)),
        None => String::new(),
    };
    let error = a
        .last_error
        .as_deref()
        .map_or_else(String::new, |e| format!("<pre>{}</pre>", escape(&output::one_line(e, 200))));
    format!(
        "<tr><td class=\"n\">{}</td><td>{}</td><td>{key}</td><td>{}</td><td data-delivery>{}</td>\
         <td class=\"n\">{}</td><td>{error}</td></tr>\n",
        a.id,
        a.kind,
        output::time(a.created_at),
        escape(&delivery(a)),
        a.attempts,
    )
}

/// How the delivery stands, in words.
fn delivery(a: &OutboxAlert) -> String {
    match (a.state.as_str(), a.delivered_at) {
        ("delivered", Some(at)) => format!("delivered at {}", output::time(at)),
        ("delivered", None) => "delivered".to_owned(),
        ("failed", _) => "given up".to_owned(),
        _ if a.held => "held: waiting to go out alone or in a digest".to_owned(),
        _ => match a.digest {
            Some(d) => {
                format!("pending, in digest {d}; next try {}", output::time(a.next_attempt_at))
            }
            None => format!("pending; next try {}", output::time(a.next_attempt_at)),
        },
    }
}
