//! The chart's own RBAC is enough for the dashboard in every `--auth` mode,
//! and no wider than it needs: rendered from `charts/` (through
//! tools/chart_check.py --dump, Helm's Go SDK), loaded into the simulated
//! cluster that enforces RBAC, with the dashboard running as the chart's
//! ServiceAccount. Every rule is then removed in turn, and something a
//! person would notice must break.
//!
//! Needs the tools venv that `.ci/run` makes (tools/requirements.txt).

use crate::common;
use crate::harness;
use crate::oidc_provider;
use crate::teams;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rollouts_dashboard::cli::{AuthMode, WebArgs};
use rollouts_dashboard::cluster::client::Scope;
use serde_json::Value;
use teams::{ALICE, call, chart_rbac, cluster, dashboard, documents, root, step_of};

/// How the chart runs the dashboard with one values file.
struct Mode {
    values: &'static str,
    auth: AuthMode,
    scope: fn() -> Scope,
    /// How the person (alice, team-a) is identified.
    person: &'static [(&'static str, &'static str)],
}

const NONE: Mode = Mode {
    values: "default",
    auth: AuthMode::None,
    scope: || Scope::AllNamespaces,
    person: &[],
};
const PROXY: Mode = Mode {
    values: "proxy",
    auth: AuthMode::Proxy,
    scope: || Scope::AllNamespaces,
    person: ALICE,
};
const TOKEN: Mode = Mode {
    values: "token",
    auth: AuthMode::Token,
    scope: || Scope::Namespaces(vec!["team-a".to_string(), "team-b".to_string()]),
    person: &[("Authorization", "Bearer alice-token")],
};

/// Argo's workloadRef example (in `default`), whose set image updates a
/// Deployment: only the dashboard's own credentials act with `--auth none`.
fn workload_ref() -> Vec<Value> {
    documents(&common::fixture(
        "argo-examples/workload-ref-workload-ref.yaml",
    ))
}

/// A rollout in team-a routed by NGINX and the Gateway API plugin: the
/// dashboard then watches Ingresses and HTTPRoutes.
fn routed_by_nginx_and_gateway_api() -> Vec<Value> {
    let backend = |svc: &str| serde_json::json!({"service": {"name": svc, "port": {"number": 80}}});
    vec![
        serde_json::json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "edge", "namespace": "team-a"},
            "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend("edge-stable")}]}}]}}),
        serde_json::json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "edge", "namespace": "team-a"},
            "spec": {"rules": [{"backendRefs": [{"name": "edge-stable", "port": 80}, {"name": "edge-canary", "port": 80}]}]}}),
        serde_json::json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "edge", "namespace": "team-a"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "edge"}},
                "strategy": {"canary": {"canaryService": "edge-canary", "stableService": "edge-stable",
                    "trafficRouting": {"nginx": {"stableIngress": "edge"},
                        "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "edge"}}},
                    "steps": [{"setWeight": 50}, {"pause": {}}]}},
                "template": {"metadata": {"labels": {"app": "edge"}},
                    "spec": {"containers": [{"name": "edge", "image": "argoproj/rollouts-demo:blue"}]}}}}),
    ]
}

const OIDC: Mode = Mode {
    values: "oidc",
    auth: AuthMode::Oidc,
    scope: || Scope::AllNamespaces,
    person: &[],
};

/// `--auth oidc` as ci/oidc-values.yaml configures it, against a real
/// provider, and alice's ID token.
struct Oidc {
    provider: oidc_provider::Provider,
    key: PathBuf,
    bearer: String,
}

impl Oidc {
    async fn start() -> Oidc {
        let provider = oidc_provider::start(
            "chart-rbac",
            &[
                serde_json::json!({"sub": "alice", "email": "alice@example.com",
                "groups": ["team-a"], "hd": "example.com"}),
            ],
        );
        let bearer = format!(
            "Bearer {}",
            provider.id_token("alice", "rollouts-dashboard").await
        );
        let key = root().join(format!("target/chart-rbac-key-{}", std::process::id()));
        std::fs::write(&key, [3u8; 32]).expect("a session key");
        Oidc {
            provider,
            key,
            bearer,
        }
    }

    fn web(&self) -> WebArgs {
        WebArgs {
            auth: AuthMode::Oidc,
            oidc_issuer_url: Some(self.provider.issuer.clone()),
            oidc_client_id: Some("rollouts-dashboard".to_string()),
            oidc_ca_file: Some(self.provider.ca_file.clone()),
            oidc_username_claim: "email".to_string(),
            oidc_groups_claim: Some("groups".to_string()),
            oidc_required_claims: vec![("hd".to_string(), "example.com".to_string())],
            public_url: Some("https://rollouts.example.com".to_string()),
            session_key_file: Some(self.key.clone()),
            ..WebArgs::defaults()
        }
    }
}

impl Drop for Oidc {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.key);
    }
}

/// What a person does and sees, in order; the first thing that does not
/// work, or `None` when everything does.
async fn first_broken(
    mode: &Mode,
    sa: &str,
    rbac: Vec<Value>,
    oidc: Option<&Oidc>,
) -> Option<String> {
    let mut extra = if mode.auth == AuthMode::None {
        workload_ref()
    } else {
        Vec::new()
    };
    extra.extend(routed_by_nginx_and_gateway_api());
    extra.extend(teams::team_a_reads_logs());
    let c = cluster(sa, rbac, extra).await;
    let (d, bearer) = match oidc {
        Some(o) => (
            teams::dashboard_with(
                &c,
                (mode.scope)(),
                std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                o.web(),
            )
            .await,
            Some(o.bearer.as_str()),
        ),
        None => (
            dashboard(&c, mode.auth, &["127.0.0.1/32"], (mode.scope)()).await,
            None,
        ),
    };
    let with_bearer = bearer.map(|b| [("Authorization", b)]);
    let who: &[(&str, &str)] = match &with_bearer {
        Some(h) => h,
        None => mode.person,
    };

    let (status, body) = call(&d, "GET", "/api/v1/rollouts/_all/info", who, "").await;
    if status != 200 || !teams::listed(&body).contains(&"team-a/web".to_string()) {
        return Some(format!(
            "alice sees team-a/web ({status} {})",
            teams::listed(&body).join(",")
        ));
    }
    let (_, body) = call(&d, "GET", "/api/v1/rollouts/team-a/web/info", who, "").await;
    let info: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let pods = info["replicaSets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|rs| rs["pods"].as_array().map_or(0, Vec::len))
        .sum::<usize>();
    if pods == 0 {
        return Some("its ReplicaSets and pods".to_string());
    }
    let (status, body) = call(
        &d,
        "GET",
        "/api/v1/rollouts/team-a/web/logs?tailLines=1",
        who,
        "",
    )
    .await;
    if status != 200 || !body.contains("\"line\"") {
        return Some(format!("its pods' logs ({status} {body})"));
    }
    let (status, body) = call(&d, "PUT", "/api/v1/rollouts/team-a/web/promote", who, "{}").await;
    c.controller.settle(50);
    if status != 200 || step_of(&c.store, "team-a", "web") != 2 {
        return Some(format!("promote ({status} {body})"));
    }
    let recorded = c
        .store
        .list(harness::rt("events"), &Default::default(), None, None)
        .map(|page| {
            page.items
                .iter()
                .any(|e| e["reason"] == "PromotedFromDashboard")
        })
        .unwrap_or(false);
    if !recorded {
        return Some("the promote's audit Event".to_string());
    }
    if mode.auth == AuthMode::None {
        let path = "/api/v1/rollouts/default/rollout-ref-deployment/set/rollouts-demo/argoproj/rollouts-demo/yellow";
        let (status, body) = call(&d, "PUT", path, who, "{}").await;
        if status != 200 {
            return Some(format!(
                "set image of a workloadRef rollout ({status} {body})"
            ));
        }
    }
    // Every watch answers (a refused one shows in the page's banner). The
    // Deployment watch starts on demand, so give it a moment to report.
    let settled = Instant::now();
    while settled.elapsed() < Duration::from_secs(2) {
        let (_, page) = call(&d, "GET", "/", who, "").await;
        if !page.contains("class=\"banner banner-live\" hidden") {
            let problem = page
                .split("forbidden")
                .nth(1)
                .map(|rest| rest.chars().take(120).collect::<String>())
                .unwrap_or_default();
            return Some(format!("every watch live (forbidden{problem})"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// The chart's RBAC works as rendered, and each of its rules is needed.
async fn sufficient_and_minimal(mode: Mode) {
    let (sa, docs) = chart_rbac(mode.values);
    let oidc = match mode.auth {
        AuthMode::Oidc => Some(Oidc::start().await),
        _ => None,
    };
    let oidc = oidc.as_ref();
    assert_eq!(
        first_broken(&mode, &sa, docs.clone(), oidc).await,
        None,
        "{}: as rendered",
        mode.values
    );

    let mut report = Vec::new();
    let roles: Vec<(String, String, usize)> = docs
        .iter()
        .filter(|d| matches!(d["kind"].as_str(), Some("ClusterRole" | "Role")))
        .map(|d| {
            (
                d["kind"].as_str().unwrap_or_default().to_string(),
                d["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                d["rules"].as_array().map_or(0, Vec::len),
            )
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for (kind, name, rules) in roles {
        for i in 0..rules {
            // The same rule leaves every copy of the role (a Role per namespace).
            let mut without = docs.clone();
            let mut removed = Value::Null;
            for d in &mut without {
                if d["kind"] == kind.as_str()
                    && d["metadata"]["name"] == name.as_str()
                    && let Some(list) = d["rules"].as_array_mut()
                {
                    removed = list.remove(i);
                }
            }
            let broke = first_broken(&mode, &sa, without, oidc).await;
            report.push(format!(
                "{} {kind} {name} without {}: {}",
                mode.values,
                serde_json::to_string(&removed).unwrap_or_default(),
                broke.clone().unwrap_or_else(|| "NOTHING BROKE".to_string())
            ));
            assert!(broke.is_some(), "an unneeded rule:\n{}", report.join("\n"));
        }
    }
    eprintln!("{}", report.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_none_needs_every_rule_of_the_chart() {
    sufficient_and_minimal(NONE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_proxy_needs_every_rule_of_the_chart() {
    sufficient_and_minimal(PROXY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_token_needs_every_rule_of_the_chart() {
    sufficient_and_minimal(TOKEN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_oidc_needs_every_rule_of_the_chart() {
    sufficient_and_minimal(OIDC).await;
}
