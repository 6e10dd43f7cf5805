//! [`ApiError`]: what a request that failed gets, a status code and `{"error": "..."}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nightshift_actors::StoreError;

/// A failed request. The message is meant for the client: it holds nothing the client did not
/// send, apart from the nature of the refusal.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    /// 400: a request that cannot be understood (bad JSON, an unknown filter value).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 500 with a generic message; `detail` goes to the server's log only.
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(target: "nightshift", event = "http_error", error = %detail);
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server's log")
    }
}

impl From<StoreError> for ApiError {
    /// The store's refusals of the client's input keep their message (it names the key or
    /// value the client sent); every other failure is logged and answered generically.
    fn from(e: StoreError) -> Self {
        use StoreError as E;
        match e.named() {
            e @ (E::InvalidKey(_) | E::InvalidValue(_)) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            e @ E::PayloadTooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            e @ (E::Unavailable(_) | E::Missing(_) | E::Open(_)) => {
                tracing::error!(target: "nightshift", event = "http_error", error = %e);
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "the database is unavailable")
            }
            e => Self::internal(&e),
        }
    }
}

/// An error's message, kept on its response so a page can say it in HTML instead
/// (`page::html_errors`).
#[derive(Clone, Debug)]
pub struct ErrorText(pub String);

/// The body of every error the API answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, and where the fix is when the client can make it.
    pub error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let text = ErrorText(self.message.clone());
        let body = ErrorBody { error: self.message };
        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(text);
        response
    }
}

/// Any path under `/api/` the API does not have.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}
