//! What bounds a request: a body limit, a time limit, and one log line per request (method,
//! path, status, duration; never a header, so never the token).

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{Api, ApiError};
use crate::config::Settings;

/// Room for the JSON around a payload in `POST /api/jobs` (key, queue, options, escapes).
const ENVELOPE: usize = 64 * 1024;

/// The largest body read: one job's payload at `[store] max_payload`, plus its envelope.
pub fn max_body(settings: &Settings) -> usize {
    settings.max_payload.saturating_add(ENVELOPE)
}

/// The limit every body extractor applies.
pub fn body_limit(settings: &Settings) -> DefaultBodyLimit {
    DefaultBodyLimit::max(max_body(settings))
}

/// Reads a request's body within [`max_body`]: 413 when it is larger, said before reading
/// any of it when `Content-Length` already tells (a client that sent `Expect: 100-continue`
/// then never sends it).
pub async fn body(request: Request, api: &Api) -> Result<Bytes, ApiError> {
    let max = max_body(&api.settings);
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is over {max} bytes ([store] max_payload {} plus {ENVELOPE} \
                 for the JSON around it)",
                api.settings.max_payload
            ),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    Bytes::from_request(request, &()).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request("the request body could not be read")
        }
    })
}

/// Answers 503 past `[http] timeout`, and logs every request. A write answered so may still
/// be applied: the database call it waits on is not interrupted.
pub async fn bounded(State(api): State<Api>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = match tokio::time::timeout(api.settings.http.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the request timed out").into_response()
        }
    };
    tracing::info!(target: "nightshift", event = "http_request", method = %method, path = %path,
        status = response.status().as_u16(), duration_ms = started.elapsed().as_millis() as u64);
    response
}
