//! `POST /api/jobs/{key}/signal/{name}` (`nightshift signal KEY NAME -`, the body the payload)
//! and `POST /api/jobs/{key}/cancel` (`nightshift cancel KEY`).

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nightshift_actors::{Cancelled, Signalled};

use super::error::ErrorBody;
use super::{Api, ApiError, limits, params};

/// Continues a job waiting for the signal `name`: the body (text) is stored as its step
/// `name` and the job is due now; 409 (nothing changed) when it does not wait for `name`.
#[utoipa::path(post, operation_id = "signal_job", path = "/api/jobs/{key}/signal/{name}",
    tag = "jobs",
    params(
        ("key" = String, Path, description = "The job's key, percent-encoded"),
        ("name" = String, Path, description = "The signal's name, percent-encoded"),
    ),
    request_body(content = String, description = "The payload, as text; may be empty"),
    responses(
        (status = 200, description = "Stored; the job is due now", body = Signalled),
        (status = 409, description = "The job does not wait for this signal", body = Signalled),
        (status = 400, description = "The payload is not UTF-8", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
    ))]
pub async fn signal(
    State(api): State<Api>,
    path: Result<Path<(String, String)>, PathRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let Path((key, name)) =
        path.map_err(|e| ApiError::bad_request(format!("bad key or name: {e}")))?;
    let body = limits::body(request, &api).await?;
    let payload = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("the payload is not UTF-8"))?;
    let answer = api.database.signal(key, name, payload).await?;
    let code = match answer {
        Signalled::Resumed => StatusCode::OK,
        Signalled::NotWaiting { .. } => StatusCode::CONFLICT,
    };
    Ok((code, Json(answer)).into_response())
}

/// Cancels one job: a pending, waiting or running one becomes `cancelled` (a running one's
/// handler is stopped); 404 no such job, 409 already finished (nothing changed).
#[utoipa::path(post, operation_id = "cancel_job", path = "/api/jobs/{key}/cancel", tag = "jobs",
    params(("key" = String, Path, description = "The job's key, percent-encoded")),
    responses(
        (status = 200, description = "Cancelled; `was` is its status before", body = Cancelled),
        (status = 404, description = "No such key in `jobs`", body = Cancelled),
        (status = 409, description = "Already finished; nothing changed", body = Cancelled),
    ))]
pub async fn cancel(
    State(api): State<Api>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let key = params::key(key)?;
    let answer = api.database.cancel(key).await?;
    let code = match answer.was {
        None => StatusCode::NOT_FOUND,
        Some(_) if answer.changed() => StatusCode::OK,
        Some(_) => StatusCode::CONFLICT,
    };
    Ok((code, Json(answer)).into_response())
}
