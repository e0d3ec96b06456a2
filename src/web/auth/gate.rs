//! The gate in front of every person-facing route: it establishes who
//! asks (identity.rs) and hands the caller and their address to the
//! handler, or answers 401 (429, 503) with why, as a page for a browser and
//! as JSON for the API.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::identity::{ClientAddr, Unidentified, caller_of, client_address};
use crate::web::AppState;
use crate::web::error::{AppError, PageError};

/// In front of every person-facing route: establishes the caller or
/// answers 401 (429, 503) with why.
pub async fn identify(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match caller_of(&state.auth, peer, req.headers()).await {
        Ok(caller) => {
            let from = client_address(&state.auth, peer, req.headers());
            req.extensions_mut().insert(caller);
            req.extensions_mut().insert(ClientAddr(from));
            next.run(req).await
        }
        Err(why) => {
            tracing::info!(path = %req.uri().path(), ?peer, reason = ?why, "refused: no identity");
            unidentified(req.headers(), why)
        }
    }
}

/// 401 (429, 503): a page for a browser, grpc-gateway's JSON for the API
/// and scripts.
fn unidentified(headers: &HeaderMap, why: Unidentified) -> Response {
    let error = match why {
        Unidentified::NotSignedIn(t) => AppError::Unauthorized(t),
        Unidentified::TooMany(t) => AppError::TooMany(t),
        Unidentified::CannotCheck(t) => AppError::AccessUnknown(t),
    };
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        PageError(error).into_response()
    } else {
        error.into_response()
    }
}
