//! The last lines of an aborted canary's pods, kept with its release
//! (`--history-pod-logs`): read with the dashboard's own account while Argo
//! keeps the pods (`abortScaleDownDelaySeconds`), still there once the pods
//! are gone, and shown only to those who may read pod logs in the
//! namespace, through the simulated cluster with RBAC and the dashboard
//! bound by the chart's RBAC: the right `history.podLogs` grants is the
//! one it needs.

use std::net::SocketAddr;

use jiff::SignedDuration;
use rollouts_dashboard::cli::{AuthMode, WebArgs};
use rollouts_dashboard::cluster::client::Scope;
use rollouts_dashboard::sim::scenario::set_image;
use rollouts_dashboard::sim::store::Subresource;
use serde_json::{Value, json};

use crate::harness::rt;
use crate::http;
use crate::teams::{self, ALICE, BOB, Cluster, call, until};

const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);
/// Of team-b: may not see team-a at all.
const CAROL: &[(&str, &str)] = &[
    ("X-Forwarded-User", "carol"),
    ("X-Forwarded-Groups", "team-b"),
];

/// team-a/search: a canary routed by Istio (so Argo keeps its pods 30 s
/// after an abort), half of whose requests fail; team-a may read its pods'
/// logs.
fn objects() -> Vec<Value> {
    let mut objects = teams::team_a_reads_logs();
    objects.extend([
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "search", "namespace": "team-a"},
            "spec": {"selector": {"app": "search"}, "ports": [{"port": 80}]}}),
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "search", "namespace": "team-a"},
            "spec": {"hosts": ["search"], "http": [{"name": "primary", "route": [
                {"destination": {"host": "search", "subset": "stable"}, "weight": 100},
                {"destination": {"host": "search", "subset": "canary"}, "weight": 0}]}]}}),
        json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "search", "namespace": "team-a"},
            "spec": {"host": "search", "subsets": [
                {"name": "stable", "labels": {"app": "search"}},
                {"name": "canary", "labels": {"app": "search"}}]}}),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "search", "namespace": "team-a",
                "annotations": {"sim.rollouts-dashboard.io/canary-error-rate": "0.5"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "search"}},
                "strategy": {"canary": {
                    "trafficRouting": {"istio": {
                        "virtualService": {"name": "search", "routes": ["primary"]},
                        "destinationRule": {"name": "search", "canarySubsetName": "canary", "stableSubsetName": "stable"}}},
                    "steps": [{"setWeight": 50}, {"pause": {}}]}},
                "template": {"metadata": {"labels": {"app": "search"}},
                    "spec": {"containers": [{"name": "search", "image": "search:1"}]}}}}),
    ]);
    objects
}

/// The cluster with team-a/search's canary at its pause, serving half its
/// traffic for 20 s, and the dashboard in front of it keeping pod logs,
/// its account bound by the chart's RBAC as rendered with `values`
/// (`history-pod-logs`: `history.podLogs: true`; `proxy`: without).
async fn at_pause(values: &str) -> (Cluster, String) {
    let (sa, rbac) = teams::chart_rbac(values);
    let c = teams::cluster(&sa, rbac, objects()).await;
    let settle = |c: &Cluster| {
        c.controller.settle(50);
        c.store.clock.advance(SignedDuration::from_secs(3));
        c.controller.settle(50);
    };
    settle(&c);
    c.store
        .patch(rt("rollouts"), "team-a", "search", Subresource::Main, |o| {
            set_image(o, "search", "search:2");
            Ok(())
        })
        .expect("the update starts");
    settle(&c);
    settle(&c);
    assert_eq!(
        teams::step_of(&c.store, "team-a", "search"),
        1,
        "at its pause"
    );
    c.store.clock.advance(SignedDuration::from_secs(20));
    let mut web = WebArgs {
        auth: AuthMode::Proxy,
        trusted_proxies: vec![teams::cidr("127.0.0.1/32")],
        access_check_interval: 1,
        ..WebArgs::defaults()
    };
    web.history.history_pod_logs = Some(true);
    let d = teams::dashboard_with(&c, Scope::AllNamespaces, LOOPBACK, web).await;
    (c, d)
}

/// Alice aborts the canary; the controller reacts.
async fn abort(c: &Cluster, d: &str) {
    let (status, body) = call(
        d,
        "PUT",
        "/api/v1/rollouts/team-a/search/abort",
        &[ALICE[0], ALICE[1], ("Content-Type", "application/json")],
        "{}",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    c.controller.settle(50);
}

/// Revision 2's `keptLogs` as `who` reads the history, once it is there.
fn kept_summary(d: &str, who: &[(&str, &str)]) -> Option<Value> {
    let (status, _, body) =
        http::request_with(d, "GET", "/api/v1/rollouts/team-a/search/history", who, "")?;
    let history: Value = serde_json::from_str(&body).ok().filter(|_| status == 200)?;
    history["revisions"]
        .as_array()?
        .iter()
        .find(|r| r["revision"] == "2")
        .map(|r| r["keptLogs"].clone())
        .filter(|k| !k.is_null())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_canarys_last_lines_stay_with_its_release_for_those_who_may_read_logs() {
    let (c, d) = at_pause("history-pod-logs").await;
    abort(&c, &d).await;
    let addr = d.clone();
    until("the aborted revision's lines are kept", move || {
        kept_summary(&addr, ALICE).is_some()
    })
    .await;
    let summary = kept_summary(&d, ALICE).expect("kept");
    assert_eq!(summary["unread"], 0, "{summary}");
    assert_eq!(summary["containers"], 1, "one canary pod: {summary}");
    assert!(summary["errorLines"].as_i64() >= Some(3), "{summary}");

    // Argo scales the canary away 30 s after the abort; its lines stay.
    c.store.clock.advance(SignedDuration::from_secs(31));
    c.controller.settle(50);
    let canary_pods = c
        .store
        .list(rt("pods"), &Default::default(), None, None)
        .expect("pods")
        .items
        .iter()
        .filter(|p| {
            p["metadata"]["namespace"] == "team-a" && p["metadata"]["labels"]["app"] == "search"
        })
        .count();
    assert_eq!(canary_pods, 2, "only stable's two pods are left");

    let (status, body) = call(
        &d,
        "GET",
        "/api/v1/rollouts/team-a/search/history/2/logs",
        ALICE,
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let kept: Value = serde_json::from_str(&body).expect("JSON");
    let log = &kept["logs"][0];
    assert!(
        log["pod"]
            .as_str()
            .is_some_and(|p| p.starts_with("search-")),
        "{log}"
    );
    assert_eq!(
        (log["container"].as_str(), log["reason"].as_str()),
        (Some("search"), Some("aborted"))
    );
    let lines = log["lines"].as_array().expect("lines");
    assert!(
        lines.len() >= 10 && lines.len() <= 200,
        "{} lines",
        lines.len()
    );
    assert!(
        lines.iter().any(|l| l["isError"] == true
            && l["line"].as_str().is_some_and(|t| t.contains("status=503"))),
        "the canary's 503s: {body}"
    );
    // On its History entry, and on the revision's own page.
    let (_, panel) = call(&d, "GET", "/rollouts/team-a/search/history", ALICE, "").await;
    assert!(panel.contains("Last lines of its pods"), "{panel}");
    assert!(panel.contains("errors among them"), "{panel}");
    assert!(
        panel.contains("/rollouts/team-a/search/history/2/logs"),
        "{panel}"
    );
    let (status, page) = call(
        &d,
        "GET",
        "/rollouts/team-a/search/history/2/logs",
        ALICE,
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("status=503") && page.contains("container search"),
        "{page}"
    );

    // Bob sees team-a's history, not its pods' lines.
    assert_eq!(kept_summary(&d, BOB), None, "no keptLogs for Bob");
    let (status, history) =
        call(&d, "GET", "/api/v1/rollouts/team-a/search/history", BOB, "").await;
    assert_eq!(status, 200, "{history}");
    let (_, panel) = call(&d, "GET", "/rollouts/team-a/search/history", BOB, "").await;
    assert!(
        panel.contains("Revision 2") && !panel.contains("Last lines of its pods"),
        "{panel}"
    );
    for path in [
        "/api/v1/rollouts/team-a/search/history/2/logs",
        "/rollouts/team-a/search/history/2/logs",
    ] {
        let (status, body) = call(&d, "GET", path, BOB, "").await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(
            body.contains("pods/log"),
            "the reason names the right: {body}"
        );
        assert!(!body.contains("status=503"));
    }
    // Carol may not see team-a at all.
    let (status, body) = call(
        &d,
        "GET",
        "/api/v1/rollouts/team-a/search/history/2/logs",
        CAROL,
        "",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = call(
        &d,
        "GET",
        "/api/v1/rollouts/team-a/search/history/x/logs",
        ALICE,
        "",
    )
    .await;
    assert_eq!(status, 400);
}

/// Without `pods/log` for its own account (the chart without
/// `history.podLogs`) the dashboard keeps why, and the entry says so
/// instead of showing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_right_the_entry_says_why_nothing_was_kept() {
    let (c, d) = at_pause("proxy").await;
    abort(&c, &d).await;
    let addr = d.clone();
    until("the attempt is recorded", move || {
        kept_summary(&addr, ALICE).is_some()
    })
    .await;
    let summary = kept_summary(&d, ALICE).expect("kept");
    assert_eq!(
        (summary["containers"].as_i64(), summary["unread"].as_i64()),
        (Some(1), Some(1)),
        "{summary}"
    );
    let (_, body) = call(
        &d,
        "GET",
        "/api/v1/rollouts/team-a/search/history/2/logs",
        ALICE,
        "",
    )
    .await;
    let kept: Value = serde_json::from_str(&body).expect("JSON");
    let problem = kept["logs"][0]["problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains("the dashboard's own account may not read pods/log in team-a"),
        "{body}"
    );
    let (_, panel) = call(&d, "GET", "/rollouts/team-a/search/history", ALICE, "").await;
    assert!(panel.contains("1 container could not be read"), "{panel}");
}
