//! `POST /api/jobs` (what `enqueue --json KEY PAYLOAD` does), `GET /api/jobs/{key}` (`jobs
//! show KEY --json`) and `GET /api/jobs` (`jobs --json`).

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nightshift_actors::{Enqueued, JobQuery, JobStatus, NewJob};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ErrorBody;
use super::{Api, ApiError, cursor, limits, params};
use crate::commands::enqueue::jsonl::{Line, LineError};
use crate::commands::enqueue::{EnqueueAnswer, outcome_json};
use crate::commands::jobs::{JobJson, job_json, shown_json};

/// Enqueues one job given as a `--jsonl` line is (`{"key", "payload", "queue",
/// "max_attempts", "priority", "delay", "timeout"}`): 201 enqueued, 200 duplicate or
/// dead-lettered (nothing changed), 409 conflict; the body is `enqueue --json`'s line. A body
/// of JSON lines (`Content-Type: application/x-ndjson` or `application/jsonl`) is a batch:
/// see [`super::jobs_bulk`].
/// Adds a job (`enqueue --json`), or a batch as JSON lines (`enqueue --jsonl - --json`).
#[utoipa::path(post, operation_id = "enqueue", path = "/api/jobs", tag = "jobs",
    request_body(content(
        (Line = "application/json"),
        (String = "application/x-ndjson", example = json!("{\"key\":\"a\"}\n{\"key\":\"b\"}\n")),
    ), description = "One job, or JSON lines of jobs (every line checked before any is enqueued)"),
    responses(
        (status = 201, description = "Enqueued (a batch: at least one)", content(
            (EnqueueAnswer = "application/json"),
            (String = "application/x-ndjson"))),
        (status = 200, description = "A duplicate, or a key in the dead letter: nothing changed",
            content((EnqueueAnswer = "application/json"), (String = "application/x-ndjson"))),
        (status = 409, description = "The key holds another payload: nothing changed", content(
            (EnqueueAnswer = "application/json"), (String = "application/x-ndjson"))),
        (status = 400, description = "The body is not a job (a batch: names the line)", body = ErrorBody),
        (status = 413, description = "The body or a payload is too large", body = ErrorBody),
        (status = 422, description = "A key or value the store refuses", body = ErrorBody),
    ))]
pub async fn enqueue(State(api): State<Api>, request: Request) -> Result<Response, ApiError> {
    let lines = super::jobs_bulk::is_lines(request.headers());
    let body = limits::body(request, &api).await?;
    if lines {
        return super::jobs_bulk::enqueue(&api, &body).await;
    }
    let line: Line = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not a job: {e}")))?;
    let job = line.into_job(api.settings.max_payload).map_err(|e| line_error(&e, e.to_string()))?;
    check_payload(&api, &job, "the payload")?;
    if let Some(why) = crate::commands::enqueue::unknown_limit(&api.settings, &job) {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, why));
    }
    let key = job.key.clone();
    let (outcome, differs_at) = api.database.enqueue(job).await?;
    let code = match outcome {
        Enqueued::Enqueued => StatusCode::CREATED,
        Enqueued::Duplicate { .. } | Enqueued::DeadLettered | Enqueued::Cancelled => StatusCode::OK,
        Enqueued::Conflict { .. } => StatusCode::CONFLICT,
    };
    Ok((code, Json(outcome_json(&key, &outcome, differs_at))).into_response())
}

/// A line that is not a job, as the API answers it: `message` with the status its kind
/// calls for (413 too large, 422 a bad value, 400 not a job at all).
pub fn line_error(e: &LineError, message: String) -> ApiError {
    let status = match e {
        LineError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        LineError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        LineError::Unreadable(_) => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, message)
}

/// 422 when `[store] payload = "json"` and `job`'s payload (`whose`) is not JSON.
pub fn check_payload(api: &Api, job: &NewJob, whose: &str) -> Result<(), ApiError> {
    api.settings.payload.check(&job.payload).map(|_| ()).map_err(|why| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "{whose} is not JSON ({why}), and [store] payload = \"json\" requires JSON; \
                 nothing was enqueued"
            ),
        )
    })
}

/// One job: `jobs show KEY --json`.
#[utoipa::path(get, operation_id = "show_job", path = "/api/jobs/{key}", tag = "jobs",
    params(("key" = String, Path, description = "The job's key, percent-encoded")),
    responses(
        (status = 200, description = "The job", body = JobJson),
        (status = 404, description = "No such key in `jobs`", body = ErrorBody),
    ))]
pub async fn show(
    State(api): State<Api>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Json<JobJson>, ApiError> {
    let key = params::key(key)?;
    let lookup = key.clone();
    let (job, steps) =
        api.database.read(move |admin| Ok((admin.job(&lookup)?, admin.steps(&lookup)?))).await?;
    let job = job.ok_or_else(|| ApiError::not_found(format!("no job {key:?} in jobs")))?;
    Ok(Json(shown_json(&job, &steps)))
}

/// `?status=pending|running|waiting|done|cancelled&queue=Q&prefix=P&limit=N&cursor=C` (limit 100 by default,
/// as `jobs`).
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// `pending`, `running`, `waiting`, `done` or `cancelled`.
    #[param(pattern = "^(pending|running|waiting|done|cancelled)$")]
    status: Option<String>,
    /// Jobs of this queue.
    queue: Option<String>,
    /// Keys that start with this (`%` and `_` are plain characters).
    prefix: Option<String>,
    /// Rows per page, 1 to 1000 (100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Where the last page ended (its `X-Next-Cursor`).
    cursor: Option<String>,
}

/// The jobs, the newest first, as `jobs --json` lists them; a full page names the next in
/// its `Link` header (see [`super::cursor`]).
/// Jobs, the newest first: `jobs --json`. A full page names the next one in `Link` and
/// `X-Next-Cursor`.
#[utoipa::path(get, operation_id = "list_jobs", path = "/api/jobs", tag = "jobs", params(Filter),
    responses(
        (status = 200, description = "A page of jobs", body = Vec<JobJson>, headers(
            ("link" = String, description = "`<...>; rel=\"next\"` when the page is full"),
            ("x-next-cursor" = String, description = "The next page's cursor when the page is full"),
        )),
        (status = 400, description = "A bad filter, limit or cursor", body = ErrorBody),
    ))]
pub async fn list(
    State(api): State<Api>,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(filter) = filter.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let status = match filter.status.as_deref() {
        None => None,
        Some(word) => Some(JobStatus::parse(word).ok_or_else(|| {
            ApiError::bad_request(format!("status {word:?} is not one of {}", JobStatus::known()))
        })?),
    };
    let limit = params::limit(filter.limit)?;
    let after = cursor::given(filter.cursor.as_deref()).map(cursor::parse_jobs).transpose()?;
    let (queue, prefix) = (filter.queue.clone(), filter.prefix.clone());
    let query = JobQuery { status, queue, prefix, after, limit };
    let page = api.database.read(move |admin| admin.jobs_page(&query)).await?;
    let next = page.next.map(|at| {
        let cursor = cursor::jobs(at);
        let limit = limit.to_string();
        let params = [
            ("status", filter.status.as_deref().unwrap_or("")),
            ("queue", filter.queue.as_deref().unwrap_or("")),
            ("prefix", filter.prefix.as_deref().unwrap_or("")),
            ("limit", &limit),
        ];
        (cursor::href("/api/jobs", &params, &cursor), cursor)
    });
    Ok(cursor::page(page.jobs.iter().map(job_json).collect::<Vec<_>>(), next))
}
