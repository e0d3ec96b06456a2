//! The Helm chart and the Dockerfile, checked as CI can without a helm
//! binary or a Docker engine: `tools/chart_check.py` lints (strict) and
//! renders the chart with each values file of `charts/rollouts-dashboard/ci/`
//! through Helm's Go SDK (helm-python-sdk), validates every manifest with
//! kubernetes-validate --strict, and checks RBAC, probes and exposure;
//! hadolint lints the Dockerfile.
//!
//! Needs the tools venv that `.ci/run` makes (tools/requirements.txt);
//! `ROLLOUTS_DASHBOARD_TEST_PYTHON` may name another Python.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    std::env::var_os("ROLLOUTS_DASHBOARD_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/tools-venv/bin/python"))
}

#[test]
fn the_chart_renders_validates_and_grants_least_privilege() {
    let out = Command::new(python())
        .arg(root().join("tools/chart_check.py"))
        .arg(root().join("charts/rollouts-dashboard"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); `bash .ci/run` installs the test tools",
                python().display()
            )
        });
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for must in [
        "ok   readonly: no write verb at all",
        "ok   default: patch on rollouts, rollouts/status, deployments",
        "ok   namespaced: a Role in each watched namespace, no ClusterRole",
        "ok   istio: the VirtualService routes /rollouts and the server serves under it",
        "ok   default: probes on the admin port",
        "ok   the schema rejects replicaCount: \"two\"",
        "ok   proxy: auth proxy: the ServiceAccount patches nothing itself",
        "ok   proxy: impersonate only in proxy and oidc modes (['groups', 'users'])",
        "ok   oidc: impersonate only in proxy and oidc modes (['groups', 'users'])",
        "ok   oidc: only the groups ['team-a', 'team-b', 'viewers'] may be impersonated",
        "ok   oidc: the client secret comes from its Secret, not the arguments",
        "ok   oidc: the session key is mounted from its Secret",
        "ok   oidc mode without its client, session key and public URL is refused",
        "ok   proxy: identity headers believed only from ['10.0.0.0/8']",
        "ok   token: auth token: create only on events and subjectaccessreviews, tokenreviews",
        "ok   token: impersonate only in proxy and oidc modes ([])",
        "ok   default: impersonate only in proxy and oidc modes ([])",
        "ok   proxy mode without trustedProxies is refused",
        "ok   argocd: Argo CD's cluster Secrets: list in argocd only",
        "ok   argocd: only the Secrets rollouts-dashboard/shard=eu",
        "ok   argocd-mounts: no Secret readable",
        "ok   argocd-mounts: Argo CD's cluster Secrets ['cluster-prod-eu', 'cluster-prod-us'] mounted, each its own folder",
        "ok   argocd-mounts: 2 replicas share PostgreSQL; the Lease: create, get and update its own, nothing else (a Lease per cluster: every Lease of its namespace)",
        "ok   Argo CD's Secrets both listed and mounted is refused",
        "ok   argocd-mounts: each cluster's own series by cluster",
        "ok   prometheus: each cluster's own series (one cluster)",
        "ok   default: no Secret readable",
        "ok   default: no Prometheus flags without prometheus.url",
        "ok   prometheus: --prometheus-url=https://prometheus.monitoring.svc:9091 over 2m",
        "ok   prometheus: the Prometheus token is a file from its Secret, not an argument",
        "ok   prometheus: the Prometheus CA is mounted from its Secret",
        "ok   prometheus: egress only to DNS, the API server and Prometheus on 9091",
        "ok   default: history in SQLite on its PersistentVolumeClaim, one pod at a time, no Lease",
        "ok   postgres: the PostgreSQL URL comes from its Secret, not the arguments",
        "ok   postgres: 2 replicas share PostgreSQL; the Lease: create, get and update its own, nothing else",
        "ok   the schema refuses two replicas on SQLite (HelmValuesError)",
    ] {
        assert!(report.contains(must), "missing {must:?} in:\n{report}");
    }
}

#[test]
fn the_chart_runs_this_version() {
    let chart = std::fs::read_to_string(root().join("charts/rollouts-dashboard/Chart.yaml"))
        .expect("Chart.yaml");
    let want = format!("appVersion: \"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(chart.contains(&want), "Chart.yaml lacks {want}");
}

#[test]
fn the_dockerfile_passes_hadolint() {
    let hadolint = python().with_file_name("hadolint");
    let out = Command::new(&hadolint)
        .arg(root().join("Dockerfile"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e})", hadolint.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
