//! `POST /api/jobs` (what `enqueue --json KEY PAYLOAD` does), `GET /api/jobs/{key}` (`jobs
//! show KEY --json`) and `GET /api/jobs` (`jobs --json`).

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use nightshift_actors::{Enqueued, JobStatus};
use serde::Deserialize;
use serde_json::Value;

use super::{Api, ApiError, limits, params};
use crate::commands::enqueue::jsonl::{Line, LineError};
use crate::commands::enqueue::outcome_json;
use crate::commands::jobs::job_json;

/// Enqueues one job given as a `--jsonl` line is (`{"key", "payload", "queue",
/// "max_attempts", "priority", "delay", "timeout"}`): 201 enqueued, 200 duplicate or
/// dead-lettered (nothing changed), 409 conflict; the body is `enqueue --json`'s line.
pub async fn enqueue(
    State(api): State<Api>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = limits::body(request, &api).await?;
    let line: Line = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not a job: {e}")))?;
    let job = line.into_job(api.settings.max_payload).map_err(|e| match e {
        LineError::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        LineError::Invalid(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    })?;
    if let Err(why) = api.settings.payload.check(&job.payload) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the payload is not JSON ({why}), and [store] payload = \"json\" requires JSON; \
                 nothing was enqueued"
            ),
        ));
    }
    let key = job.key.clone();
    let (outcome, differs_at) = api.database.enqueue(job).await?;
    let code = match outcome {
        Enqueued::Enqueued => StatusCode::CREATED,
        Enqueued::Duplicate { .. } | Enqueued::DeadLettered => StatusCode::OK,
        Enqueued::Conflict { .. } => StatusCode::CONFLICT,
    };
    Ok((code, Json(outcome_json(&key, &outcome, differs_at))))
}

pub async fn show(
    State(api): State<Api>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let key = params::key(key)?;
    let lookup = key.clone();
    let job = api.database.read(move |admin| admin.job(&lookup)).await?;
    let job = job.ok_or_else(|| ApiError::not_found(format!("no job {key:?} in jobs")))?;
    Ok(Json(job_json(&job)))
}

/// `?status=pending|running|done&queue=Q&limit=N` (limit 100 by default, as `jobs`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    status: Option<String>,
    queue: Option<String>,
    limit: Option<u32>,
}

/// The jobs, the newest first, as `jobs --json` lists them. No cursor: `limit` only.
pub async fn list(
    State(api): State<Api>,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(filter) = filter.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let status = match filter.status.as_deref() {
        None => None,
        Some("pending") => Some(JobStatus::Pending),
        Some("running") => Some(JobStatus::Running),
        Some("done") => Some(JobStatus::Done),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "status {other:?} is not one of pending, running, done"
            )));
        }
    };
    let limit = params::limit(filter.limit)?;
    let queue = filter.queue;
    let jobs = api.database.read(move |admin| admin.jobs(status, queue.as_deref(), limit)).await?;
    Ok(Json(Value::Array(jobs.iter().map(job_json).collect())))
}
