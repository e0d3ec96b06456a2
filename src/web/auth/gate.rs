//! The gate in front of every person-facing route: it establishes who
//! asks (identity.rs) and hands the caller and their address to the
//! handler, or answers 401 (429, 503) with why, as a page for a browser and
//! as JSON for the API.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::identity::{ClientAddr, Unidentified, caller_of, client_address};
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::templates::message_page;

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
            unidentified(&state, req.headers(), why)
        }
    }
}

/// 401 (429, 503): a page for a browser, grpc-gateway's JSON for the API
/// and scripts.
fn unidentified(state: &AppState, headers: &HeaderMap, why: Unidentified) -> Response {
    let (status, error, text) = match why {
        Unidentified::NotSignedIn(t) => (
            StatusCode::UNAUTHORIZED,
            AppError::Unauthorized(t.clone()),
            t,
        ),
        Unidentified::TooMany(t) => (
            StatusCode::TOO_MANY_REQUESTS,
            AppError::TooMany(t.clone()),
            t,
        ),
        Unidentified::CannotCheck(t) => (
            StatusCode::SERVICE_UNAVAILABLE,
            AppError::Unavailable(t.clone()),
            t,
        ),
    };
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if !wants_html {
        return error.into_response();
    }
    let title = if status == StatusCode::UNAUTHORIZED {
        "Not signed in"
    } else {
        "Cannot sign you in now"
    };
    message_page(
        &state.base_path,
        status,
        title,
        text,
        state.auth.has_sign_in(),
    )
}
