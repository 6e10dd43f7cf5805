//! `/healthz`, `/api/status` (what `status --json` prints) and `/metrics` (what
//! `status --prom` prints).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use nightshift_actors::{Clock, SystemClock};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Api, ApiError};
use crate::commands::status::{self, StatusJson};
use crate::metrics::{self, Snapshot};

/// `{"status":"up"}` when the database answers, `{"status":"degraded"}` (503) when it does
/// not; nothing else, and no token needed.
/// `/healthz`'s answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `up`: the database answers; `degraded`: it does not.
    #[schema(pattern = "^(up|degraded)$")]
    pub status: &'static str,
}

/// Whether the database answers. No token needed; it says nothing more.
#[utoipa::path(get, operation_id = "health", path = "/healthz", tag = "health", security(()),
    responses(
        (status = 200, description = "The database answers", body = Health),
        (status = 503, description = "The database does not answer", body = Health),
    ))]
pub async fn healthz(State(api): State<Api>) -> Response {
    match api.database.read(|admin| admin.status()).await {
        Ok(_) => Json(Health { status: "up" }).into_response(),
        Err(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "degraded" })).into_response()
        }
    }
}

/// Counts by status, dead letters, the oldest pending job, gates, runners: `status --json`.
#[utoipa::path(get, operation_id = "status", path = "/api/status", tag = "status",
    responses((status = 200, description = "As `status --json`", body = StatusJson)))]
pub async fn show(State(api): State<Api>) -> Result<Json<StatusJson>, ApiError> {
    let settings = api.settings.clone();
    let v =
        api.database.read(move |admin| status::json(admin, &settings, SystemClock.now())).await?;
    Ok(Json(v))
}

/// The Prometheus text format, with its content type.
/// The same numbers in Prometheus' text format (0.0.4): `status --prom`.
#[utoipa::path(get, operation_id = "metrics", path = "/metrics", tag = "status",
    responses((status = 200, description = "Prometheus text format",
        content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn metrics(State(api): State<Api>) -> Result<Response, ApiError> {
    let settings = api.settings.clone();
    let snapshot =
        api.database.read(move |admin| Snapshot::read(admin, &settings, SystemClock.now())).await?;
    let text = metrics::render(&snapshot).map_err(|e| ApiError::internal(&e))?;
    let content_type = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}
