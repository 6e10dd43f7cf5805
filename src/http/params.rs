//! What requests name besides their body: a key in the path, a page size in the query.

use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use serde::Deserialize;

use super::ApiError;

/// The most rows one listing returns.
pub const MAX_LIMIT: u32 = 1000;

/// The rows a listing returns when no `limit` is given, as the commands' `--limit`.
const DEFAULT_LIMIT: u32 = 100;

/// The key a path names (`/api/jobs/{key}`), percent-decoded; 400 if it cannot be.
pub fn key(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(key)| key).map_err(|e| ApiError::bad_request(e.body_text()))
}

/// `?limit=N` alone (100 by default, as `dlq list`).
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Limit {
    /// Rows, 1 to 1000 (100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// `?limit=N`: from 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when not given.
pub fn limit(given: Option<u32>) -> Result<u32, ApiError> {
    let limit = given.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit must be from 1 to {MAX_LIMIT}")));
    }
    Ok(limit)
}
