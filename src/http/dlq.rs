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
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use nightshift_actors::{DeadFilter, DeadJob, DeadQuery, Selector};
use serde::Deserialize;
use serde_json::json;

use super::database::DeadAction;
use super::{Api, ApiError, cursor, limits, params};
use crate::cli::parse_reason;

/// `?queue=Q&reason=R&limit=N&cursor=C` (limit 100 by default, as `dlq list`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    queue: Option<String>,
    reason: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The dead letters, the newest first.
pub async fn list(
    State(api): State<Api>,
    query: Result<Query<Listing>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(listing) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = params::limit(listing.limit)?;
    let filter = filter(listing.queue.as_deref(), listing.reason.as_deref())
        .map_err(ApiError::bad_request)?;
    let after = listing.cursor.as_deref().map(cursor::parse_dead).transpose()?;
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
pub async fn show_literal(state: State<Api>, uri: Uri) -> Result<Json<DeadJob>, ApiError> {
    let key = uri.path().rsplit('/').next().unwrap_or_default().to_owned();
    show(state, Ok(Path(key))).await
}

/// Moves one job back to the queue, due at once; 404 when the key is not in the dead letter.
pub async fn replay(state: State<Api>, key: Result<Path<String>, PathRejection>) -> Response {
    one(state, key, DeadAction::Replay).await
}

/// Deletes one dead letter for good; 404 when the key is not in the dead letter.
pub async fn purge(state: State<Api>, key: Result<Path<String>, PathRejection>) -> Response {
    one(state, key, DeadAction::Purge).await
}

pub async fn replay_many(state: State<Api>, request: Request) -> Response {
    many(state, request, DeadAction::Replay).await
}

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
    let mut body = json!({ action.done(): done, "missing": missing });
    if missing.is_empty() {
        return Ok(Json(body).into_response());
    }
    let keys: Vec<String> = missing.iter().map(|k| format!("{k:?}")).collect();
    body["error"] = json!(format!("not in the dead letter: {}", keys.join(", ")));
    Ok((StatusCode::NOT_FOUND, Json(body)).into_response())
}

/// Which dead letters a bulk replay or purge takes: keys, all, or a filter.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct Which {
    pub keys: Option<Vec<String>>,
    #[serde(default)]
    pub all: bool,
    pub queue: Option<String>,
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
