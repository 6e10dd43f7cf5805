//! The dead letter's endpoints, each what a `dlq` command does with `--json`:
//!
//! - `GET /api/dlq?queue=&reason=&limit=&cursor=`: `dlq list --json`, paged as [`super::cursor`]
//!   says;
//! - `GET /api/dlq/{key}`: `dlq show KEY --json`;
//! - `POST /api/dlq/{key}/replay`, `POST /api/dlq/{key}/purge`: `dlq replay|purge KEY --json`;
//! - `POST /api/dlq/replay`, `POST /api/dlq/purge` with `{"keys": [...]}`, `{"all": true}` or
//!   `{"queue": "Q", "reason": "R"}` (either or both): `dlq replay|purge KEYS|--all|--queue
//!   --reason --json`.
//!
//! Each write answers `{"replayed"|"purged": [...], "missing": [...]}`: 200, or 404 (with the
//! same body and an `error`) when a key named is not in the dead letter, as the command exits
//! 1 then; the others are done all the same.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nightshift_actors::{DeadFilter, DeadJob, DeadQuery, Selector};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::database::DeadAction;
use super::error::ErrorBody;
use super::{Api, ApiError, cursor, limits, params};
use crate::cli::parse_reason;

/// `?queue=Q&reason=R&limit=N&cursor=C` (limit 100 by default, as `dlq list`).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    /// Dead letters of this queue.
    queue: Option<String>,
    /// `exhausted`, `permanent` or `crashed`.
    #[param(pattern = "^(exhausted|permanent|crashed)?$")]
    reason: Option<String>,
    /// Rows per page, 1 to 1000 (100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Where the last page ended (its `X-Next-Cursor`).
    cursor: Option<String>,
}

/// The dead letters, the newest first.
#[utoipa::path(get, operation_id = "list_dead_letters", path = "/api/dlq", tag = "dead letter", params(Listing),
    responses(
        (status = 200, description = "A page of dead letters", body = Vec<DeadJob>, headers(
            ("link" = String, description = "`<...>; rel=\"next\"` when the page is full"),
            ("x-next-cursor" = String, description = "The next page's cursor when the page is full"),
        )),
        (status = 400, description = "A bad filter, limit or cursor", body = ErrorBody),
    ))]
pub async fn list(
    State(api): State<Api>,
    query: Result<Query<Listing>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(listing) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = params::limit(listing.limit)?;
    let filter = filter(listing.queue.as_deref(), listing.reason.as_deref())
        .map_err(ApiError::bad_request)?;
    let after = cursor::given(listing.cursor.as_deref()).map(cursor::parse_dead).transpose()?;
    let query = DeadQuery { filter, after, limit };
    let asked = query.clone();
    let dead = api.database.read(move |admin| admin.dead_letters_page(&asked)).await?;
    let next = query.next(&dead).map(|row| {
        let cursor = cursor::dead(&row);
        let limit = limit.to_string();
        let params = [
            ("queue", listing.queue.as_deref().unwrap_or("")),
            ("reason", listing.reason.as_deref().unwrap_or("")),
            ("limit", &limit),
        ];
        (cursor::href("/api/dlq", &params, &cursor), cursor)
    });
    Ok(cursor::page(dead, next))
}

#[utoipa::path(get, operation_id = "show_dead_letter", path = "/api/dlq/{key}", tag = "dead letter",
    params(("key" = String, Path, description = "The job's key, percent-encoded")),
    responses(
        (status = 200, description = "The dead letter, with every attempt's error", body = DeadJob),
        (status = 404, description = "No such key in the dead letter", body = ErrorBody),
    ))]
pub async fn show(
    State(api): State<Api>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Json<DeadJob>, ApiError> {
    let key = params::key(key)?;
    let lookup = key.clone();
    let dead = api.database.read(move |admin| admin.dead_letter(&lookup)).await?;
    Ok(Json(dead.ok_or_else(|| missing(&key))?))
}

/// `GET /api/dlq/replay` and `GET /api/dlq/purge`: the dead letters keyed `replay` and
/// `purge`, whose paths the bulk endpoints' routes take first.
#[utoipa::path(get, operation_id = "show_dead_letter_replay", path = "/api/dlq/replay",
    tag = "dead letter",
    responses(
        (status = 200, description = "The dead letter keyed `replay`", body = DeadJob),
        (status = 404, description = "No key `replay` in the dead letter", body = ErrorBody),
    ))]
pub async fn show_replay(state: State<Api>) -> Result<Json<DeadJob>, ApiError> {
    show(state, Ok(Path("replay".to_owned()))).await
}

#[utoipa::path(get, operation_id = "show_dead_letter_purge", path = "/api/dlq/purge",
    tag = "dead letter",
    responses(
        (status = 200, description = "The dead letter keyed `purge`", body = DeadJob),
        (status = 404, description = "No key `purge` in the dead letter", body = ErrorBody),
    ))]
pub async fn show_purge(state: State<Api>) -> Result<Json<DeadJob>, ApiError> {
    show(state, Ok(Path("purge".to_owned()))).await
}

/// Moves one job back to the queue, due at once; 404 when the key is not in the dead letter.
#[utoipa::path(post, operation_id = "replay_one", path = "/api/dlq/{key}/replay", tag = "dead letter",
    params(("key" = String, Path, description = "The job's key, percent-encoded")),
    responses(
        (status = 200, description = "Back in the queue, due at once", body = Acted),
        (status = 404, description = "No such key in the dead letter", body = Acted),
    ))]
pub async fn replay(state: State<Api>, key: Result<Path<String>, PathRejection>) -> Response {
    one(state, key, DeadAction::Replay).await
}

/// Deletes one dead letter for good; 404 when the key is not in the dead letter.
#[utoipa::path(post, operation_id = "purge_one", path = "/api/dlq/{key}/purge", tag = "dead letter",
    params(("key" = String, Path, description = "The job's key, percent-encoded")),
    responses(
        (status = 200, description = "Deleted for good", body = Acted),
        (status = 404, description = "No such key in the dead letter", body = Acted),
    ))]
pub async fn purge(state: State<Api>, key: Result<Path<String>, PathRejection>) -> Response {
    one(state, key, DeadAction::Purge).await
}

#[utoipa::path(post, operation_id = "replay", path = "/api/dlq/replay", tag = "dead letter",
    request_body = Which,
    responses(
        (status = 200, description = "Done for every job selected", body = Acted),
        (status = 404, description = "A key named is not in the dead letter (the others are done)", body = Acted),
        (status = 400, description = "Not one selection: none, several, or an empty `keys`", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
    ))]
pub async fn replay_many(state: State<Api>, request: Request) -> Response {
    many(state, request, DeadAction::Replay).await
}

#[utoipa::path(post, operation_id = "purge", path = "/api/dlq/purge", tag = "dead letter",
    request_body = Which,
    responses(
        (status = 200, description = "Done for every job selected", body = Acted),
        (status = 404, description = "A key named is not in the dead letter (the others are done)", body = Acted),
        (status = 400, description = "Not one selection: none, several, or an empty `keys`", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
    ))]
pub async fn purge_many(state: State<Api>, request: Request) -> Response {
    many(state, request, DeadAction::Purge).await
}

async fn one(
    State(api): State<Api>,
    key: Result<Path<String>, PathRejection>,
    action: DeadAction,
) -> Response {
    let key = match params::key(key) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    let which = Which { keys: Some(vec![key]), ..Which::default() };
    act(&api, action, &which).await.unwrap_or_else(IntoResponse::into_response)
}

async fn many(State(api): State<Api>, request: Request, action: DeadAction) -> Response {
    let answer = async {
        let body = limits::body(request, &api).await?;
        let which: Which = serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not a selection ({e}); send {{\"keys\": [...]}}, {{\"all\": true}} \
                 or {{\"queue\": ..., \"reason\": ...}}"
            ))
        })?;
        act(&api, action, &which).await
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

/// Does `action` to what `which` selects and answers as the command prints.
pub async fn act(api: &Api, action: DeadAction, which: &Which) -> Result<Response, ApiError> {
    let selector = which.selector().map_err(ApiError::bad_request)?;
    let done = api.database.act_on_dead(action, selector).await?;
    let missing = which.missing(&done);
    let done = match action {
        DeadAction::Replay => Done::Replayed(done),
        DeadAction::Purge => Done::Purged(done),
    };
    if missing.is_empty() {
        return Ok(Json(Acted { done, missing, error: None }).into_response());
    }
    let keys: Vec<String> = missing.iter().map(|k| format!("{k:?}")).collect();
    let error = Some(format!("not in the dead letter: {}", keys.join(", ")));
    Ok((StatusCode::NOT_FOUND, Json(Acted { done, missing, error })).into_response())
}

/// What a replay or purge did, as `dlq replay --json` / `dlq purge --json` print it.
#[derive(Serialize, ToSchema)]
pub struct Acted {
    #[serde(flatten)]
    done: Done,
    /// Keys named that are not in the dead letter.
    missing: Vec<String>,
    /// Set when `missing` is not empty (a 404).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The keys acted on, named by the act.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Done {
    /// Moved back to the queue with attempts reset, due at once.
    Replayed(Vec<String>),
    /// Deleted for good.
    Purged(Vec<String>),
}

/// Which dead letters a bulk replay or purge takes: keys, all, or a filter.
#[derive(Deserialize, Default, Debug, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Which {
    /// These keys.
    pub keys: Option<Vec<String>>,
    /// Every dead letter.
    #[serde(default)]
    pub all: bool,
    /// The dead letters of this queue (with `reason`, of both).
    pub queue: Option<String>,
    /// The dead letters that died for this reason: `exhausted`, `permanent` or `crashed`.
    pub reason: Option<String>,
}

impl Which {
    /// What the store is asked to take, or why this is no selection (none or two given).
    pub fn selector(&self) -> Result<Selector, String> {
        let filter = filter(self.queue.as_deref(), self.reason.as_deref())?;
        let filtered = filter != DeadFilter::default();
        match (&self.keys, self.all, filtered) {
            (Some(keys), false, false) if !keys.is_empty() => Ok(Selector::Keys(keys.clone())),
            (Some(_), false, false) => Err("`keys` is empty; name at least one key".to_owned()),
            (None, true, false) => Ok(Selector::All),
            (None, false, true) => Ok(Selector::Matching(filter)),
            (None, false, false) => Err("nothing selected; give `keys`, `all` or a filter \
                                        (`queue`, `reason`)"
                .to_owned()),
            _ => {
                Err("give one of `keys`, `all` or a filter (`queue`, `reason`), not several"
                    .to_owned())
            }
        }
    }

    /// The keys named that are not among `done`.
    pub fn missing(&self, done: &[String]) -> Vec<String> {
        let keys = self.keys.iter().flatten();
        let mut missing: Vec<String> = keys.filter(|k| !done.contains(k)).cloned().collect();
        missing.dedup();
        missing
    }
}

/// A filter from a queue and a reason's word, empty ones meaning any.
pub fn filter(queue: Option<&str>, reason: Option<&str>) -> Result<DeadFilter, String> {
    let reason = reason.filter(|r| !r.is_empty()).map(parse_reason).transpose()?;
    let queue = queue.filter(|q| !q.is_empty()).map(str::to_owned);
    Ok(DeadFilter { queue, reason })
}

fn missing(key: &str) -> ApiError {
    ApiError::not_found(format!("no job {key:?} in the dead letter"))
}
