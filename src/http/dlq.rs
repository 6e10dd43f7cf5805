//! `GET /api/dlq` (`dlq list --json`), `GET /api/dlq/{key}` (`dlq show KEY --json`) and
//! `POST /api/dlq/{key}/replay` (`dlq replay KEY --json`).

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use nightshift_actors::{DeadJob, Selector};
use serde_json::{Value, json};

use super::params::{self, Limit};
use super::{Api, ApiError};

/// The dead letters, the newest first.
pub async fn list(
    State(api): State<Api>,
    query: Result<Query<Limit>, QueryRejection>,
) -> Result<Json<Vec<DeadJob>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = params::limit(query.limit)?;
    Ok(Json(api.database.read(move |admin| admin.dead_letters(limit)).await?))
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

/// Moves one job back to the queue, due at once: `{"replayed": [key], "missing": []}`, or 404
/// when the key is not in the dead letter.
pub async fn replay(
    State(api): State<Api>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let key = params::key(key)?;
    let replayed = api.database.replay(Selector::Keys(vec![key.clone()])).await?;
    if !replayed.contains(&key) {
        return Err(missing(&key));
    }
    Ok(Json(json!({ "replayed": replayed, "missing": [] })))
}

fn missing(key: &str) -> ApiError {
    ApiError::not_found(format!("no job {key:?} in the dead letter"))
}
