//! `POST /api/jobs` with a body of JSON lines (`Content-Type: application/x-ndjson` or
//! `application/jsonl`): what `enqueue --jsonl FILE --json` does. One job per line, the fields
//! of the single form; blank lines are skipped.
//!
//! Every line is read and checked (its JSON, its durations, its payload's size and format,
//! its key, queue, attempts and limit) before any is enqueued: the first bad line refuses the
//! whole batch, naming its number (400 not a job, 422 a bad value or a limit the config does
//! not define, 413 a payload too large). Then
//! the jobs go to [`super::Database::enqueue_all`], and the answer is `enqueue --jsonl
//! --json`'s lines, in the same `application/x-ndjson`: one per job, in order, with its
//! `line`, then `{"summary": ...}`. Its status: 409 when a line conflicted (the others were
//! applied, as the command does), else 201 when one was enqueued, else 200.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nightshift_actors::Enqueued;
use serde_json::json;

use super::jobs::{check_payload, line_error};
use super::{Api, ApiError};
use crate::commands::enqueue::jsonl::{self, BadLine, LineError};
use crate::commands::enqueue::{Counts, outcome_json, unknown_limit};

/// The content types of a batch.
const LINES: [&str; 3] = ["application/x-ndjson", "application/jsonl", "application/x-jsonlines"];

/// Whether the request's body is JSON lines.
pub fn is_lines(headers: &HeaderMap) -> bool {
    let given = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = given.split(';').next().unwrap_or("").trim();
    LINES.iter().any(|t| essence.eq_ignore_ascii_case(t))
}

pub async fn enqueue(api: &Api, body: &[u8]) -> Result<Response, ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not UTF-8 (invalid byte at offset {}); nothing was enqueued",
            e.valid_up_to()
        ))
    })?;
    let max = api.settings.max_payload;
    let refused = |bad: BadLine| line_error(&bad.error, bad.to_string());
    let jobs = jsonl::parse(text, max).map_err(refused)?;
    if jobs.is_empty() {
        return Err(ApiError::bad_request("the body holds no jobs; send one JSON object a line"));
    }
    for j in &jobs {
        check_payload(api, &j.job, &format!("line {}: the payload of {:?}", j.line, j.job.key))?;
        let invalid = j.job.validate(max).err().map(|e| e.to_string());
        if let Some(why) = invalid.or_else(|| unknown_limit(&api.settings, &j.job)) {
            return Err(refused(BadLine { line: j.line, error: LineError::Invalid(why) }));
        }
    }
    let numbers: Vec<usize> = jobs.iter().map(|j| j.line).collect();
    let keys: Vec<String> = jobs.iter().map(|j| j.job.key.clone()).collect();
    let outcomes = api.database.enqueue_all(jobs.into_iter().map(|j| j.job).collect()).await?;
    let mut out = String::new();
    for ((line, key), (outcome, differs_at)) in numbers.iter().zip(&keys).zip(&outcomes) {
        let mut v = outcome_json(key, outcome, *differs_at);
        v.line = Some(*line);
        out.push_str(&format!("{}\n", serde_json::to_string(&v).unwrap_or_default()));
    }
    let outcomes: Vec<Enqueued> = outcomes.into_iter().map(|(o, _)| o).collect();
    out.push_str(&format!("{}\n", json!({ "summary": Counts::of(&outcomes).json() })));
    let status = if outcomes.iter().any(|o| matches!(o, Enqueued::Conflict { .. })) {
        StatusCode::CONFLICT
    } else if outcomes.contains(&Enqueued::Enqueued) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let content_type = HeaderValue::from_static("application/x-ndjson");
    Ok((status, [(header::CONTENT_TYPE, content_type)], out).into_response())
}
