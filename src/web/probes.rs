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
