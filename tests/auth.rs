//! Many teams behind one dashboard: the simulated cluster authenticates
//! bearer tokens and enforces RBAC (tests/fixtures/multi-team), and the
//! dashboard runs as its own ServiceAccount in `--auth proxy` (identity
//! headers from a trusted address, actions impersonate the person) or
//! `--auth token` (the person's own token). What each person sees and may do
//! is what Kubernetes RBAC says, through the pages, the streams and the API.

mod common;
mod harness;
mod http;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{empty_store, rt};
use jiff::SignedDuration;
use rollouts_dashboard::cli::{AuthMode, LogFormat, WebArgs};
use rollouts_dashboard::cluster::client::{ConfigSource, Connection, Scope};
use rollouts_dashboard::serve;
use rollouts_dashboard::sim::apiserver::ApiServer;
use rollouts_dashboard::sim::controller::{Controller, ControllerConfig};
use rollouts_dashboard::sim::manifests::load_path;
use rollouts_dashboard::sim::scenario::set_image;
use rollouts_dashboard::sim::store::{Store, Subresource};
use rollouts_dashboard::sim::users::Users;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const DASHBOARD_SA: &str = "system:serviceaccount:rollouts-dashboard:rollouts-dashboard";
const ALICE: &[(&str, &str)] = &[
    ("X-Forwarded-User", "alice"),
    ("X-Forwarded-Groups", "team-a"),
];
const BOB: &[(&str, &str)] = &[
    ("X-Forwarded-User", "bob"),
    ("X-Forwarded-Groups", "viewers"),
];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/multi-team")
}

struct Cluster {
    store: Arc<Store>,
    controller: Controller,
    sim: ApiServer,
    addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn react(store: &Store, controller: &Controller) {
    controller.settle(50);
    store.clock.advance(SignedDuration::from_secs(3));
    controller.settle(50);
}

/// team-a/web and team-b/api, each updated and waiting at its indefinite
/// pause (step index 1), on an API server that requires tokens.
async fn cluster() -> Cluster {
    let store = empty_store();
    let report = load_path(&store, &fixtures()).expect("the fixtures load");
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let controller = Controller::new(
        store.clone(),
        ControllerConfig {
            pod_ready_after: SignedDuration::from_secs(2),
        },
    );
    react(&store, &controller);
    for (ns, name) in [("team-a", "web"), ("team-b", "api")] {
        store
            .patch(rt("rollouts"), ns, name, Subresource::Main, |o| {
                set_image(o, name, "argoproj/rollouts-demo:yellow");
                Ok(())
            })
            .expect("the update starts");
    }
    react(&store, &controller);
    for (ns, name) in [("team-a", "web"), ("team-b", "api")] {
        assert_eq!(
            step_of(&store, ns, name),
            1,
            "{ns}/{name} waits at its pause"
        );
    }
    let users = Users::load(&fixtures().join("users.csv")).expect("the users file");
    let stop = CancellationToken::new();
    let sim = ApiServer::new(store.clone(), stop.clone()).with_users(users);
    let (addr, _) = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("the sim listens");
    Cluster {
        store,
        controller,
        sim,
        addr,
        stop,
    }
}

fn step_of(store: &Store, ns: &str, name: &str) -> i64 {
    store.get(rt("rollouts"), ns, name).expect("the rollout")["status"]["currentStepIndex"]
        .as_i64()
        .unwrap_or(-1)
}

/// The dashboard as its ServiceAccount (the token in users.csv), in `auth`
/// mode, believing identity headers from `trusted`; returns its address
/// once it is ready.
async fn dashboard(cluster: &Cluster, auth: AuthMode, trusted: &[&str]) -> String {
    let mut config = kube::Config::new(format!("http://{}", cluster.addr).parse().expect("a URL"));
    config.default_namespace = "default".to_string();
    config.auth_info.token = Some(secrecy::SecretString::from("dashboard-token"));
    let conn = Connection {
        config,
        source: ConfigSource::InCluster,
        scope: Scope::AllNamespaces,
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("bound").to_string();
    let web = WebArgs {
        listen: listener.local_addr().expect("bound"),
        admin_listen: None,
        base_path: "/".to_string(),
        read_only: false,
        auth,
        user_header: "X-Forwarded-User".to_string(),
        groups_header: "X-Forwarded-Groups".to_string(),
        email_header: "X-Forwarded-Email".to_string(),
        trusted_proxies: trusted
            .iter()
            .map(|c| {
                let (ip, prefix) = c.split_once('/').expect("a CIDR");
                rollouts_dashboard::cli::Cidr {
                    addr: ip.parse().expect("an address"),
                    prefix: prefix.parse().expect("a prefix"),
                }
            })
            .collect(),
        log_format: LogFormat::Text,
    };
    let stop = cluster.stop.clone();
    tokio::spawn(async move {
        if let Err(e) = serve::run_on(listener, &conn, &web, stop).await {
            panic!("the dashboard failed: {e}");
        }
    });
    let probe = addr.clone();
    until("the dashboard is ready", move || {
        http::get(&probe, "/readyz").is_some_and(|(s, _)| s == 200)
    })
    .await;
    addr
}

async fn until(what: &str, ok: impl Fn() -> bool + Send + Sync + 'static) {
    let ok = Arc::new(ok);
    let start = Instant::now();
    loop {
        let check = ok.clone();
        if tokio::task::spawn_blocking(move || check())
            .await
            .unwrap_or(false)
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (status, body) of one request, off the runtime's threads.
async fn call(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let (addr, method, path, body) = (
        addr.to_string(),
        method.to_string(),
        path.to_string(),
        body.to_string(),
    );
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        http::request_with(&addr, &method, &path, &h, &body)
            .map(|(status, _, body)| (status, body))
            .unwrap_or((0, String::new()))
    })
    .await
    .expect("the request ran")
}

fn listed(body: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    v["rollouts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{}/{}",
                r["objectMeta"]["namespace"].as_str().unwrap_or_default(),
                r["objectMeta"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// The overview stream's first full view: the card ids it names.
async fn overview_stream_ids(addr: &str, headers: &[(&str, &str)]) -> Vec<String> {
    let addr = addr.to_string();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let stream =
            http::open_stream_with(&addr, "/stream/overview", &h).expect("the stream opens");
        let mut lines = BufReader::new(stream).lines();
        let mut event = String::new();
        while let Some(Ok(line)) = lines.next() {
            if let Some(name) = line.strip_prefix("event: ") {
                event = name.to_string();
            } else if let Some(data) = line.strip_prefix("data: ")
                && event == "resync"
            {
                let v: Value = serde_json::from_str(data).expect("JSON");
                return v["ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect();
            }
        }
        panic!("the stream ended before its first full view");
    })
    .await
    .expect("the stream was read")
}

/// Every action route of the JSON API and the page, for one rollout.
fn action_routes(ns: &str, name: &str) -> Vec<(&'static str, String, &'static str)> {
    let api = format!("/api/v1/rollouts/{ns}/{name}");
    let mut routes: Vec<(&'static str, String, &'static str)> =
        ["promote", "abort", "retry", "restart", "pause", "resume"]
            .into_iter()
            .map(|a| ("PUT", format!("{api}/{a}"), "{}"))
            .collect();
    routes.push((
        "PUT",
        format!("{api}/set/{name}/argoproj/rollouts-demo/red"),
        "{}",
    ));
    routes.push(("PUT", format!("{api}/undo/0"), "{}"));
    routes.push(("POST", format!("/rollouts/{ns}/{name}/actions/promote"), ""));
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_mode_shows_and_allows_what_rbac_says() {
    let c = cluster().await;
    let d = dashboard(&c, AuthMode::Proxy, &["127.0.0.1/32"]).await;

    // alice (team-a) sees team-a only: the API, the page and the stream.
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/_all/info", ALICE, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed(&body), ["team-a/web"]);
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/team-b/info", ALICE, "").await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = call(&d, "GET", "/api/v1/rollouts/team-b/api/info", ALICE, "").await;
    assert_eq!(status, 403);
    let (status, page) = call(&d, "GET", "/", ALICE, "").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Signed in as alice (team-a)"),
        "the header names her"
    );
    assert!(page.contains("/rollouts/team-a/web") && !page.contains("/rollouts/team-b/api"));
    assert!(
        page.contains("actions/promote"),
        "she may promote in team-a"
    );
    let ids = overview_stream_ids(&d, ALICE).await;
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(ids[0].contains("team-a"), "{ids:?}");

    // Her promote in team-a goes through as her (impersonated) and moves it.
    let (status, body) = call(
        &d,
        "PUT",
        "/api/v1/rollouts/team-a/web/promote",
        ALICE,
        "{}",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let patches: Vec<_> = c
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.contains("/rollouts/web"))
        .collect();
    assert!(!patches.is_empty(), "the promote was sent");
    for p in &patches {
        assert_eq!(p.user.as_deref(), Some("alice"), "{p:?}");
        assert_eq!(p.impersonated_by.as_deref(), Some(DASHBOARD_SA), "{p:?}");
    }
    c.controller.settle(50);
    assert_eq!(step_of(&c.store, "team-a", "web"), 2, "one step on");
    let event = c
        .sim
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.contains("/events"))
        .expect("an Event records the promote");
    assert!(event.body.contains("by alice"), "{}", event.body);
    assert_eq!(
        event.user.as_deref(),
        Some(DASHBOARD_SA),
        "the dashboard writes it"
    );

    // A crafted promote of team-b's rollout: refused, nothing sent.
    let before = c.sim.requests().len();
    let (status, body) = call(
        &d,
        "POST",
        "/rollouts/team-b/api/actions/promote",
        &[
            ALICE[0],
            ALICE[1],
            ("Accept", "application/json"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("you may not"), "{body}");
    assert_eq!(
        step_of(&c.store, "team-b", "api"),
        1,
        "team-b's rollout did not move"
    );
    assert_eq!(
        c.sim.requests().len(),
        before,
        "nothing reached the cluster"
    );

    // bob (viewers) sees both, with no buttons, and every action is 403.
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/_all/info", BOB, "").await;
    assert_eq!(status, 200);
    assert_eq!(listed(&body), ["team-a/web", "team-b/api"]);
    let (_, page) = call(&d, "GET", "/", BOB, "").await;
    assert!(
        !page.contains("actions/"),
        "no action forms on the overview"
    );
    let (status, page) = call(&d, "GET", "/rollouts/team-b/api", BOB, "").await;
    assert_eq!(status, 200);
    assert!(
        !page.contains("data-action="),
        "no buttons on the rollout page"
    );
    assert!(!page.contains("Set image"), "no set-image button");
    for (method, path, body) in action_routes("team-b", "api") {
        let mut headers = BOB.to_vec();
        if method == "POST" {
            // As the page's script sends it (without it, a redirect back
            // to the page carries the error).
            headers.push(("Content-Type", "application/x-www-form-urlencoded"));
            headers.push(("Accept", "application/json"));
        }
        let (status, answer) = call(&d, method, &path, &headers, body).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
    }
    assert_eq!(step_of(&c.store, "team-b", "api"), 1);

    // No identity: 401, as JSON for the API and as a page for a browser.
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/_all/info", &[], "").await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("X-Forwarded-User"), "{body}");
    let (status, page) = call(&d, "GET", "/", &[("Accept", "text/html")], "").await;
    assert_eq!(status, 401);
    assert!(page.contains("Not signed in"), "{page}");
    // Probes and assets need no identity.
    assert_eq!(call(&d, "GET", "/healthz", &[], "").await.0, 200);
    assert_eq!(call(&d, "GET", "/static/app.css", &[], "").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_from_an_untrusted_address_are_refused() {
    let c = cluster().await;
    let d = dashboard(&c, AuthMode::Proxy, &["10.0.0.0/8"]).await;
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/_all/info", ALICE, "").await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("trusted proxies"), "{body}");
    let (status, _) = call(
        &d,
        "PUT",
        "/api/v1/rollouts/team-a/web/promote",
        ALICE,
        "{}",
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(step_of(&c.store, "team-a", "web"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_mode_acts_as_the_tokens_owner() {
    let c = cluster().await;
    let d = dashboard(&c, AuthMode::Token, &[]).await;
    let bearer = |t: &'static str| [("Authorization", t)];

    let (status, _) = call(
        &d,
        "GET",
        "/api/v1/rollouts/_all/info",
        &bearer("Bearer not-a-token"),
        "",
    )
    .await;
    assert_eq!(status, 401);
    let (status, page) = call(&d, "GET", "/", &[("Accept", "text/html")], "").await;
    assert_eq!(status, 401);
    assert!(
        page.contains("sign-in"),
        "a browser is offered the sign-in page"
    );

    let (status, body) = call(
        &d,
        "GET",
        "/api/v1/rollouts/_all/info",
        &bearer("Bearer carol-token"),
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed(&body), ["team-b/api"]);
    let (status, body) = call(
        &d,
        "PUT",
        "/api/v1/rollouts/team-b/api/promote",
        &bearer("Bearer carol-token"),
        "{}",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let patch = c
        .sim
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH" && r.path.contains("/rollouts/api"))
        .expect("the promote was sent");
    assert_eq!(
        patch.user.as_deref(),
        Some("carol"),
        "sent with her own token"
    );
    assert_eq!(patch.impersonated_by, None);
    c.controller.settle(50);
    assert_eq!(step_of(&c.store, "team-b", "api"), 2);

    // The sign-in page sets the cookie; the cookie then works like the header.
    let (status, head, _) = {
        let addr = d.clone();
        tokio::task::spawn_blocking(move || {
            http::request_with(
                &addr,
                "POST",
                "/sign-in",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                "token=alice-token",
            )
            .expect("an answer")
        })
        .await
        .expect("ran")
    };
    assert_eq!(status, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .expect("a cookie is set");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("Secure")
            && cookie.contains("SameSite=Strict")
    );
    let pair = cookie.split(';').next().expect("name=value").to_string();
    let (status, body) = call(
        &d,
        "GET",
        "/api/v1/rollouts/_all/info",
        &[("Cookie", pair.as_str())],
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed(&body), ["team-a/web"]);
    let (status, _) = {
        let addr = d.clone();
        tokio::task::spawn_blocking(move || {
            http::request_with(
                &addr,
                "POST",
                "/sign-in",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                "token=wrong",
            )
            .map(|(s, h, _)| (s, h))
            .expect("an answer")
        })
        .await
        .expect("ran")
    };
    assert_eq!(status, 401, "a wrong token is not kept");
}
