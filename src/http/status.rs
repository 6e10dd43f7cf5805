//! `/healthz`, `/api/status` (what `status --json` prints) and `/metrics` (what
//! `status --prom` prints).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use nightshift_actors::{Clock, SystemClock};
use serde_json::{Value, json};

use super::{Api, ApiError};
use crate::commands::status;
use crate::metrics::{self, Snapshot};

/// `{"status":"up"}` when the database answers, `{"status":"degraded"}` (503) when it does
/// not; nothing else, and no token needed.
pub async fn healthz(State(api): State<Api>) -> Response {
    match api.database.read(|admin| admin.status()).await {
        Ok(_) => Json(json!({ "status": "up" })).into_response(),
        Err(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "degraded" }))).into_response()
        }
    }
}

pub async fn show(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    let settings = api.settings.clone();
    let v =
        api.database.read(move |admin| status::json(admin, &settings, SystemClock.now())).await?;
    Ok(Json(v))
}

/// The Prometheus text format, with its content type.
pub async fn metrics(State(api): State<Api>) -> Result<Response, ApiError> {
    let settings = api.settings.clone();
    let snapshot =
        api.database.read(move |admin| Snapshot::read(admin, &settings, SystemClock.now())).await?;
    let text = metrics::render(&snapshot).map_err(|e| ApiError::internal(&e))?;
    let content_type = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}
