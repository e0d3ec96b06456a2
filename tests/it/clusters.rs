//! Several clusters in one dashboard, each a simulated cluster of its own
//! (tokens, RBAC): served apart under `/clusters/{name}/` and
//! `/api/v1/clusters/{name}/rollouts/…`, listed with their state at
//! `/api/v1/clusters`, a person's rights reviewed on each, an outage of one
//! shown as that cluster failing while the other follows changes.

use std::net::SocketAddr;
use std::time::Duration;

use rollouts_dashboard::cli::{AuthMode, LogFormat, WebArgs};
use rollouts_dashboard::cluster::client::{ConfigSource, Connection, NamedConnection, Scope};
use rollouts_dashboard::serve;
use serde_json::{Value, json};

use crate::harness::rt;
use crate::http;
use crate::teams::{self, ALICE, BOB, Cluster, call, cidr, documents, step_of};

fn connection(c: &Cluster, name: &str) -> NamedConnection {
    let mut config = kube::Config::new(format!("http://{}", c.addr).parse().expect("a URL"));
    config.default_namespace = "default".to_string();
    config.auth_info.token = Some(secrecy::SecretString::from("dashboard-token"));
    NamedConnection {
        name: name.to_string(),
        connection: Connection {
            config,
            source: ConfigSource::Given(format!("cluster {name}")),
            scope: Scope::AllNamespaces,
        },
    }
}

fn web(auth: AuthMode) -> WebArgs {
    let mut web = WebArgs {
        auth,
        trusted_proxies: vec![cidr("127.0.0.1/32")],
        log_format: LogFormat::Text,
        ..WebArgs::defaults()
    };
    web.history.history_db = Some("sqlite::memory:".to_string());
    web
}

/// The dashboard on clusters `a` and `b` (identity from proxy headers),
/// once it is ready.
async fn dashboard(a: &Cluster, b: &Cluster) -> String {
    dashboard_with(a, b, web(AuthMode::Proxy)).await
}

/// As [`dashboard`], with `web`'s settings.
async fn dashboard_with(a: &Cluster, b: &Cluster, web: WebArgs) -> String {
    let clusters = vec![connection(a, "a"), connection(b, "b")];
    let addr = serving(clusters, web, a).await;
    // Each cluster syncs on its own: ready when both are live.
    let probe = addr.clone();
    teams::until("both clusters live", move || {
        http::request_with(&probe, "GET", "/api/v1/clusters", BOB, "").is_some_and(
            |(_, _, body)| summary(&body).iter().filter(|c| c.1 == "live").count() == 2,
        )
    })
    .await;
    addr
}

/// Cluster `a`: the two teams. Cluster `b`: the same, plus
/// team-a/checkout, and alice's team has no rights there.
async fn two_clusters() -> (Cluster, Cluster) {
    let a = teams::two_teams().await;
    let mut checkout = documents(&teams::fixtures().join("rollouts.yaml"))
        .into_iter()
        .find(|d| d["metadata"]["name"] == "web")
        .expect("team-a/web in the fixture");
    checkout["metadata"]["name"] = json!("checkout");
    checkout["spec"]["selector"]["matchLabels"]["app"] = json!("checkout");
    checkout["spec"]["template"]["metadata"]["labels"]["app"] = json!("checkout");
    let rbac = documents(&teams::fixtures().join("dashboard-rbac.yaml"));
    let b = teams::cluster(teams::DASHBOARD_SA, rbac, vec![checkout]).await;
    b.store
        .delete(rt("rolebindings"), "team-a", "team-a-operators")
        .expect("team-a's binding in b");
    (a, b)
}

fn clusters_of(body: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["clusters"].as_array().cloned().unwrap_or_default()
}

/// (name, state, rollouts) of each cluster listed.
fn summary(body: &str) -> Vec<(String, String, u64)> {
    clusters_of(body)
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["state"].as_str().unwrap_or("").to_string(),
                c["rollouts"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[tokio::test]
async fn two_clusters_are_listed_and_served_apart_with_each_ones_rights() {
    let (a, b) = two_clusters().await;
    let d = dashboard(&a, &b).await;
    let (status, body) = call(&d, "GET", "/api/v1/clusters", BOB, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        summary(&body),
        vec![
            ("a".to_string(), "live".to_string(), 2),
            ("b".to_string(), "live".to_string(), 3)
        ]
    );
    assert_eq!(
        clusters_of(&body)[1]["server"],
        json!(format!("http://{}/", b.addr))
    );
    // Alice operates team-a in a and has no rights in b.
    let (_, body) = call(&d, "GET", "/api/v1/clusters", ALICE, "").await;
    assert_eq!(
        summary(&body),
        vec![
            ("a".to_string(), "live".to_string(), 1),
            ("b".to_string(), "live".to_string(), 0)
        ]
    );

    // Each cluster's rollouts at its own paths; the plain paths are a's.
    let (_, plain) = call(&d, "GET", "/api/v1/rollouts/_all/info", BOB, "").await;
    assert_eq!(teams::listed(&plain), vec!["team-a/web", "team-b/api"]);
    for path in [
        "/clusters/b/api/v1/rollouts/_all/info",
        "/api/v1/clusters/b/rollouts/_all/info",
    ] {
        let (status, body) = call(&d, "GET", path, BOB, "").await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(
            teams::listed(&body),
            vec!["team-a/checkout", "team-a/web", "team-b/api"],
            "{path}"
        );
    }
    let (status, _) = call(&d, "GET", "/api/v1/clusters/c/rollouts/_all/info", BOB, "").await;
    assert_eq!(status, 404, "no cluster c");

    // Alice acts in a with her rights there; in b her rights are b's.
    let (status, body) = call(
        &d,
        "PUT",
        "/api/v1/clusters/a/rollouts/team-a/web/promote",
        ALICE,
        "{}",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &d,
        "PUT",
        "/clusters/b/api/v1/rollouts/team-a/web/promote",
        ALICE,
        "{}",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    teams::react(&a.store, &a.controller);
    teams::react(&b.store, &b.controller);
    assert_eq!(step_of(&a.store, "team-a", "web"), 3, "a's web promoted");
    assert_eq!(step_of(&b.store, "team-a", "web"), 1, "b's web untouched");

    // b's overview: its cards, its links, the header names it.
    let (status, page) = call(&d, "GET", "/clusters/b/", BOB, "").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"r-team-a--checkout\""), "{page}");
    assert!(
        page.contains("href=\"/clusters/b/rollouts/team-a/checkout\""),
        "{page}"
    );
    assert!(
        page.contains("<a href=\"/clusters/b/\" aria-current=\"page\">b</a>"),
        "the header says which cluster: {page}"
    );
    assert!(
        page.contains("data-stream=\"/clusters/b/stream/overview"),
        "{page}"
    );
    let (_, page) = call(&d, "GET", "/clusters/a/", BOB, "").await;
    assert!(!page.contains("r-team-a--checkout"), "a's overview is a's");
    assert!(
        page.contains("<a href=\"/clusters/a/\" aria-current=\"page\">a</a>"),
        "{page}"
    );
}

#[tokio::test]
async fn one_overview_leads_with_what_needs_a_person_in_every_cluster() {
    let (a, b) = two_clusters().await;
    let d = dashboard(&a, &b).await;
    let (status, page) = call(&d, "GET", "/", BOB, "").await;
    assert_eq!(status, 200, "{page}");
    let attention = section(&page, "fleet-attention");
    for link in [
        "/clusters/a/rollouts/team-a/web",
        "/clusters/a/rollouts/team-b/api",
        "/clusters/b/rollouts/team-a/web",
        "/clusters/b/rollouts/team-b/api",
    ] {
        assert!(
            attention.contains(&format!("href=\"{link}\"")),
            "{link}: {attention}"
        );
    }
    assert!(
        attention.contains("<span class=\"count\">4</span>"),
        "{attention}"
    );
    let rows = section(&page, "cluster-rows");
    assert!(rows.contains("href=\"/clusters/a/\">a</a>"), "{rows}");
    assert!(rows.contains("3 rollouts"), "b's three: {rows}");
    assert!(
        rows.contains("href=\"/clusters/b/?ns=team-a\">team-a</a>"),
        "b's namespaces, each to its own view: {rows}"
    );
    assert!(
        page.contains("data-stream=\"/stream/clusters\""),
        "live: {page}"
    );
    // Alice sees only what her rights in each cluster show.
    let (_, page) = call(&d, "GET", "/", ALICE, "").await;
    let attention = section(&page, "fleet-attention");
    assert!(
        attention.contains("/clusters/a/rollouts/team-a/web"),
        "{attention}"
    );
    assert!(
        !attention.contains("/clusters/b/"),
        "nothing of b: {attention}"
    );
    assert!(!attention.contains("team-b"), "nor of team-b: {attention}");

    // A cluster, by the list or as a search term, is its own overview.
    for (query, to) in [
        ("/?cluster=b&status=Paused", "/clusters/b/?status=Paused"),
        ("/?q=cluster%3Ab%2C%20web", "/clusters/b/?q=web"),
    ] {
        let (status, head, _) = teams::exchange(&d, "GET", query, BOB, "").await;
        assert_eq!(status, 303, "{query}");
        assert!(head.contains(&format!("location: {to}")), "{query}: {head}");
    }
    // A search across clusters.
    let (_, page) = call(&d, "GET", "/?q=web", BOB, "").await;
    let matches = section(&page, "fleet-matches");
    assert!(
        matches.contains("/clusters/a/rollouts/team-a/web")
            && matches.contains("/clusters/b/rollouts/team-a/web"),
        "{matches}"
    );
    assert!(!matches.contains("checkout"), "{matches}");
}

/// The element `id` of `page` (to its closing tag's line).
fn section(page: &str, id: &str) -> String {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}: {page}"));
    let end = page[start..]
        .find("</section>")
        .map_or(page.len(), |e| start + e);
    page[start..end].to_string()
}

#[tokio::test]
async fn an_outage_of_one_cluster_shows_as_that_cluster_failing_while_the_other_follows() {
    let (a, b) = two_clusters().await;
    let d = dashboard(&a, &b).await;
    // The overview of both, followed live.
    let addr = d.clone();
    let told = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let stream =
            http::open_stream_with(&addr, "/stream/clusters", BOB).expect("the stream opens");
        std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("1 of 2 clusters not live"))
    });
    b.sim.faults.fail_for(Duration::from_secs(120), 503);
    b.sim.close_watches();
    let addr = d.clone();
    teams::until_within(Duration::from_secs(60), "b failing, a live", move || {
        http::request_with(&addr, "GET", "/api/v1/clusters", BOB, "").is_some_and(|(_, _, body)| {
            let s = summary(&body);
            s.len() == 2 && s[0].1 == "live" && s[1].1 == "failing"
        })
    })
    .await;
    let told = tokio::time::timeout(Duration::from_secs(30), told)
        .await
        .expect("the overview's stream told in time")
        .expect("read");
    assert!(told.is_some_and(|l| l.contains("b: ")), "which cluster");
    let (_, body) = call(&d, "GET", "/api/v1/clusters", BOB, "").await;
    assert!(
        clusters_of(&body)[1]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "says why: {body}"
    );
    // a still follows its changes.
    let (status, _) = call(&d, "PUT", "/api/v1/rollouts/team-b/api/abort", BOB, "{}").await;
    assert_eq!(status, 403, "bob only views");
    a.store
        .patch(
            rt("rollouts"),
            "team-b",
            "api",
            rollouts_dashboard::sim::store::Subresource::Status,
            |o| {
                o["status"]["message"] = json!("changed during b's outage");
                Ok(())
            },
        )
        .expect("a change in a");
    let addr = d.clone();
    teams::until("a's change in its view", move || {
        http::request_with(&addr, "GET", "/api/v1/rollouts/team-b/api/info", BOB, "")
            .is_some_and(|(_, _, body)| body.contains("changed during b's outage"))
    })
    .await;
}

#[tokio::test]
async fn a_token_is_one_clusters_so_token_sign_in_takes_one_cluster() {
    let (a, b) = two_clusters().await;
    let clusters = vec![connection(&a, "a"), connection(&b, "b")];
    let e = refused(&clusters, &web(AuthMode::Token), &a).await;
    assert!(e.contains("a token is one cluster's"), "{e}");
    // Nor one cluster and those Argo CD knows.
    let mut with_argocd = web(AuthMode::Token);
    with_argocd.argocd_cluster_secrets = Some("argocd".to_string());
    let e = refused(&[connection(&a, "a")], &with_argocd, &a).await;
    assert!(e.contains("--argocd-cluster-secrets"), "{e}");
}

/// Argo CD's cluster Secret for `c`, named `name`, as Argo CD writes it.
fn argocd_secret(name: &str, c: &Cluster) -> Value {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": format!("cluster-{name}"), "namespace": "argocd",
                        "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
           "type": "Opaque",
           "data": {"name": b64(name), "server": b64(&format!("http://{}", c.addr)),
                    "config": b64(r#"{"bearerToken":"dashboard-token","tlsClientConfig":{"insecure":false}}"#)}})
}

/// The two teams' cluster, whose dashboard ServiceAccount may read Argo
/// CD's Secrets.
async fn with_argocd() -> Cluster {
    let mut rbac = documents(&teams::fixtures().join("dashboard-rbac.yaml"));
    rbac.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "argocd-clusters", "namespace": "argocd"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]}));
    rbac.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "argocd-clusters", "namespace": "argocd"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "argocd-clusters"},
        "subjects": [{"kind": "User", "name": teams::DASHBOARD_SA, "apiGroup": "rbac.authorization.k8s.io"}]}));
    teams::cluster(teams::DASHBOARD_SA, rbac, Vec::new()).await
}

/// The dashboard of `a` alone, following Argo CD's Secrets there (only
/// those `selector` matches, when given).
async fn following_argocd(a: &Cluster, selector: Option<&str>) -> String {
    let mut web = web(AuthMode::Proxy);
    web.argocd_cluster_secrets = Some("argocd".to_string());
    web.argocd_cluster_selector = selector.map(str::to_string);
    serving(vec![connection(a, "a")], web, a).await
}

/// The dashboard of `clusters` with `web`'s settings on a loopback port
/// until `a` stops: its address.
async fn serving(clusters: Vec<NamedConnection>, web: WebArgs, a: &Cluster) -> String {
    let listener = loopback().await;
    let addr = listener.local_addr().expect("bound").to_string();
    let stop = a.stop.clone();
    tokio::spawn(async move {
        if let Err(e) = serve::run_clusters_on(listener, &clusters, &web, stop).await {
            panic!("the dashboard failed: {e}");
        }
    });
    addr
}

/// Why the dashboard of `clusters` with `web`'s settings does not start.
async fn refused(clusters: &[NamedConnection], web: &WebArgs, a: &Cluster) -> String {
    serve::run_clusters_on(loopback().await, clusters, web, a.stop.clone())
        .await
        .expect_err("refused")
        .to_string()
}

async fn loopback() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("a port")
}

/// What `/api/v1/clusters` says now, as bob.
fn names(addr: String) -> impl Fn() -> Vec<(String, String, u64)> + Send + Sync + 'static {
    move || {
        http::request_with(&addr, "GET", "/api/v1/clusters", BOB, "")
            .map(|(_, _, body)| summary(&body))
            .unwrap_or_default()
    }
}

/// Waits until the dashboard at `d` shows cluster a and prod-b (cluster
/// b of [`two_clusters`] as Argo CD names it), live, and serves prod-b's
/// rollouts at its own path.
async fn until_prod_b_is_shown(d: &str) {
    let now = names(d.to_string());
    teams::until("prod-b shown", move || {
        now()
            == vec![
                ("a".to_string(), "live".to_string(), 2),
                ("prod-b".to_string(), "live".to_string(), 3),
            ]
    })
    .await;
    let (status, body) = call(
        d,
        "GET",
        "/clusters/prod-b/api/v1/rollouts/_all/info",
        BOB,
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        teams::listed(&body),
        vec!["team-a/checkout", "team-a/web", "team-b/api"]
    );
}

#[tokio::test]
async fn a_cluster_added_to_argo_cd_appears_and_goes_when_it_is_removed() {
    let a = with_argocd().await;
    let (_, b) = two_clusters().await;
    let d = following_argocd(&a, None).await;
    let now = names(d.clone());
    teams::until("the dashboard's own cluster, synced", move || {
        now() == vec![("a".to_string(), "live".to_string(), 2)]
    })
    .await;
    let (_, page) = call(&d, "GET", "/", BOB, "").await;
    assert!(
        page.contains("id=\"r-team-a--web\""),
        "one cluster: its own overview"
    );

    // Argo CD gets a cluster (and its in-cluster entry, which is this one).
    a.store
        .create(rt("secrets"), "argocd", argocd_secret("prod-b", &b), true)
        .expect("the Secret");
    let mut in_cluster = argocd_secret("in-cluster", &b);
    in_cluster["data"]["server"] = json!("aHR0cHM6Ly9rdWJlcm5ldGVzLmRlZmF1bHQuc3Zj");
    a.store
        .create(rt("secrets"), "argocd", in_cluster, true)
        .expect("the in-cluster Secret");
    until_prod_b_is_shown(&d).await;
    let (_, page) = call(&d, "GET", "/", BOB, "").await;
    assert!(
        page.contains("id=\"fleet-attention\""),
        "two clusters: the overview of both"
    );
    assert!(
        page.contains("<a href=\"/clusters/prod-b/\">prod-b</a>"),
        "{page}"
    );

    // Removed from Argo CD: gone from the dashboard.
    a.store
        .delete(rt("secrets"), "argocd", "cluster-prod-b")
        .expect("deleted");
    let now = names(d.clone());
    teams::until("prod-b gone", move || now().len() == 1).await;
    let (status, _) = call(
        &d,
        "GET",
        "/clusters/prod-b/api/v1/rollouts/_all/info",
        BOB,
        "",
    )
    .await;
    assert_eq!(status, 404);
    let (_, page) = call(&d, "GET", "/", BOB, "").await;
    assert!(page.contains("id=\"r-team-a--web\""), "one cluster again");
}

#[tokio::test]
async fn a_replica_shows_only_its_share_of_argo_cds_clusters() {
    let a = with_argocd().await;
    let (_, b) = two_clusters().await;
    for (name, shard) in [("prod-eu", "eu"), ("prod-us", "us")] {
        let mut secret = argocd_secret(name, &b);
        secret["metadata"]["labels"]["rollouts-dashboard/shard"] = json!(shard);
        a.store
            .create(rt("secrets"), "argocd", secret, true)
            .expect("the Secret");
    }
    let d = following_argocd(&a, Some("rollouts-dashboard/shard=eu")).await;
    // One list brings both Secrets: the first that shows prod-eu would show
    // prod-us as well, were the selector not applied.
    let now = names(d.clone());
    teams::until("prod-eu shown", move || now().len() == 2).await;
    let (_, body) = call(&d, "GET", "/api/v1/clusters", BOB, "").await;
    let shown: Vec<String> = summary(&body).into_iter().map(|c| c.0).collect();
    assert_eq!(shown, vec!["a", "prod-eu"]);
}

/// Carol operates team-b in both clusters.
const CAROL: &[(&str, &str)] = &[
    ("X-Forwarded-User", "carol"),
    ("X-Forwarded-Groups", "team-b"),
];

/// The people credited in a rollout's history (`path`), as carol asks.
fn credited(addr: &str, path: &str) -> Vec<String> {
    let Some((200, _, body)) = http::request_with(addr, "GET", path, CAROL, "") else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut by = Vec::new();
    for r in v["revisions"].as_array().into_iter().flatten() {
        for e in r["events"].as_array().into_iter().flatten() {
            if let Some(who) = e["by"].as_str() {
                by.push(format!("{} {}", e["kind"].as_str().unwrap_or(""), who));
            }
        }
    }
    by
}

#[tokio::test]
async fn each_clusters_history_and_metrics_are_its_own() {
    let (a, b) = two_clusters().await;
    let mut settings = web(AuthMode::Proxy);
    let admin = SocketAddr::from(([127, 0, 0, 1], http::free_port()));
    settings.admin_listen = Some(admin);
    let d = dashboard_with(&a, &b, settings).await;
    let admin = admin.to_string();

    // Carol promotes team-b/api in b, and only there.
    let (status, body) = call(
        &d,
        "PUT",
        "/api/v1/clusters/b/rollouts/team-b/api/promote",
        CAROL,
        "{}",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    teams::react(&b.store, &b.controller);
    let addr = d.clone();
    teams::until("b's history credits carol", move || {
        credited(&addr, "/clusters/b/api/v1/rollouts/team-b/api/history")
            .contains(&"promote carol".to_string())
    })
    .await;
    assert!(
        credited(&d, "/api/v1/rollouts/team-b/api/history").is_empty(),
        "a's team-b/api was not promoted"
    );
    // Each cluster's releases are its own (bob sees every team's).
    for (path, rollouts) in [
        ("/api/v1/history?since=1d", 2),
        ("/clusters/b/api/v1/history?since=1d", 3),
    ] {
        let (status, body) = call(&d, "GET", path, BOB, "").await;
        assert_eq!(status, 200, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let names: Vec<&str> = v["rollouts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert_eq!(names.len(), rollouts, "{path}: {names:?}");
    }

    // /metrics: the first cluster's series as with one cluster, b's
    // labelled with its name; b's history is written here too.
    let (status, metrics) = tokio::task::spawn_blocking(move || http::get(&admin, "/metrics"))
        .await
        .expect("read")
        .expect("the metrics");
    assert_eq!(status, 200);
    let sum = |prefix: &str| -> i64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
            .sum()
    };
    assert_eq!(sum("rollouts_dashboard_rollouts{status="), 2, "{metrics}");
    assert_eq!(
        sum("rollouts_dashboard_rollouts{cluster=\"b\","),
        3,
        "{metrics}"
    );
    for line in [
        "rollouts_dashboard_ready 1",
        "rollouts_dashboard_ready{cluster=\"b\"} 1",
        "rollouts_dashboard_history_writer 1",
        "rollouts_dashboard_history_writer{cluster=\"b\"} 1",
        "rollouts_dashboard_history_store_failing{cluster=\"b\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}: {metrics}");
    }
    assert!(
        metrics.lines().any(|l| l
            .starts_with("rollouts_dashboard_watch_events_total{cluster=\"b\",kind=\"Rollout\"}")),
        "{metrics}"
    );
}

#[tokio::test]
async fn argo_cds_cluster_secrets_mounted_as_files_need_no_right_to_read_secrets() {
    // a's dashboard may not read Secrets at all.
    let (a, b) = two_clusters().await;
    let dir = std::env::temp_dir().join(format!("rd-argocd-mount-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // As a Secret volume lays out each Secret: a file per key, beside the
    // kubelet's own entries.
    let secret = dir.join("cluster-prod-b");
    std::fs::create_dir_all(&secret).expect("a folder");
    std::fs::create_dir_all(dir.join("..data")).expect("the kubelet's folder");
    for (key, text) in [
        ("name", "prod-b".to_string()),
        ("server", format!("http://{}", b.addr)),
        (
            "config",
            r#"{"bearerToken":"dashboard-token","tlsClientConfig":{"insecure":false}}"#.to_string(),
        ),
    ] {
        std::fs::write(secret.join(key), text).expect("a key's file");
    }
    let mut settings = web(AuthMode::Proxy);
    settings.argocd_cluster_dir = Some(dir.clone());
    let d = serving(vec![connection(&a, "a")], settings, &a).await;
    until_prod_b_is_shown(&d).await;
    // The Secret unmounted: the cluster goes.
    std::fs::remove_dir_all(&secret).expect("removed");
    let now = names(d.clone());
    teams::until("prod-b gone", move || now().len() == 1).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn argo_cds_secrets_that_cannot_be_read_are_said_so_until_they_can() {
    // a's dashboard may not list Secrets yet; b is given as a context.
    let (a, b) = two_clusters().await;
    let mut settings = web(AuthMode::Proxy);
    settings.argocd_cluster_secrets = Some("argocd".to_string());
    let admin = SocketAddr::from(([127, 0, 0, 1], http::free_port()));
    settings.admin_listen = Some(admin);
    let d = serving(vec![connection(&a, "a"), connection(&b, "b")], settings, &a).await;
    let admin = admin.to_string();
    let said = |d: &str| {
        http::request_with(d, "GET", "/api/v1/clusters", BOB, "").and_then(|(_, _, body)| {
            let v: Value = serde_json::from_str(&body).ok()?;
            v["sourceProblem"].as_str().map(str::to_string)
        })
    };
    let metric = |admin: &str, name: &str| {
        http::get(admin, "/metrics").and_then(|(_, body)| {
            body.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<i64>().ok())
        })
    };
    let (at, adm) = (d.clone(), admin.clone());
    teams::until(
        "the API and /metrics say the Secrets cannot be listed",
        move || {
            said(&at).is_some_and(|p| {
                p.contains("cannot list Argo CD's cluster Secrets in argocd")
                    && p.ends_with("the clusters shown are as last read")
            }) && metric(&adm, "rollouts_dashboard_argocd_cluster_secrets_failing") == Some(1)
        },
    )
    .await;
    // The overview of both says so too, and that the two it shows are live.
    let (_, page) = call(&d, "GET", "/", BOB, "").await;
    assert!(
        page.contains("Live: 2 clusters")
            && page.contains("Argo CD&#39;s cluster Secrets: cannot list Argo CD&#39;s cluster Secrets in argocd: forbidden: secrets is forbidden"),
        "{page}"
    );

    // Granted the right, with one Secret that names no usable cluster.
    for (kind, doc) in [
        (
            "roles",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "argocd-clusters", "namespace": "argocd"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]}),
        ),
        (
            "rolebindings",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "argocd-clusters", "namespace": "argocd"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "argocd-clusters"},
            "subjects": [{"kind": "User", "name": teams::DASHBOARD_SA, "apiGroup": "rbac.authorization.k8s.io"}]}),
        ),
        (
            "secrets",
            json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "cluster-broken", "namespace": "argocd",
                         "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
            "data": {"name": "YnJva2Vu"}}),
        ),
    ] {
        a.store.create(rt(kind), "argocd", doc, true).expect(kind);
    }
    let (at, adm) = (d.clone(), admin.clone());
    teams::until("the problem gone, the unusable Secret counted", move || {
        said(&at).is_none()
            && metric(&adm, "rollouts_dashboard_argocd_cluster_secrets_failing") == Some(0)
            && metric(&adm, "rollouts_dashboard_argocd_cluster_secrets_unusable") == Some(1)
    })
    .await;
    let (_, page) = call(&d, "GET", "/", BOB, "").await;
    assert!(!page.contains("Argo CD&#39;s cluster Secrets:"), "{page}");
}
