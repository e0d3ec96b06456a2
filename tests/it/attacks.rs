//! The multi-user modes tried as an attacker would, against the simulated
//! cluster that authenticates tokens and enforces RBAC
//! (tests/fixtures/multi-team): each attack fails closed.

use crate::common;
use crate::harness;
use crate::http;
use crate::teams;
use crate::teams::{DASHBOARD_SA, two_teams};

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use harness::rt;
use rollouts_dashboard::cli::{AuthMode, WebArgs};
use rollouts_dashboard::cluster::client::Scope;
use rollouts_dashboard::web::auth::session::{Sealer, Session};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use teams::{
    ALICE, BOB, Cluster, call, documents, exchange, fixtures, open, read_until, rss_kib, step_of,
};

const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_group_headers_give_no_rights() {
    let c = two_teams().await;
    let d = teams::dashboard(&c, AuthMode::Proxy, &["127.0.0.1/32"], Scope::AllNamespaces).await;
    let before = c.sim.requests().len();
    // The header family the proxy does not set is not read at all...
    let other_family = [
        ALICE[0],
        ALICE[1],
        ("X-Auth-Request-Groups", "system:masters"),
    ];
    let (status, body) = call(
        &d,
        "PUT",
        "/api/v1/rollouts/team-b/api/restart",
        &other_family,
        "{}",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // ...and no header puts anyone in a system group.
    let masters = [ALICE[0], ("X-Forwarded-Groups", "team-a,system:masters")];
    let (status, body) = call(
        &d,
        "PUT",
        "/api/v1/rollouts/team-b/api/restart",
        &masters,
        "{}",
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("system:masters"), "{body}");
    let (status, _) = call(&d, "GET", "/api/v1/rollouts/team-b/info", &masters, "").await;
    assert_eq!(status, 401);
    let patches = c.sim.requests()[before..]
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(patches, 0, "nothing was patched");
    let restarted = c
        .store
        .get(rt("rollouts"), "team-b", "api")
        .expect("the rollout")["spec"]
        .get("restartAt")
        .cloned();
    assert_eq!(restarted, None, "team-b/api was not restarted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_namespaces_cost_no_access_review() {
    let c = two_teams().await;
    let d = teams::dashboard(&c, AuthMode::Proxy, &["127.0.0.1/32"], Scope::AllNamespaces).await;
    // Her rights in the real namespaces, asked once.
    assert_eq!(
        call(&d, "GET", "/api/v1/rollouts/_all/info", ALICE, "")
            .await
            .0,
        200
    );
    let asked = c.count("subjectaccessreviews");
    for i in 0..2000 {
        let ns = format!("made-up-{i}");
        let path = match i % 4 {
            0 => format!("/api/v1/rollouts/{ns}/info"),
            1 => format!("/api/v1/rollouts/{ns}/web/info"),
            2 => format!("/rollouts/{ns}/web"),
            _ => format!("/api/v1/rollouts/{ns}/web/promote"),
        };
        let method = if i % 4 == 3 { "PUT" } else { "GET" };
        let (status, body) = call(&d, method, &path, ALICE, "{}").await;
        if i % 4 == 0 {
            // Argo's answer for a namespace without rollouts: none.
            assert_eq!(
                (status, body.as_str()),
                (200, r#"{"rollouts":[]}"#),
                "{path}"
            );
        } else {
            assert_eq!(status, 404, "{method} {path}: {body}");
        }
    }
    for bad in [
        "/api/v1/rollouts/UPPER/info",
        "/api/v1/rollouts/a..b/web/info",
    ] {
        assert_eq!(call(&d, "GET", bad, ALICE, "").await.0, 404, "{bad}");
    }
    assert_eq!(
        c.count("subjectaccessreviews"),
        asked,
        "no SubjectAccessReview"
    );
}

/// Watches of made-up namespaces and rollouts stay open (as Argo's do)
/// without one SubjectAccessReview; her rights there are asked once a
/// rollout appears, and a watch of one she may not see then ends with 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_of_made_up_names_stay_open_and_cost_no_review_until_a_rollout_appears() {
    let c = two_teams().await;
    let d = teams::dashboard(&c, AuthMode::Proxy, &["127.0.0.1/32"], Scope::AllNamespaces).await;
    assert_eq!(
        call(&d, "GET", "/api/v1/rollouts/_all/info", ALICE, "")
            .await
            .0,
        200
    );
    let asked = c.count("subjectaccessreviews");
    let mut streams = Vec::new();
    for i in 0..20 {
        let path = if i % 2 == 0 {
            format!("/api/v1/rollouts/made-up-{i}/info/watch")
        } else {
            format!("/api/v1/rollouts/made-up-{i}/web/info/watch")
        };
        streams.push(open(&d, &path, ALICE).await);
    }
    assert_eq!(
        c.count("subjectaccessreviews"),
        asked,
        "no SubjectAccessReview to open"
    );
    // A rollout appears in one of them, where Alice has no rights.
    let mut one = open(&d, "/api/v1/rollouts/made-up-99/web/info/watch", ALICE).await;
    let rollout = common::canary_rollout("made-up-99", "web", "web:v1");
    c.store
        .create(rt("rollouts"), "made-up-99", rollout, false)
        .expect("created");
    let ended = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        while !text.contains("http_code") {
            match std::io::Read::read(&mut one, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        text
    })
    .await
    .expect("read");
    assert!(ended.contains(r#""http_code":403"#), "{ended}");
    assert!(
        !ended.contains("rollouts-demo"),
        "nothing of the rollout is sent: {ended}"
    );
    drop(streams);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_rolebinding_ends_open_streams() {
    let c = two_teams().await;
    let web = WebArgs {
        auth: AuthMode::Proxy,
        trusted_proxies: vec![teams::cidr("127.0.0.1/32")],
        access_check_interval: 1,
        ..WebArgs::defaults()
    };
    let d = teams::dashboard_with(&c, Scope::AllNamespaces, LOOPBACK, web).await;
    let page = open(&d, "/stream/rollouts/team-a/web", ALICE).await;
    let watch = open(&d, "/api/v1/rollouts/team-a/web/info/watch", ALICE).await;
    let list = open(&d, "/api/v1/rollouts/_all/info/watch", ALICE).await;
    let overview = open(&d, "/stream/overview", ALICE).await;
    // Bob's rights do not change: his stream goes on.
    let bobs = open(&d, "/stream/rollouts/team-a/web", BOB).await;
    c.store
        .delete(rt("rolebindings"), "team-a", "team-a-operators")
        .expect("the binding is removed");
    let removed = Instant::now();
    let (page, watch, list, overview) = tokio::join!(
        read_until(page, "no longer have access", Duration::from_secs(10)),
        read_until(watch, "no longer have access", Duration::from_secs(10)),
        read_until(list, "\"Deleted\"", Duration::from_secs(10)),
        read_until(overview, "\"ids\":[]", Duration::from_secs(10)),
    );
    assert!(
        overview.contains("\"ids\":[\"r-team-a--web\"]"),
        "her overview showed team-a/web: {overview}"
    );
    assert!(
        overview.contains("\"ids\":[]"),
        "then dropped it: {overview}"
    );
    assert!(
        page.contains("event: ended")
            && page.contains("no longer have access to rollouts in namespace team-a"),
        "{page}"
    );
    assert!(watch.contains("\"http_code\":403"), "{watch}");
    assert!(
        list.contains("\"type\":\"Deleted\""),
        "her list watch drops team-a/web: {list}"
    );
    assert!(
        removed.elapsed() < Duration::from_secs(6),
        "within the interval plus a few seconds: {:?}",
        removed.elapsed()
    );
    let (status, _) = call(&d, "GET", "/api/v1/rollouts/team-a/web/info", ALICE, "").await;
    assert_eq!(status, 403, "and new requests are refused");
    let bobs = read_until(bobs, "event: ended", Duration::from_secs(3)).await;
    assert!(!bobs.contains("event: ended"), "{bobs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_ends_its_streams() {
    let c = two_teams().await;
    let key_file = std::env::temp_dir().join(format!("rd-session-key-{}", std::process::id()));
    std::fs::write(&key_file, [42u8; 64]).expect("the key file");
    let web = WebArgs {
        auth: AuthMode::Oidc,
        // Never contacted: a session cookie needs no provider.
        oidc_issuer_url: Some("https://127.0.0.1:9".to_string()),
        oidc_client_id: Some("rollouts-dashboard".to_string()),
        public_url: Some("http://127.0.0.1".to_string()),
        session_key_file: Some(key_file.clone()),
        ..WebArgs::defaults()
    };
    let d = teams::dashboard_with(&c, Scope::AllNamespaces, LOOPBACK, web).await;
    let sealer = Sealer::new(&[42u8; 64], "/").expect("a sealer");
    let now = jiff::Timestamp::now().as_second();
    let session = |expires| Session {
        user: "alice".into(),
        groups: vec!["team-a".into()],
        email: None,
        expires,
        id: "a-session".into(),
    };
    let cookie = |s: &Session| {
        let set = sealer.seal("session", s, 60).expect("sealed");
        set.split(';').next().expect("name=value").to_string()
    };
    let short = cookie(&session(now + 3));
    let stream = open(&d, "/stream/overview", &[("Cookie", short.as_str())]).await;
    let opened = Instant::now();
    let seen = read_until(stream, "event: ended", Duration::from_secs(10)).await;
    assert!(
        seen.contains("team-a"),
        "it followed her rollouts first: {seen}"
    );
    assert!(
        seen.contains("event: ended") && seen.contains("expired"),
        "{seen}"
    );
    assert!(opened.elapsed() < Duration::from_secs(6));
    let (status, _) = call(
        &d,
        "GET",
        "/api/v1/rollouts/_all/info",
        &[("Cookie", short.as_str())],
        "",
    )
    .await;
    assert_eq!(status, 401, "the expired session is refused");
    // A forged cookie (another key) and identity headers prove nothing.
    let forged = Sealer::new(&[1u8; 64], "/")
        .expect("a sealer")
        .seal("session", &session(now + 600), 60)
        .expect("sealed");
    let forged = forged.split(';').next().expect("pair").to_string();
    assert_eq!(
        call(
            &d,
            "GET",
            "/api/v1/rollouts/_all/info",
            &[("Cookie", forged.as_str())],
            ""
        )
        .await
        .0,
        401
    );
    assert_eq!(
        call(&d, "GET", "/api/v1/rollouts/_all/info", ALICE, "")
            .await
            .0,
        401
    );
    let _ = std::fs::remove_file(key_file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_sees_another_teams_objects_or_the_clusters_inner_state() {
    let c = two_teams().await;
    let mut bad = c
        .store
        .get(rt("rollouts"), "team-b", "api")
        .expect("api")
        .as_ref()
        .clone();
    bad["metadata"] = json!({"name": "secret-project", "namespace": "team-b"});
    bad["spec"]["replicas"] = json!("three");
    bad.as_object_mut().map(|o| o.remove("status"));
    c.store
        .create(rt("rollouts"), "team-b", bad, false)
        .expect("stored");
    let d = teams::dashboard(&c, AuthMode::Proxy, &["127.0.0.1/32"], Scope::AllNamespaces).await;
    teams::until("the malformed rollout is known", {
        let d = d.clone();
        move || {
            http::request_with(&d, "GET", "/", BOB, "")
                .is_some_and(|(_, _, b)| b.contains("secret-project"))
        }
    })
    .await;
    let (_, alices) = call(&d, "GET", "/", ALICE, "").await;
    assert!(
        !alices.contains("secret-project"),
        "alice's banner names no team-b object"
    );
    let (_, bobs) = call(&d, "GET", "/", BOB, "").await;
    assert!(bobs.contains("secret-project"), "bob may list team-b");
    let stream = open(&d, "/stream/overview", ALICE).await;
    let seen = read_until(stream, "event: resync", Duration::from_secs(10)).await;
    assert!(
        seen.contains("event: state") && !seen.contains("secret-project"),
        "{seen}"
    );
    // The user-facing port: /readyz names nothing, /metrics is not there.
    let (status, body) = call(&d, "GET", "/readyz", &[], "").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    assert_eq!(call(&d, "GET", "/metrics", &[], "").await.0, 404);
    // Per-person answers are kept by no shared cache.
    for path in ["/", "/api/v1/rollouts/_all/info", "/rollouts/team-a/web"] {
        let (_, head, _) = exchange(&d, "GET", path, ALICE, "").await;
        assert!(
            head.to_ascii_lowercase()
                .contains("cache-control: private, no-store"),
            "{path}: {head}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_access_review_is_not_a_remembered_no() {
    let c = two_teams().await;
    let d = teams::dashboard(&c, AuthMode::Proxy, &["127.0.0.1/32"], Scope::AllNamespaces).await;
    c.sim.faults.fail_next(50, 500);
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/team-a/web/info", ALICE, "").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("could not check your access"), "{body}");
    c.sim.faults.clear();
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/team-a/web/info", ALICE, "").await;
    assert_eq!(status, 200, "asked again, and allowed: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_bodies_and_streams_are_bounded() {
    let c = two_teams().await;
    let d = teams::dashboard(&c, AuthMode::Proxy, &["127.0.0.1/32"], Scope::AllNamespaces).await;
    let big = format!(
        "{{\"full\": false, \"pad\": \"{}\"}}",
        "x".repeat(70 * 1024)
    );
    let (status, _) = call(
        &d,
        "PUT",
        "/api/v1/rollouts/team-a/web/promote",
        ALICE,
        &big,
    )
    .await;
    assert_eq!(status, 413, "a 70 KB body is refused");
    assert_eq!(step_of(&c.store, "team-a", "web"), 1);
    let mut open_streams = Vec::new();
    for _ in 0..32 {
        open_streams.push(open(&d, "/stream/overview", ALICE).await);
    }
    let (status, body) = call(&d, "GET", "/stream/overview", ALICE, "").await;
    assert_eq!(status, 429, "{body}");
    let bobs = open(&d, "/stream/overview", BOB).await;
    drop(bobs);
    drop(open_streams);
    teams::until("her slots come back", {
        let d = d.clone();
        move || http::open_stream_with(&d, "/stream/overview", ALICE).is_some()
    })
    .await;
}

/// The API server adds `system:authenticated` to every impersonated user;
/// the access reviews must too, or the page hides what she may do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rights_granted_to_every_signed_in_person_are_seen() {
    let rbac = documents(&fixtures().join("dashboard-rbac.yaml"));
    let everyone = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "everyone-views", "namespace": "team-b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "rollouts-viewer"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}],
    });
    let c = teams::cluster(DASHBOARD_SA, rbac, vec![everyone]).await;
    let d = teams::dashboard(&c, AuthMode::Proxy, &["127.0.0.1/32"], Scope::AllNamespaces).await;
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/_all/info", ALICE, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(teams::listed(&body), ["team-a/web", "team-b/api"]);
    let review = c
        .sim
        .requests()
        .into_iter()
        .find(|r| r.path.contains("subjectaccessreviews"))
        .expect("a review");
    assert!(
        review.body.contains("system:authenticated"),
        "{}",
        review.body
    );
}

/// A link cannot put words on a rollout's page: outcomes are codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_notices_take_no_text_from_the_url() {
    let c = two_teams().await;
    let d = teams::dashboard(&c, AuthMode::Proxy, &["127.0.0.1/32"], Scope::AllNamespaces).await;
    let (status, page) = call(
        &d,
        "GET",
        "/rollouts/team-a/web?error=Your+session+expired%2C+call+555-0100",
        ALICE,
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(!page.contains("555-0100"), "no text from the URL");
    let (_, page) = call(&d, "GET", "/rollouts/team-a/web?error=conflict", ALICE, "").await;
    assert!(
        page.contains("the rollout changed since you looked"),
        "a code maps to the page's own words"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_tokens_cost_a_bounded_number_of_token_reviews() {
    let c = two_teams().await;
    // The dashboard in a process of its own, so its memory is its alone
    // (this binary runs other tests beside it).
    let (d, mut child) = dashboard_process(&c, &["--auth", "token"]).await;
    let pid = child.id();
    let rss = || rss_kib(pid);
    // Warm up the dashboard's own allocations with a real token first.
    let (status, _) = call(
        &d,
        "GET",
        "/api/v1/rollouts/_all/info",
        &[("Authorization", "Bearer alice-token")],
        "",
    )
    .await;
    assert_eq!(status, 200);
    let reviews_before = c.count("tokenreviews");
    let rss_before = rss();
    let sent = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (d, sent, refused) = (d.clone(), sent.clone(), refused.clone());
            std::thread::spawn(move || {
                for i in 0..2500 {
                    let token = format!("Bearer made-up-{w}-{i}-{}", i * 7919 + w);
                    let answer = http::request_with(
                        &d,
                        "GET",
                        "/api/v1/rollouts/_all/info",
                        &[("Authorization", token.as_str())],
                        "",
                    );
                    sent.fetch_add(1, Ordering::Relaxed);
                    if let Some((s, _, _)) = answer {
                        assert!(s == 401 || s == 429, "a made-up token got {s}");
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a worker");
    }
    assert_eq!(sent.load(Ordering::Relaxed), 20_000);
    assert_eq!(
        refused.load(Ordering::Relaxed),
        20_000,
        "every request was answered"
    );
    let reviews = c.count("tokenreviews") - reviews_before;
    let grown_kb = rss().saturating_sub(rss_before);
    eprintln!("20,000 made-up tokens: {reviews} TokenReviews, {grown_kb} kB more resident");
    assert!(
        reviews <= 300,
        "{reviews} TokenReviews reached the API server"
    );
    assert!(grown_kb < 5 * 1024, "memory grew by {grown_kb} kB");
    // A real person from another address is not affected... and from this
    // one, a known token costs nothing new.
    let (status, _) = call(
        &d,
        "GET",
        "/api/v1/rollouts/_all/info",
        &[("Authorization", "Bearer alice-token")],
        "",
    )
    .await;
    assert_eq!(status, 200, "a known token still works");
    let _ = child.kill();
    let _ = child.wait();
}

/// The dashboard binary serving the teams' cluster `c` as its ServiceAccount
/// with `flags`; its address once ready, and the process.
async fn dashboard_process(c: &Cluster, flags: &[&str]) -> (String, std::process::Child) {
    let kubeconfig = std::env::temp_dir().join(format!(
        "rd-teams-{}-{}.kubeconfig",
        std::process::id(),
        c.addr.port()
    ));
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: sim, cluster: {{server: \"http://{}\"}}}}]\nusers: [{{name: dashboard, user: {{token: dashboard-token}}}}]\ncontexts: [{{name: sim, context: {{cluster: sim, user: dashboard, namespace: default}}}}]\ncurrent-context: sim\n",
            c.addr
        ),
    )
    .expect("the kubeconfig is written");
    let addr = format!("127.0.0.1:{}", http::free_port());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_rollouts-dashboard"))
        .args([
            "serve",
            "-A",
            "--history-db",
            "off",
            "--listen",
            &addr,
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .args(flags)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the dashboard starts");
    let probe = addr.clone();
    teams::until("the dashboard is ready", move || {
        http::get(&probe, "/readyz").is_some_and(|(s, _)| s == 200)
    })
    .await;
    (addr, child)
}
