//! `/sim/v1/...`: control of the simulated cluster for tests and benchmarks
//! that run it as a separate process (a real cluster has no such paths).
//!
//! - `POST /sim/v1/faults` `{"failNext": {"count": 3, "code": 503},
//!   "failFor": {"ms": 5000, "code": 500}, "delayMs": 200, "forbid": ["rollouts"],
//!   "allow": ["rollouts"], "uninstall": ["networking.istio.io"], "install": [...],
//!   "clear": true}`
//! - `POST /sim/v1/watches/close`, `POST /sim/v1/expire`, `POST /sim/v1/restart`
//! - `POST /sim/v1/clock/advance` `{"seconds": 30}`
//! - `GET /sim/v1/requests`: every mutating request received
//! - `GET /sim/v1/istio/metrics`: the simulated mesh's request metrics in
//!   Prometheus's text format (sim/mesh/mod.rs)
//! - `GET /sim/v1/node/metrics`: the node's cAdvisor and kube-state-metrics
//!   series (sim/node_metrics.rs)

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::SignedDuration;
use serde::Deserialize;
use serde_json::json;

use super::ApiServer;

pub fn routes() -> Router<ApiServer> {
    Router::new()
        .route("/sim/v1/faults", post(faults))
        .route("/sim/v1/watches/close", post(close_watches))
        .route("/sim/v1/expire", post(expire))
        .route("/sim/v1/restart", post(restart))
        .route("/sim/v1/clock/advance", post(advance))
        .route("/sim/v1/requests", get(requests))
        .route("/sim/v1/istio/metrics", get(mesh_metrics))
        .route("/sim/v1/node/metrics", get(node_metrics))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultRequest {
    fail_next: Option<FailNext>,
    fail_for: Option<FailFor>,
    delay_ms: Option<u64>,
    #[serde(default)]
    uninstall: Vec<String>,
    #[serde(default)]
    install: Vec<String>,
    #[serde(default)]
    forbid: Vec<String>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    clear: bool,
}

#[derive(Debug, Deserialize)]
struct FailFor {
    ms: u64,
    code: u16,
}

#[derive(Debug, Deserialize)]
struct FailNext {
    count: usize,
    code: u16,
}

async fn faults(State(server): State<ApiServer>, Json(req): Json<FaultRequest>) -> Response {
    if req.clear {
        server.faults.clear();
    }
    let codes = [
        req.fail_next.as_ref().map(|f| f.code),
        req.fail_for.as_ref().map(|f| f.code),
    ];
    if codes
        .iter()
        .flatten()
        .any(|c| !matches!(c, 429 | 500 | 503))
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "failNext.code and failFor.code must be 429, 500 or 503"})),
        )
            .into_response();
    }
    if let Some(f) = req.fail_next {
        server.faults.fail_next(f.count, f.code);
    }
    if let Some(f) = req.fail_for {
        server.faults.fail_for(Duration::from_millis(f.ms), f.code);
    }
    for group in &req.uninstall {
        server.faults.set_uninstalled(group, true);
    }
    for group in &req.install {
        server.faults.set_uninstalled(group, false);
    }
    if let Some(ms) = req.delay_ms {
        server.faults.set_delay(Duration::from_millis(ms));
    }
    for plural in &req.forbid {
        server.faults.set_forbidden(plural, true);
    }
    for plural in &req.allow {
        server.faults.set_forbidden(plural, false);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn close_watches(State(server): State<ApiServer>) -> StatusCode {
    server.close_watches();
    StatusCode::NO_CONTENT
}

async fn expire(State(server): State<ApiServer>) -> StatusCode {
    server.store.expire_history();
    StatusCode::NO_CONTENT
}

async fn restart(State(server): State<ApiServer>) -> StatusCode {
    // Answer first; the restart drops this connection too.
    let s = server.clone();
    tokio::spawn(async move {
        tokio::task::yield_now().await;
        s.restart();
    });
    StatusCode::ACCEPTED
}

#[derive(Debug, Deserialize)]
struct Advance {
    seconds: i64,
}

async fn advance(State(server): State<ApiServer>, Json(a): Json<Advance>) -> StatusCode {
    server
        .store
        .clock
        .advance(SignedDuration::from_secs(a.seconds.max(0)));
    StatusCode::NO_CONTENT
}

async fn requests(State(server): State<ApiServer>) -> Json<serde_json::Value> {
    let list: Vec<_> = server
        .requests()
        .into_iter()
        .map(|r| json!({"method": r.method, "path": r.path, "contentType": r.content_type, "body": r.body,
                        "user": r.user, "impersonatedBy": r.impersonated_by}))
        .collect();
    Json(json!({"requests": list}))
}

async fn mesh_metrics(State(server): State<ApiServer>) -> Response {
    let text = server
        .mesh
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .scrape(&server.store);
    exposition(text)
}

async fn node_metrics(State(server): State<ApiServer>) -> Response {
    let text = server
        .node
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .scrape(&server.store);
    exposition(text)
}

/// Prometheus's text exposition format.
fn exposition(text: String) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
