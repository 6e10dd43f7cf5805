//! `POST /api/pause` (`pause --reason TEXT`) and `POST /api/resume` (`resume`): the kill
//! switch. Both answer `{"paused": bool, "changed": bool}`: `changed` is false when the switch
//! already stood that way (`already paused`, `not paused`).

use axum::Json;
use axum::extract::{Request, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Api, ApiError, limits};

/// The body of `POST /api/pause`, which may also be empty.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    reason: Option<String>,
}

pub async fn pause(State(api): State<Api>, request: Request) -> Result<Json<Value>, ApiError> {
    let body = limits::body(request, &api).await?;
    let PauseBody { reason } = if body.iter().all(u8::is_ascii_whitespace) {
        PauseBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("the body is not {{\"reason\": ...}}: {e}"))
        })?
    };
    let changed = api.database.set_paused(true, reason).await?;
    Ok(Json(json!({ "paused": true, "changed": changed })))
}

pub async fn resume(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    let changed = api.database.set_paused(false, None).await?;
    Ok(Json(json!({ "paused": false, "changed": changed })))
}
