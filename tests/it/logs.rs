//! A rollout's pod logs through the simulated cluster with RBAC: read as
//! the person (impersonated), so `pods/log` is theirs to have or not; the
//! link only where they have it; a followed stream that delivers new lines,
//! ends when the right is withdrawn, and is capped per person.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use jiff::SignedDuration;
use rollouts_dashboard::cli::{AuthMode, WebArgs};
use rollouts_dashboard::cluster::client::Scope;
use serde_json::{Value, json};

use crate::harness::rt;
use crate::teams::{
    self, ALICE, BOB, Cluster, DASHBOARD_SA, call, documents, fixtures, open, read_until,
};

const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);
/// Another of team-a, who may read its logs too.
const DAVE: &[(&str, &str)] = &[
    ("X-Forwarded-User", "dave"),
    ("X-Forwarded-Groups", "team-a"),
];

/// The two teams, team-a also granted `get pods/log` in its namespace.
async fn cluster() -> Cluster {
    let rbac = documents(&fixtures().join("dashboard-rbac.yaml"));
    let logs = teams::team_a_reads_logs();
    teams::cluster(DASHBOARD_SA, rbac, logs).await
}

async fn dashboard(c: &Cluster) -> String {
    let web = WebArgs {
        auth: AuthMode::Proxy,
        trusted_proxies: vec![teams::cidr("127.0.0.1/32")],
        access_check_interval: 1,
        ..WebArgs::defaults()
    };
    teams::dashboard_with(c, Scope::AllNamespaces, LOOPBACK, web).await
}

/// Sets the simulator's traffic annotations on team-a/web.
fn annotate(c: &Cluster, pairs: &[(&str, &str)]) {
    c.store
        .patch(
            rt("rollouts"),
            "team-a",
            "web",
            rollouts_dashboard::sim::store::Subresource::Main,
            |o| {
                for (k, v) in pairs {
                    o["metadata"]["annotations"][format!("sim.rollouts-dashboard.io/{k}")] =
                        json!(v);
                }
                Ok(())
            },
        )
        .expect("annotated");
}

/// Alice's GET of `path`: (status, body).
async fn alice_gets(d: &str, path: &str) -> (u16, String) {
    call(d, "GET", path, ALICE, "").await
}

fn lines(body: &str) -> Vec<Value> {
    body.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_with_pods_log_reads_the_canary_and_follows_it() {
    let c = cluster().await;
    let d = dashboard(&c).await;
    // Pods write while they serve: let the simulated clock run a while.
    c.store.clock.advance(SignedDuration::from_secs(5));
    let (status, body) = alice_gets(
        &d,
        "/api/v1/rollouts/team-a/web/logs?role=canary&tailLines=5",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let got = lines(&body);
    assert!(!got.is_empty() && got.len() <= 5 * 2, "{body}");
    for line in &got {
        assert_eq!(line["role"], "canary", "{line}");
        assert!(
            line["pod"].as_str().is_some_and(|p| p.starts_with("web-")),
            "{line}"
        );
        assert_eq!(line["revision"], 2, "{line}");
        assert!(line["time"].as_str().is_some(), "{line}");
        assert!(
            line["line"].as_str().is_some_and(|l| !l.is_empty()),
            "{line}"
        );
    }
    // Both revisions, canary and stable, without a role.
    let (_, body) = call(&d, "GET", "/api/v1/rollouts/team-a/web/logs", ALICE, "").await;
    let roles: std::collections::BTreeSet<String> = lines(&body)
        .iter()
        .filter_map(|l| l["role"].as_str().map(String::from))
        .collect();
    assert_eq!(
        roles.into_iter().collect::<Vec<_>>(),
        ["canary", "stable"],
        "{body}"
    );
    // Her rollout's page links its logs.
    let (_, page) = call(&d, "GET", "/rollouts/team-a/web", ALICE, "").await;
    assert!(page.contains("/rollouts/team-a/web/logs\""), "{page}");
    let (status, page) = alice_gets(&d, "/rollouts/team-a/web/logs?role=canary").await;
    assert_eq!(status, 200);
    assert!(page.contains("Canary · revision 2"), "{page}");

    // Following: a line written after she opened it arrives.
    let stream = open(
        &d,
        "/api/v1/rollouts/team-a/web/logs?role=canary&tailLines=0&follow=true",
        ALICE,
    )
    .await;
    let clock = c.store.clock.clone();
    let ticking = tokio::spawn(async move {
        for _ in 0..40 {
            clock.advance(SignedDuration::from_secs(1));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let seen = read_until(stream, "\"role\":\"canary\"", Duration::from_secs(10)).await;
    ticking.abort();
    assert!(seen.contains("\"role\":\"canary\""), "{seen}");
    assert!(seen.contains("method=GET"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_pods_log_or_the_rollout_there_is_no_log() {
    let c = cluster().await;
    let d = dashboard(&c).await;
    // Bob may see team-b's rollouts, not read its pods' logs.
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/team-b/api/logs", BOB, "").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("does not allow get on pods/log"),
        "the reason names the right: {body}"
    );
    let (status, page) = call(&d, "GET", "/rollouts/team-b/api", BOB, "").await;
    assert_eq!(status, 200);
    assert!(!page.contains("/logs\""), "no Logs link for Bob: {page}");
    let (status, page) = call(&d, "GET", "/rollouts/team-b/api/logs", BOB, "").await;
    assert_eq!(status, 403);
    assert!(page.contains("pods/log"), "{page}");
    // Alice may read team-a's logs, not another team's.
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/team-b/api/logs", ALICE, "").await;
    assert_eq!(status, 403, "{body}");
    // Nothing reached the API server's log endpoint for either refusal.
    assert_eq!(c.count("/log?"), 0, "{:?}", c.sim.requests().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_right_ends_an_open_log_stream() {
    let c = cluster().await;
    let d = dashboard(&c).await;
    let stream = open(
        &d,
        "/api/v1/rollouts/team-a/web/logs?follow=true&tailLines=1",
        ALICE,
    )
    .await;
    c.store
        .delete(rt("rolebindings"), "team-a", "team-a-log-readers")
        .expect("the binding is removed");
    let removed = Instant::now();
    let seen = read_until(stream, "\"ended\"", Duration::from_secs(10)).await;
    assert!(
        seen.contains("You may no longer read pod logs in namespace team-a"),
        "{seen}"
    );
    assert!(
        removed.elapsed() < Duration::from_secs(6),
        "{:?}",
        removed.elapsed()
    );
    let (status, _) = call(&d, "GET", "/api/v1/rollouts/team-a/web/logs", ALICE, "").await;
    assert_eq!(status, 403, "and new requests are refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_log_streams_from_one_person_stop_at_the_cap() {
    let c = cluster().await;
    let d = dashboard(&c).await;
    let path = "/api/v1/rollouts/team-a/web/logs?follow=true&tailLines=0";
    let opened = |who: &'static [(&'static str, &'static str)]| {
        let addr = d.clone();
        tokio::task::spawn_blocking(move || {
            crate::http::open_stream_status(&addr, path, who).expect("an answer")
        })
    };
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..100 {
        let (status, stream) = opened(ALICE).await.expect("opened");
        match status {
            200 => held.push(stream),
            429 => refused += 1,
            other => panic!("a log stream answered {other}"),
        }
    }
    assert_eq!(held.len(), 4, "--max-log-streams-per-client's default");
    assert_eq!(refused, 96);
    // Another person is not affected.
    let (status, _dave) = opened(DAVE).await.expect("opened");
    assert_eq!(status, 200, "Dave still reads his team's logs");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_only_keeps_the_failing_canarys_errors_and_a_filter_its_text() {
    let c = cluster().await;
    // Half the canary's requests fail, as the scenario annotation says.
    annotate(&c, &[("canary-error-rate", "0.5")]);
    let d = dashboard(&c).await;
    c.store.clock.advance(SignedDuration::from_secs(30));
    let (status, body) = alice_gets(
        &d,
        "/api/v1/rollouts/team-a/web/logs?role=canary&tailLines=200&errorsOnly=true",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let errors = lines(&body);
    assert!(errors.len() >= 5, "{body}");
    for line in &errors {
        let text = line["line"].as_str().unwrap_or_default();
        assert!(text.contains("status=503"), "{line}");
        assert_eq!(line["isError"], true, "{line}");
    }
    let (_, body) = alice_gets(&d, "/api/v1/rollouts/team-a/web/logs?role=canary&tailLines=200&filter=PATH%3D%2Fapi%2Fitems%2F42")
    .await;
    let found = lines(&body);
    assert!(!found.is_empty(), "{body}");
    assert!(
        found.iter().all(|l| l["line"]
            .as_str()
            .is_some_and(|t| t.contains("path=/api/items/42"))),
        "the filter ignores case and keeps only its text: {body}"
    );
    let (status, body) = alice_gets(&d, "/api/v1/rollouts/team-a/web/logs?tailLines=5000").await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_writing_long_lines_fast_fill_no_more_than_a_views_bound() {
    let c = cluster().await;
    annotate(
        &c,
        &[
            ("requests-per-second", "100000"),
            ("log-lines-per-second", "1000"),
            ("log-line-bytes", "20000"),
        ],
    );
    let d = dashboard(&c).await;
    c.store.clock.advance(SignedDuration::from_secs(5));
    let (status, body) = alice_gets(&d, "/api/v1/rollouts/team-a/web/logs?tailLines=1000").await;
    assert_eq!(status, 200);
    let got = lines(&body);
    // Five pods could give 5,000 lines; each is cut to 8 KiB, and the view
    // to 4 MiB of text.
    assert!(got.len() > 400, "{} lines", got.len());
    assert!(
        got.iter()
            .all(|l| l["line"].as_str().is_some_and(|t| t.len() <= 8 * 1024)),
        "every line within 8 KiB"
    );
    let text: usize = got
        .iter()
        .map(|l| l["line"].as_str().map_or(0, str::len))
        .sum();
    assert!(text <= (4 << 20) + 8 * 1024, "{text} bytes of text");
}
