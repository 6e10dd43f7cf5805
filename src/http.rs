//! nightshift's HTTP API: JSON under `/api/`, Prometheus text at `/metrics`, and `/healthz`.
//! `nightshift serve` runs it as a process of its own beside a runner (cron or continuous).
//!
//! Every endpoint does what the matching command does, through the same operations
//! (`nightshift_actors::Admin`), and answers with the JSON that command's `--json` prints. The
//! command's exit-code classes become status codes: bad input 400 (unparseable) or 422 (a key
//! or value the store refuses), an unknown key 404, a conflict 409, a payload over
//! `[store] max_payload` 413, any other failure 500 with a generic message (the detail goes to
//! the server's log, never to the client).
//!
//! # Layout
//!
//! - `database`: [`Database`], how the handlers reach the database (reads, the writes).
//! - `auth`: the bearer token and its constant-time check.
//! - `limits`: the request timeout, the body limit and the access log.
//! - `listener`: a cap on open connections and an idle limit on each.
//! - `origin`: refuses what a web page would make a browser send (DNS rebinding, cross-site
//!   writes).
//! - `error`: [`ApiError`], a status code with a JSON `{"error": ...}` body.
//! - `params`: a key in the path, a page size in the query.
//! - `cursor`: the listings' next-page cursors and their `Link` header.
//! - `openapi`: `/api/openapi.json`, derived from the handlers' annotations and types.
//! - `status` (`/healthz`, `/api/status`, `/metrics`), `jobs`, `jobs_bulk` (JSONL batches),
//!   `dlq` (also purge and bulk replay/purge), `pause`: the handlers.
//! - `activity` (`/api/activity`, `/api/spend`, and the overview's charts drawn from them),
//!   `schedules` (`/api/schedules`, `/schedules`), `alerts` (`/api/alerts`, `/alerts`).
//! - The dashboard: `session` (the login's cookie, CSRF tokens, the page guard), `login`
//!   (`/login`, `/logout`), `throttle` (the login form's limit on wrong tokens), `page`
//!   (escaping, the page around a body, the 404 page and failures as pages), `chart` (bar
//!   charts as inline SVG), `overview` (`/`, its charts, the kill switch's forms), `jobs_page`
//!   (`/jobs`), `job_page` (`/jobs/{key}`, its `attempts` table), `dlq_page` (`/dlq` and its replay form),
//!   `dlq_confirm` (the confirmation step of every purge and bulk replay).
//!
//! # Inside a runner (`run --http`)
//!
//! The handlers never touch an `Admin` themselves: they read through [`Database::read`] and
//! write through [`Database::enqueue`], [`Database::enqueue_all`], [`Database::act_on_dead`]
//! (replay, purge) and [`Database::set_paused`].
//! `serve` builds the `Database` on an `Admin` (each call on a blocking thread). A continuous
//! runner (`run --http`, `crate::commands::run`) builds it with [`Database::beside`]: reads
//! stay on an `Admin`, the writes go through the engine's `Operator` to the Store actor's
//! mailbox, so the runner stays one writer per process. The handlers, the router and the
//! guards are the same.

mod activity;
mod alerts;
mod attempts;
mod auth;
mod chart;
mod cursor;
mod database;
mod dlq;
mod dlq_confirm;
mod dlq_page;
mod error;
mod job_page;
mod jobs;
mod jobs_bulk;
mod jobs_page;
mod limits;
mod listener;
mod login;
mod openapi;
mod origin;
mod overview;
mod page;
mod params;
mod pause;
mod schedules;
mod session;
mod status;
mod throttle;
mod waits;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{any, get, post};

use crate::config::Settings;

pub use auth::Token;
pub use database::Database;
pub use error::ApiError;
pub use listener::{Bounded, ClientAddr};
pub use session::Sessions;

/// What every handler is given: the database and the settings (for `max_payload`, the payload
/// format, and the runners' lease), and the token, if one is required.
#[derive(Clone)]
pub struct Api {
    pub database: Database,
    pub settings: Arc<Settings>,
    /// `None`: no token configured; `serve` allows that on loopback only.
    pub token: Option<Arc<Token>>,
    /// The dashboard's open sessions (none without a token).
    pub sessions: Arc<Sessions>,
}

/// The routes. The API asks for the token when there is one, the dashboard's pages for a
/// session (from `/login`); everything but `/healthz` refuses what a web page would make a
/// browser send. A path under `/api/` that is not an endpoint is a JSON 404; any other unknown
/// path is the dashboard's, answered (once logged in) with a 404 page, and a page that fails
/// says so as a page, never as JSON.
pub fn router(api: Api) -> Router {
    let pages = Router::new()
        .route("/", get(overview::show))
        .route("/pause", post(overview::pause))
        .route("/resume", post(overview::resume))
        .route("/jobs", get(jobs_page::list))
        .route("/jobs/{key}", get(job_page::show))
        .route("/dlq", get(dlq_page::list))
        .route("/dlq/{key}/replay", post(dlq_page::replay))
        .route("/schedules", get(schedules::page))
        .route("/alerts", get(alerts::page))
        .route("/dlq/confirm", get(dlq_confirm::confirm))
        .route("/dlq/replay", post(dlq_confirm::replay))
        .route("/dlq/purge", post(dlq_confirm::purge))
        .route("/logout", post(login::logout))
        .fallback(page::not_found)
        .layer(axum::middleware::from_fn(page::html_errors))
        .layer(from_fn_with_state(api.clone(), session::require))
        .route("/login", get(login::form).post(login::submit))
        .layer(from_fn_with_state(api.clone(), origin::guard));
    let guarded = Router::new()
        .route("/api/status", get(status::show))
        .route("/api/jobs", get(jobs::list).post(jobs::enqueue))
        .route("/api/jobs/{key}", get(jobs::show))
        .route("/api/jobs/{key}/signal/{name}", post(waits::signal))
        .route("/api/jobs/{key}/cancel", post(waits::cancel))
        .route("/api/dlq", get(dlq::list))
        .route("/api/dlq/{key}", get(dlq::show))
        .route("/api/dlq/replay", get(dlq::show_replay).post(dlq::replay_many))
        .route("/api/dlq/purge", get(dlq::show_purge).post(dlq::purge_many))
        .route("/api/dlq/{key}/replay", post(dlq::replay))
        .route("/api/dlq/{key}/purge", post(dlq::purge))
        .route("/api/pause", post(pause::pause))
        .route("/api/resume", post(pause::resume))
        .route("/api/activity", get(activity::show))
        .route("/api/spend", get(activity::spend))
        .route("/api/schedules", get(schedules::list))
        .route("/api/alerts", get(alerts::list))
        .route("/metrics", get(status::metrics))
        .route("/api/openapi.json", get(openapi::document))
        // Unknown API paths answer JSON; every other unknown path is the dashboard's 404 page.
        .route("/api", any(error::not_found))
        .route("/api/{*rest}", any(error::not_found))
        .layer(from_fn_with_state(api.clone(), auth::require))
        .layer(from_fn_with_state(api.clone(), origin::guard));
    Router::new()
        .route("/healthz", get(status::healthz))
        .merge(pages)
        .merge(guarded)
        .layer(limits::body_limit(&api.settings))
        .layer(from_fn_with_state(api.clone(), limits::bounded))
        .with_state(api)
}
