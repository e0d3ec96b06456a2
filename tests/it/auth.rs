//! Many teams behind one dashboard: the simulated cluster authenticates
//! bearer tokens and enforces RBAC (tests/fixtures/multi-team), and the
//! dashboard runs as its own ServiceAccount in `--auth proxy` (identity
//! headers from a trusted address, actions impersonate the person) or
//! `--auth token` (the person's own token). What each person sees and may do
//! is what Kubernetes RBAC says, through the pages, the streams and the API.

use crate::http;
use crate::teams;
use crate::teams::{DASHBOARD_SA, two_teams};

use rollouts_dashboard::cli::AuthMode;
use rollouts_dashboard::cluster::client::Scope;
use teams::{ALICE, BOB, Cluster, call, exchange, listed, overview_stream_ids, step_of};

async fn dashboard(c: &Cluster, auth: AuthMode, trusted: &[&str]) -> String {
    teams::dashboard(c, auth, trusted, Scope::AllNamespaces).await
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
    let c = two_teams().await;
    let d = dashboard(&c, AuthMode::Proxy, &["127.0.0.1/32"]).await;

    // alice (team-a) sees team-a only: the API, the page and the stream.
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/_all/info", ALICE, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed(&body), ["team-a/web"]);
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/team-b/info", ALICE, "").await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = call(&d, "GET", "/api/v1/rollouts/team-b/api/info", ALICE, "").await;
    assert_eq!(status, 403);
    // Observed traffic is filtered like the rest.
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/team-b/api/observed", ALICE, "").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/team-a/web/observed", ALICE, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("no Prometheus configured (--prometheus-url)"),
        "{body}"
    );
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

    // What alice may do was asked once and is remembered (a minute).
    let reviews = || {
        c.sim
            .requests()
            .iter()
            .filter(|r| r.path.contains("subjectaccessreviews"))
            .count()
    };
    let asked = reviews();
    assert!(asked > 0, "the dashboard asked Kubernetes");
    for _ in 0..3 {
        assert_eq!(
            call(&d, "GET", "/api/v1/rollouts/_all/info", ALICE, "")
                .await
                .0,
            200
        );
    }
    assert_eq!(
        reviews(),
        asked,
        "no new SubjectAccessReview for the same person"
    );

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
    let c = two_teams().await;
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
    let c = two_teams().await;
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
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, head, _) = exchange(&d, "POST", "/sign-in", &form, "token=alice-token").await;
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
    assert!(
        cookie.starts_with("__Host-rollouts-dashboard-token=") && cookie.contains("Path=/;"),
        "bound to this host: {cookie}"
    );
    assert!(!cookie.contains("alice-token"), "sealed: {cookie}");
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
    // Signing out ends the session: a copy of the cookie stops working,
    // and so does a live view opened with it.
    let copy = pair.clone();
    let stream = tokio::task::spawn_blocking({
        let d = d.clone();
        let copy = copy.clone();
        move || http::open_stream_with(&d, "/stream/overview", &[("Cookie", copy.as_str())])
    })
    .await
    .expect("opened")
    .expect("a live view with the cookie");
    let (status, head, _) =
        exchange(&d, "POST", "/sign-out", &[("Cookie", pair.as_str())], "").await;
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("Max-Age=0"), "the browser forgets it: {head}");
    let (status, body) = call(
        &d,
        "GET",
        "/api/v1/rollouts/_all/info",
        &[("Cookie", copy.as_str())],
        "",
    )
    .await;
    assert_eq!(status, 401, "a copied cookie no longer works: {body}");
    assert!(body.contains("signed out"), "{body}");
    let ended = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut stream = stream;
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(30)));
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            if seen.contains("event: ended") {
                break;
            }
        }
        seen
    })
    .await
    .expect("read");
    assert!(
        ended.contains("event: ended") && ended.contains("signed out"),
        "the open view ends: {ended}"
    );
    let (status, _, _) = exchange(&d, "POST", "/sign-in", &form, "token=wrong").await;
    assert_eq!(status, 401, "a wrong token is not kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auth_on_an_open_port_the_header_warns() {
    let c = two_teams().await;
    let open = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let d = teams::dashboard_on(&c, AuthMode::None, &[], Scope::AllNamespaces, open).await;
    let (status, page) = call(&d, "GET", "/", &[], "").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(
            "no authentication: whoever reaches this port acts as this pod&#39;s ServiceAccount"
        ),
        "the header warns"
    );
    let local = teams::dashboard(&c, AuthMode::None, &[], Scope::AllNamespaces).await;
    let (_, page) = call(&local, "GET", "/", &[], "").await;
    assert!(!page.contains("no authentication"), "not on loopback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_from_another_site_is_refused() {
    let c = two_teams().await;
    let d = dashboard(&c, AuthMode::Token, &[]).await;
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Origin", "https://evil.example"),
    ];
    let (status, head, _) = exchange(&d, "POST", "/sign-in", &headers, "token=alice-token").await;
    assert_eq!(status, 403);
    assert!(!head.to_ascii_lowercase().contains("set-cookie"), "{head}");
}
