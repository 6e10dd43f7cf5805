//! `POST /api/pause` (`pause --reason TEXT`) and `POST /api/resume` (`resume`): the kill
//! switch. Both answer `{"paused": bool, "changed": bool}`: `changed` is false when the switch
//! already stood that way (`already paused`, `not paused`).

use axum::Json;
use axum::extract::{Request, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::{Api, ApiError, limits};

/// The body of `POST /api/pause`, which may also be empty.
/// Why claims are paused (optional; an empty body is no reason).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseBody {
    /// Shown by `status` and the dashboard.
    reason: Option<String>,
}

/// The kill switch after a pause or resume.
#[derive(Serialize, ToSchema)]
pub struct Switched {
    /// Whether claims are paused now.
    paused: bool,
    /// Whether this request changed it.
    changed: bool,
}

/// Turns the kill switch on: runners claim nothing more, jobs in flight finish (`pause`).
#[utoipa::path(post, operation_id = "pause", path = "/api/pause", tag = "kill switch",
    request_body(content = Option<PauseBody>, description = "An optional reason; the body may be empty"),
    responses(
        (status = 200, description = "Paused", body = Switched),
        (status = 400, description = "The body is not `{\"reason\": ...}`", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
    ))]
pub async fn pause(State(api): State<Api>, request: Request) -> Result<Json<Switched>, ApiError> {
    let body = limits::body(request, &api).await?;
    let PauseBody { reason } = if body.iter().all(u8::is_ascii_whitespace) {
        PauseBody::default()
    } else {
        // `null` is no reason, as an empty body is.
        serde_json::from_slice::<Option<PauseBody>>(&body).map(Option::unwrap_or_default).map_err(
            |e| ApiError::bad_request(format!("the body is not {{\"reason\": ...}}: {e}")),
        )?
    };
    let changed = api.database.set_paused(true, reason).await?;
    Ok(Json(Switched { paused: true, changed }))
}

/// Turns the kill switch off (`resume`).
#[utoipa::path(post, operation_id = "resume", path = "/api/resume", tag = "kill switch",
    responses((status = 200, description = "Claims go on", body = Switched)))]
pub async fn resume(State(api): State<Api>) -> Result<Json<Switched>, ApiError> {
    let changed = api.database.set_paused(false, None).await?;
    Ok(Json(Switched { paused: false, changed }))
}
