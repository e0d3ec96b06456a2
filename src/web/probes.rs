//! `/healthz`: the process answers. `/readyz`: 200 only once the initial
//! lists of Rollouts, ReplicaSets and Pods are in (see `Health::ready`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The body is the connection state, so a person (or a probe log) can see
/// what it waits for.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let snapshot = state.view.snapshot();
    let status = if snapshot.health.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(&*snapshot.health)).into_response()
}

/// `/readyz` on the user-facing port when people sign in: ready or not,
/// without naming anything the cluster holds.
pub async fn readyz_brief(State(state): State<AppState>) -> Response {
    if state.view.snapshot().health.ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}
