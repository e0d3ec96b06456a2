//! One error type for HTTP handlers, mapped to the right status, and the
//! one place it becomes an answer: JSON for the API and scripts, keeping the
//! body shape of Argo's dashboard, `{"code": <gRPC code>, "message": ...}`,
//! but with the HTTP status that fits (Argo answers 500 for everything); a
//! page with the same status for a browser (`PageError`, shown by
//! `error_pages.rs`).
//! Handlers return `Result<_, AppError>` (or `PageError`) and use `?`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Clone, Debug, thiserror::Error)]
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
    /// The first lists are not in yet, or the history cannot be read.
    #[error("{0}")]
    Unavailable(String),
    /// The person's rights could not be asked now (an access or token
    /// review failed or timed out).
    #[error("{0}")]
    AccessUnknown(String),
    /// Something of the dashboard's own failed (a cookie could not be
    /// sealed).
    #[error("{0}")]
    Internal(String),
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
            AppError::Unavailable(_) | AppError::AccessUnknown(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The heading of the page that shows it.
    pub fn title(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "Bad request",
            AppError::Unauthorized(_) => "Not signed in",
            AppError::Forbidden(_) => "Not allowed",
            AppError::TooMany(_) => "Too many requests",
            AppError::NotFound(_) => "Not found",
            AppError::Conflict(_) => "Changed meanwhile",
            AppError::Unprocessable(_) => "Cannot do that",
            AppError::GatewayTimeout(_) => "Kubernetes did not answer",
            AppError::BadGateway(_) => "Kubernetes failed",
            AppError::Unavailable(_) => "Not available now",
            AppError::AccessUnknown(_) => "Cannot check your access",
            AppError::Internal(_) => "Something went wrong",
        }
    }

    /// Whether its page offers the sign-in (when the dashboard has one):
    /// signing in (again) may be the way on.
    pub fn offers_sign_in(&self) -> bool {
        matches!(
            self,
            AppError::Unauthorized(_) | AppError::TooMany(_) | AppError::AccessUnknown(_)
        )
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
            AppError::Unavailable(_) | AppError::AccessUnknown(_) => 14,
            AppError::Internal(_) => 13, // Internal
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
        if matches!(
            self,
            AppError::Unavailable(_) | AppError::TooMany(_) | AppError::AccessUnknown(_)
        ) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<crate::cluster::access::CheckError> for AppError {
    fn from(e: crate::cluster::access::CheckError) -> Self {
        use crate::cluster::access::CheckError as E;
        match e {
            E::Review(_) => AppError::AccessUnknown(e.to_string()),
            E::TooManyTokens(_) => AppError::TooMany(e.to_string()),
        }
    }
}

impl From<crate::cluster::deflated::Inflate> for AppError {
    fn from(e: crate::cluster::deflated::Inflate) -> Self {
        tracing::error!(error = %e, "cannot read a rollout's kept JSON");
        AppError::Internal(e.to_string())
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
            E::Api(_) | E::Unreachable(_) | E::Unreadable(_) => AppError::BadGateway(message),
        }
    }
}

/// An error a page handler returns: the same `AppError`, shown as a page
/// instead of JSON (by `error_pages::show_pages`, which knows where the
/// dashboard's links start).
#[derive(Debug)]
pub struct PageError(pub AppError);

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        PageError(e)
    }
}

/// Marks an answer for `error_pages::show_pages`.
#[derive(Clone)]
pub struct ShowAsPage(pub AppError);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = self.0.clone().into_response();
        response.extensions_mut().insert(ShowAsPage(self.0));
        response
    }
}
