//! One error type for HTTP handlers, mapped to the right status. API errors
//! keep the body shape of Argo's dashboard, `{"code": <gRPC code>,
//! "message": ...}`, but with the HTTP status that fits (Argo answers 500 for
//! everything).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    /// Who the person is could not be established (`--auth proxy|token`).
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// Too many requests of one kind from one person or address.
    #[error("{0}")]
    TooMany(String),
    #[error("{0}")]
    NotFound(String),
    /// The rollout is not in a state where the action applies, or changed
    /// since the person looked.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    GatewayTimeout(String),
    /// The Kubernetes API failed or cannot be reached.
    #[error("{0}")]
    BadGateway(String),
    /// The first lists are not in yet.
    #[error("{0}")]
    Unavailable(String),
}

/// grpc-gateway's error body.
#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub code: i32,
    pub message: &'a str,
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            AppError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The gRPC code grpc-gateway would have mapped to this HTTP status.
    pub fn grpc_code(&self) -> i32 {
        match self {
            AppError::BadRequest(_) => 3,    // InvalidArgument
            AppError::Unauthorized(_) => 16, // Unauthenticated
            AppError::Forbidden(_) => 7,     // PermissionDenied
            AppError::TooMany(_) => 8,       // ResourceExhausted
            AppError::NotFound(_) => 5,      // NotFound
            AppError::Conflict(_) => 10,     // Aborted
            AppError::Unprocessable(_) => 3,
            AppError::GatewayTimeout(_) => 4, // DeadlineExceeded
            AppError::BadGateway(_) => 14,    // Unavailable
            AppError::Unavailable(_) => 14,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let body = ErrorBody {
            code: self.grpc_code(),
            message: &message,
        };
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, AppError::Unavailable(_) | AppError::TooMany(_)) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<crate::cluster::act::ActError> for AppError {
    fn from(e: crate::cluster::act::ActError) -> Self {
        use crate::cluster::act::ActError as E;
        let message = e.to_string();
        match e {
            E::Conflict(_) => AppError::Conflict(message),
            E::Invalid(_) => AppError::Unprocessable(message),
            E::Forbidden(_) => AppError::Forbidden(message),
            E::NotFound(_) => AppError::NotFound(message),
            E::Timeout(_) => AppError::GatewayTimeout(message),
            E::Api(_) => AppError::BadGateway(message),
        }
    }
}
