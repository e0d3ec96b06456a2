//! What changed between two revisions, read as the person through the
//! simulated cluster with RBAC: the pod templates of their ReplicaSets,
//! diffed; a person who may not read ReplicaSets gets 403 naming the
//! right, another team's namespace 403; the rollout page shows the
//! changes from stable; what one person read is kept for them only.

use serde_json::{Value, json};

use crate::teams::{self, ALICE, Cluster, DASHBOARD_SA, call, documents, fixtures};

/// May list team-a's rollouts, not read its ReplicaSets.
const ERIN: &[(&str, &str)] = &[
    ("X-Forwarded-User", "erin"),
    ("X-Forwarded-Groups", "auditors"),
];
const DAVE: &[(&str, &str)] = &[
    ("X-Forwarded-User", "dave"),
    ("X-Forwarded-Groups", "team-a"),
];
const CAROL: &[(&str, &str)] = &[
    ("X-Forwarded-User", "carol"),
    ("X-Forwarded-Groups", "team-b"),
];

async fn cluster() -> Cluster {
    let rbac = documents(&fixtures().join("dashboard-rbac.yaml"));
    let auditors = vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "rollout-lister", "namespace": "team-a"},
            "rules": [{"apiGroups": ["argoproj.io"], "resources": ["rollouts"], "verbs": ["get", "list", "watch"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "auditors", "namespace": "team-a"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "rollout-lister"},
            "subjects": [{"kind": "Group", "name": "auditors", "apiGroup": "rbac.authorization.k8s.io"}]}),
    ];
    teams::cluster(DASHBOARD_SA, rbac, auditors).await
}

async fn dashboard(c: &Cluster) -> String {
    let web = rollouts_dashboard::cli::WebArgs {
        auth: rollouts_dashboard::cli::AuthMode::Proxy,
        trusted_proxies: vec![teams::cidr("127.0.0.1/32")],
        ..rollouts_dashboard::cli::WebArgs::defaults()
    };
    teams::dashboard_with(
        c,
        rollouts_dashboard::cluster::client::Scope::AllNamespaces,
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        web,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_reads_what_the_new_revision_changed() {
    let c = cluster().await;
    let d = dashboard(&c).await;
    // Stable (1) → the canary (2) by default: the image the update set.
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/team-a/web/diff", ALICE, "").await;
    assert_eq!(status, 200, "{body}");
    let diff: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        (diff["from"].as_str(), diff["to"].as_str()),
        (Some("1"), Some("2"))
    );
    let changes = diff["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{diff}");
    assert_eq!(changes[0]["path"], "containers[web].image");
    assert_eq!(changes[0]["to"], "argoproj/rollouts-demo:yellow");
    assert!(
        diff["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("changes image ")
                && s.ends_with("→ argoproj/rollouts-demo:yellow")),
        "{diff}"
    );
    // Backwards, as a rollback would go.
    let (_, body) = call(
        &d,
        "GET",
        "/api/v1/rollouts/team-a/web/diff?from=2&to=1",
        ALICE,
        "",
    )
    .await;
    let back: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(back["changes"][0]["from"], "argoproj/rollouts-demo:yellow");
    // The page shows it.
    let (_, page) = call(&d, "GET", "/rollouts/team-a/web", ALICE, "").await;
    assert!(
        page.contains("What changed") && page.contains("Revision 1 → revision 2"),
        "{page}"
    );
    assert!(page.contains("containers[web].image"), "{page}");

    // Kept for her, not read again: with the API server refusing every
    // ReplicaSet read now, her diff still answers; Dave, of her team, who
    // has read nothing yet, is refused.
    c.sim.faults.set_forbidden("replicasets", true);
    for _ in 0..3 {
        let (status, body) = call(&d, "GET", "/api/v1/rollouts/team-a/web/diff", ALICE, "").await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/team-a/web/diff", DAVE, "").await;
    assert_eq!(status, 403, "{body}");
    c.sim.faults.set_forbidden("replicasets", false);

    for (path, want) in [
        ("/api/v1/rollouts/team-a/web/diff?from=x", 400),
        ("/api/v1/rollouts/team-a/web/diff?from=9", 404),
        ("/api/v1/rollouts/team-a/nope/diff", 404),
    ] {
        let (status, body) = call(&d, "GET", path, ALICE, "").await;
        assert_eq!(status, want, "{path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_right_to_read_replica_sets_there_is_no_diff() {
    let c = cluster().await;
    let d = dashboard(&c).await;
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/team-a/web/diff", ERIN, "").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("get replicasets"),
        "the reason names the right: {body}"
    );
    // Her page still opens; the panel says why it is empty.
    let (status, page) = call(&d, "GET", "/rollouts/team-a/web", ERIN, "").await;
    assert_eq!(status, 200);
    assert!(page.contains("What changed cannot be read now"), "{page}");
    assert!(
        !page.contains("argoproj/rollouts-demo:yellow</code></td>"),
        "{page}"
    );
    // Another team's rollout: not even visible.
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/team-a/web/diff", CAROL, "").await;
    assert_eq!(status, 403, "{body}");
    // What Alice read is not given to Erin from the cache.
    call(&d, "GET", "/api/v1/rollouts/team-a/web/diff", ALICE, "").await;
    let (status, _) = call(&d, "GET", "/api/v1/rollouts/team-a/web/diff", ERIN, "").await;
    assert_eq!(status, 403);
}

/// Links out: a team's templates (`--link`) filled in for the rollout and
/// each revision, and the rollout's own annotations in Argo CD's
/// convention; a tenant's `javascript:` annotation is no link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_out_of_a_rollout_and_each_revision() {
    let c = cluster().await;
    c.store
        .patch(
            crate::harness::rt("rollouts"),
            "team-a",
            "web",
            rollouts_dashboard::sim::store::Subresource::Main,
            |o| {
                o["metadata"]["annotations"]["link.argocd.argoproj.io/Pull request"] =
                    json!("https://github.com/example/web/pull/7");
                o["metadata"]["annotations"]["link.argocd.argoproj.io/Evil"] =
                    json!("javascript:alert(document.cookie)");
                Ok(())
            },
        )
        .expect("annotated");
    let link = |s: &str| rollouts_dashboard::info::links::parse_link(s).expect("a link");
    let web = rollouts_dashboard::cli::WebArgs {
        auth: rollouts_dashboard::cli::AuthMode::Proxy,
        trusted_proxies: vec![teams::cidr("127.0.0.1/32")],
        links: vec![
            link(
                "Grafana=https://grafana.example/d/abc?var-namespace={namespace}&var-rollout={name}&var-revision={revision}",
            ),
            link("Traces=https://traces.example/{namespace}/{name}"),
        ],
        ..rollouts_dashboard::cli::WebArgs::defaults()
    };
    let d = teams::dashboard_with(
        &c,
        rollouts_dashboard::cluster::client::Scope::AllNamespaces,
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        web,
    )
    .await;
    let (status, page) = call(&d, "GET", "/rollouts/team-a/web", ALICE, "").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"href="https://traces.example/team-a/web""#),
        "{page}"
    );
    assert!(
        page.contains(r#"href="https://github.com/example/web/pull/7""#),
        "{page}"
    );
    for revision in [1, 2] {
        let href = format!(
            r#"href="https://grafana.example/d/abc?var-namespace=team-a&#38;var-rollout=web&#38;var-revision={revision}""#
        );
        assert!(page.contains(&href), "revision {revision}'s link: {page}");
    }
    assert!(!page.contains("javascript:"), "{page}");
}

/// A revision that starts while the history records keeps its template
/// (and the one it replaces): once their ReplicaSets are gone, what it
/// changed is told from the history, without literal env values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_revision_changed_is_told_after_its_replica_sets_are_gone() {
    let c = cluster().await;
    // The history in a file the test reads too.
    let dir = std::env::temp_dir().join(format!("rd-templates-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a folder");
    let db = format!("sqlite://{}", dir.join("history.db").display());
    let mut web = rollouts_dashboard::cli::WebArgs {
        auth: rollouts_dashboard::cli::AuthMode::Proxy,
        trusted_proxies: vec![teams::cidr("127.0.0.1/32")],
        ..rollouts_dashboard::cli::WebArgs::defaults()
    };
    web.history.history_db = Some(db.clone());
    let d = teams::dashboard_with(
        &c,
        rollouts_dashboard::cluster::client::Scope::AllNamespaces,
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        web,
    )
    .await;
    // Revision 3 starts while the dashboard records.
    c.store
        .patch(
            crate::harness::rt("rollouts"),
            "team-a",
            "web",
            rollouts_dashboard::sim::store::Subresource::Main,
            |o| {
                rollouts_dashboard::sim::scenario::set_image(
                    o,
                    "web",
                    "argoproj/rollouts-demo:purple",
                );
                o["spec"]["template"]["spec"]["containers"][0]["env"] =
                    json!([{"name": "FEATURE_X", "value": "secret-ish"}]);
                Ok(())
            },
        )
        .expect("revision 3");
    c.controller.settle(50);
    let kept = || async {
        let (status, body) =
            call(&d, "GET", "/api/v1/rollouts/team-a/web/history", ALICE, "").await;
        status == 200 && body.contains("\"revision\":\"3\"")
    };
    for _ in 0..100 {
        if kept().await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let replica_sets = |c: &Cluster| -> Vec<(i64, String)> {
        c.store
            .list(
                crate::harness::rt("replicasets"),
                &Default::default(),
                None,
                None,
            )
            .expect("replicasets")
            .items
            .iter()
            .filter(|r| r["metadata"]["namespace"] == "team-a")
            .map(|r| {
                (
                    r["metadata"]["annotations"]["rollout.argoproj.io/revision"]
                        .as_str()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0),
                    r["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    };
    // Live first: both ReplicaSets are there, the value shows.
    let live = diff_2_to_3(&d, |_| true).await;
    assert!(
        live.contains("secret-ish") && !live.contains("\"note\""),
        "{live}"
    );
    // Once the history has both templates, Kubernetes forgets revisions 2
    // and 3's ReplicaSets (as revisionHistoryLimit would).
    let store = rollouts_dashboard::history::Store::open(&db)
        .await
        .expect("the history database");
    let key = rollouts_dashboard::model::RolloutKey::new("team-a", "web");
    for _ in 0..300 {
        let both = store.template(&key, 2).await.ok().flatten().is_some()
            && store.template(&key, 3).await.ok().flatten().is_some();
        if both {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let kept = store
        .template(&key, 3)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(
        kept.contains("argoproj/rollouts-demo:purple"),
        "revision 3's template kept: {kept}"
    );
    assert!(
        !kept.contains("secret-ish"),
        "without its literal env value: {kept}"
    );
    // Its History entry says what it changed.
    let (_, panel) = call(&d, "GET", "/rollouts/team-a/web/history", ALICE, "").await;
    assert!(
        panel.contains("Changed from revision 2: changes image argoproj/rollouts-demo:yellow → argoproj/rollouts-demo:purple and adds env FEATURE_X (value not kept)."),
        "{panel}"
    );
    for (revision, name) in replica_sets(&c) {
        if revision == 2 || revision == 3 {
            c.store
                .delete(crate::harness::rt("replicasets"), "team-a", &name)
                .expect("deleted");
        }
    }
    let told = diff_2_to_3(&d, |body| body.contains("\"note\"")).await;
    let diff: Value =
        serde_json::from_str(&told).unwrap_or_else(|_| panic!("told from the history: {told}"));
    assert!(
        diff["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("revisions 2 and 3 are gone from the cluster")),
        "{diff}"
    );
    let changes = diff["changes"].as_array().expect("changes");
    assert!(
        changes
            .iter()
            .any(|c| c["path"] == "containers[web].image"
                && c["to"] == "argoproj/rollouts-demo:purple"),
        "{diff}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c["path"] == "containers[web].env[FEATURE_X]" && c["from"].is_null()),
        "{diff}"
    );
    assert!(
        !told.contains("secret-ish"),
        "no literal value from the history: {told}"
    );
}

/// Alice's `/diff?from=2&to=3` once it answers 200 and `ok` holds (at most
/// thirty seconds; empty after that).
async fn diff_2_to_3(d: &str, ok: impl Fn(&str) -> bool) -> String {
    for _ in 0..300 {
        let (status, body) = call(
            d,
            "GET",
            "/api/v1/rollouts/team-a/web/diff?from=2&to=3",
            ALICE,
            "",
        )
        .await;
        if status == 200 && ok(&body) {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    String::new()
}
