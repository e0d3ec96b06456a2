//! Acting on several rollouts at once, end to end on the two teams'
//! cluster (tokens, RBAC, impersonation): each rollout of a selection is
//! sent as its own action would be (one step per promote, act on what you
//! saw, RBAC as the person, an audit Event each), and the whole request is
//! bounded (the selection's size, the body, read-only, other sites).

use std::collections::HashMap;

use rollouts_dashboard::cli::{AuthMode, WebArgs};
use rollouts_dashboard::cluster::client::Scope;
use rollouts_dashboard::sim::scenario::set_image;
use rollouts_dashboard::sim::store::Subresource;
use serde_json::{Value, json};

use crate::harness::rt;
use crate::teams::{self, ALICE, BOB, Cluster, call, cidr, dashboard_with, documents, step_of};

/// The two teams' cluster plus team-a/web-2, all three updated and waiting
/// at their first indefinite pause (step index 1 of 4).
async fn three_paused() -> Cluster {
    let mut web2 = documents(&teams::fixtures().join("rollouts.yaml"))
        .into_iter()
        .find(|d| d["metadata"]["name"] == "web")
        .expect("team-a/web in the fixture");
    web2["metadata"]["name"] = json!("web-2");
    web2["spec"]["selector"]["matchLabels"]["app"] = json!("web-2");
    web2["spec"]["template"]["metadata"]["labels"]["app"] = json!("web-2");
    let mut rbac = documents(&teams::fixtures().join("dashboard-rbac.yaml"));
    // With `--auth none` everyone acts as the dashboard: here it may.
    rbac.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "dashboard-operates"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "rollouts-operator"},
        "subjects": [{"kind": "User", "name": teams::DASHBOARD_SA, "apiGroup": "rbac.authorization.k8s.io"}]
    }));
    let c = teams::cluster(teams::DASHBOARD_SA, rbac, vec![web2]).await;
    teams::react(&c.store, &c.controller);
    c.store
        .patch(rt("rollouts"), "team-a", "web-2", Subresource::Main, |o| {
            set_image(o, "web", "argoproj/rollouts-demo:yellow");
            Ok(())
        })
        .expect("web-2's update starts");
    teams::react(&c.store, &c.controller);
    for (ns, name) in ALL {
        assert_eq!(step_of(&c.store, ns, name), 1, "{ns}/{name} at its pause");
    }
    c
}

const ALL: [(&str, &str); 3] = [("team-a", "web"), ("team-a", "web-2"), ("team-b", "api")];

/// The dashboard on `c` with `auth` (identity headers believed from
/// loopback) and `tune`'s flags.
async fn dashboard(c: &Cluster, auth: AuthMode, tune: impl FnOnce(&mut WebArgs)) -> String {
    let mut web = WebArgs {
        auth,
        trusted_proxies: vec![cidr("127.0.0.1/32")],
        ..WebArgs::defaults()
    };
    tune(&mut web);
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    dashboard_with(c, Scope::AllNamespaces, loopback, web).await
}

/// `{"namespace","name","expectStepIndex","expectPodTemplateHash"}` as the
/// rollout is now in the cluster, with its step index replaced by `step`.
fn seen(c: &Cluster, ns: &str, name: &str, step: Option<i64>) -> Value {
    let ro = c.store.get(rt("rollouts"), ns, name).expect("the rollout");
    json!({"namespace": ns, "name": name,
           "expectStepIndex": step.unwrap_or_else(|| step_of(&c.store, ns, name)),
           "expectPodTemplateHash": ro["status"]["currentPodHash"]})
}

/// (namespace/name, code) of each result, in the order given.
fn codes(body: &str) -> Vec<(String, u64)> {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("results: {body}"))
        .iter()
        .map(|r| {
            (
                format!(
                    "{}/{}",
                    r["namespace"].as_str().unwrap_or(""),
                    r["name"].as_str().unwrap_or("")
                ),
                r["code"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Who patched each rollout (main or status), by `namespace/name`.
fn patched(c: &Cluster) -> HashMap<String, usize> {
    let mut by = HashMap::new();
    for r in c.sim.requests().iter().filter(|r| r.method == "PATCH") {
        let path = r.path.split('?').next().unwrap_or("");
        let parts: Vec<&str> = path.split('/').collect();
        if let Some(i) = parts.iter().position(|p| *p == "rollouts") {
            let (ns, name) = (parts[i - 1], parts.get(i + 1).copied().unwrap_or(""));
            *by.entry(format!("{ns}/{name}")).or_default() += 1;
        }
    }
    by
}

/// The dashboard's audit Events with `reason`, by the rollout they name.
fn events(c: &Cluster, reason: &str) -> Vec<String> {
    let page = c
        .store
        .list(rt("events"), &Default::default(), None, None)
        .expect("events");
    let mut named: Vec<String> = page
        .items
        .iter()
        .filter(|e| e["reason"] == reason)
        .map(|e| {
            format!(
                "{}/{}",
                e["involvedObject"]["namespace"].as_str().unwrap_or(""),
                e["involvedObject"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    named.sort();
    named
}

fn selection(items: Vec<Value>) -> String {
    json!({ "rollouts": items }).to_string()
}

#[tokio::test]
async fn three_paused_rollouts_are_promoted_in_one_call_each_by_one_step() {
    let c = three_paused().await;
    let d = dashboard(&c, AuthMode::None, |_| {}).await;
    let items = ALL.iter().map(|(ns, n)| seen(&c, ns, n, None)).collect();
    let (status, body) = call(&d, "POST", "/api/v1/bulk/promote", &[], &selection(items)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        codes(&body),
        vec![
            ("team-a/web".to_string(), 200),
            ("team-a/web-2".to_string(), 200),
            ("team-b/api".to_string(), 200)
        ],
        "every result in the order given"
    );
    teams::react(&c.store, &c.controller);
    for (ns, name) in ALL {
        // Past the pause and setWeight 50 to the next pause, not beyond it.
        assert_eq!(step_of(&c.store, ns, name), 3, "{ns}/{name} moved one step");
    }
    assert_eq!(
        events(&c, "PromotedFromDashboard"),
        vec!["team-a/web", "team-a/web-2", "team-b/api"],
        "an audit Event per rollout"
    );
}

#[tokio::test]
async fn a_rollout_that_moved_since_it_was_seen_is_refused_and_left_alone_while_the_others_move() {
    let c = three_paused().await;
    let d = dashboard(&c, AuthMode::None, |_| {}).await;
    let items = vec![
        seen(&c, "team-a", "web", None),
        // Seen one step earlier than it is.
        seen(&c, "team-a", "web-2", Some(0)),
        seen(&c, "team-b", "api", None),
    ];
    let (status, body) = call(&d, "POST", "/api/v1/bulk/promote", &[], &selection(items)).await;
    assert_eq!(status, 200, "{body}");
    let got = codes(&body);
    assert_eq!(
        got.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
        vec![200, 409, 200],
        "{body}"
    );
    assert!(body.contains("moved on since you looked"), "{body}");
    teams::react(&c.store, &c.controller);
    assert_eq!(step_of(&c.store, "team-a", "web"), 3);
    assert_eq!(step_of(&c.store, "team-a", "web-2"), 1, "unmoved");
    assert_eq!(step_of(&c.store, "team-b", "api"), 3);
    assert_eq!(patched(&c).get("team-a/web-2"), None, "nothing sent to it");
}

#[tokio::test]
async fn a_person_with_rights_in_one_namespace_moves_only_their_own() {
    let c = three_paused().await;
    let d = dashboard(&c, AuthMode::Proxy, |_| {}).await;
    let items = ALL.iter().map(|(ns, n)| seen(&c, ns, n, None)).collect();
    let (status, body) = call(&d, "POST", "/api/v1/bulk/promote", ALICE, &selection(items)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        codes(&body).iter().map(|(_, c)| *c).collect::<Vec<_>>(),
        vec![200, 200, 403],
        "{body}"
    );
    teams::react(&c.store, &c.controller);
    assert_eq!(step_of(&c.store, "team-b", "api"), 1, "not theirs: unmoved");
    assert_eq!(patched(&c).get("team-b/api"), None, "nothing sent there");
    // Sent as alice, not as the dashboard.
    let as_alice = c
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.contains("/namespaces/team-a/rollouts/"))
        .all(|r| r.user.as_deref() == Some("alice"));
    assert!(as_alice, "each patch impersonates the person");

    // A viewer of both namespaces may act in neither; the preview says so
    // before anything is sent.
    let (status, page) = call(&d, "GET", "/bulk?action=promote&scope=all", BOB, "").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Promote applies to none of these 3"),
        "{page}"
    );
    assert!(
        page.contains("Not sent: your Kubernetes RBAC does not let you promote here"),
        "{page}"
    );
    assert!(
        !page.contains("name=\"item\""),
        "no rollout to send: {page}"
    );
}

#[tokio::test]
async fn a_selection_is_aborted_and_each_answer_comes_as_it_is_known() {
    let c = three_paused().await;
    let d = dashboard(&c, AuthMode::None, |_| {}).await;
    let items = vec![
        seen(&c, "team-a", "web", None),
        seen(&c, "team-b", "api", None),
    ];
    let (status, head, body) = teams::exchange(
        &d,
        "POST",
        "/api/v1/bulk/abort",
        &[
            ("Accept", "application/x-ndjson"),
            ("Accept-Encoding", "gzip"),
        ],
        &selection(items),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/x-ndjson"),
        "{head}"
    );
    assert!(
        !head.to_ascii_lowercase().contains("gzip"),
        "lines are not held back by a compressor: {head}"
    );
    let mut lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    lines.sort_by_key(|l| l["index"].as_u64());
    assert_eq!(lines.len(), 2, "{body}");
    assert!(lines.iter().all(|l| l["code"] == 200), "{body}");
    for (ns, name) in [("team-a", "web"), ("team-b", "api")] {
        let ro = c.store.get(rt("rollouts"), ns, name).expect("the rollout");
        assert_eq!(ro["status"]["abort"], true, "{ns}/{name} aborted");
    }
    assert_eq!(
        ro_abort(&c, "team-a", "web-2"),
        Value::Null,
        "the one not selected is not touched"
    );
}

fn ro_abort(c: &Cluster, ns: &str, name: &str) -> Value {
    c.store.get(rt("rollouts"), ns, name).expect("the rollout")["status"]["abort"].clone()
}

#[tokio::test]
async fn without_javascript_the_preview_says_what_each_would_do_and_its_form_gives_a_results_page()
{
    let c = three_paused().await;
    let d = dashboard(&c, AuthMode::Proxy, |_| {}).await;
    // Ticked: two of alice's and one she may not see (the same words as
    // one that does not exist).
    let (status, page) = call(
        &d,
        "GET",
        "/bulk?action=promote&r=team-a/web&r=team-a/web-2&r=team-b/api&status=Paused",
        ALICE,
        "",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Promote 2 of 3 selected?"), "{page}");
    assert!(
        page.contains("leaves step 2 of 4 (Pause until promoted) for step 3 of 4: Set weight 50%"),
        "{page}"
    );
    assert!(
        page.contains("Not sent: no such rollout that you may see"),
        "{page}"
    );
    assert!(page.contains("Retry: 0 of 3"), "{page}");
    let items: Vec<String> = page
        .split("name=\"item\" value=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_string))
        .collect();
    assert_eq!(items.len(), 2, "{page}");
    assert!(
        items
            .iter()
            .all(|i| i.starts_with("team-a/") && i.contains("/1/")),
        "{items:?}"
    );

    let mut form: Vec<String> = items
        .iter()
        .map(|i| format!("item={}", i.replace('/', "%2F")))
        .collect();
    form.push("filter=status%3DPaused".to_string());
    let (status, page) = call(
        &d,
        "POST",
        "/bulk/promote",
        &[
            ALICE,
            &[("Content-Type", "application/x-www-form-urlencoded")],
        ]
        .concat(),
        &form.join("&"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Promote: 2 of 2 done"), "{page}");
    assert!(
        page.contains("href=\"/?status=Paused\""),
        "the way back keeps the filter: {page}"
    );
    teams::react(&c.store, &c.controller);
    assert_eq!(step_of(&c.store, "team-a", "web"), 3);
    assert_eq!(step_of(&c.store, "team-a", "web-2"), 3);
    assert_eq!(step_of(&c.store, "team-b", "api"), 1);
}

#[tokio::test]
async fn a_selection_is_bounded_and_guarded_like_a_single_action() {
    let c = three_paused().await;
    let d = dashboard(&c, AuthMode::None, |_| {}).await;
    let post = |body: String, headers: &'static [(&'static str, &'static str)]| {
        let d = d.clone();
        async move { call(&d, "POST", "/api/v1/bulk/promote", headers, &body).await }
    };
    // One past the stated maximum: refused whole, nothing sent.
    let many: Vec<Value> = (0..201)
        .map(|i| json!({"namespace": "team-a", "name": format!("r-{i}")}))
        .collect();
    let (status, body) = post(selection(many), &[]).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("at most 200 rollouts"), "{body}");
    // A body past the bound.
    let huge = selection(vec![
        json!({"namespace": "team-a", "name": "x".repeat(200 * 1024)}),
    ]);
    let (status, _) = post(huge, &[]).await;
    assert_eq!(status, 413);
    let (status, body) = post(selection(Vec::new()), &[]).await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = post("{\"rollouts\": 3}".to_string(), &[]).await;
    assert_eq!(status, 400);
    let (status, _) = call(
        &d,
        "POST",
        "/api/v1/bulk/restart",
        &[],
        &selection(vec![seen(&c, "team-a", "web", None)]),
    )
    .await;
    assert_eq!(status, 404, "only the actions a selection can take");
    // Another site cannot make a browser send one.
    let (status, _) = post(
        selection(vec![seen(&c, "team-a", "web", None)]),
        &[
            ("Origin", "https://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    // Twice in one selection is one promote.
    let twice = vec![
        seen(&c, "team-a", "web", None),
        json!({"namespace": "team-a", "name": "web"}),
    ];
    let (status, body) = post(selection(twice), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        codes(&body).iter().map(|(_, c)| *c).collect::<Vec<_>>(),
        vec![200, 422],
        "{body}"
    );
    teams::react(&c.store, &c.controller);
    assert_eq!(step_of(&c.store, "team-a", "web"), 3, "one step");
    assert_eq!(
        patched(&c).keys().cloned().collect::<Vec<_>>(),
        vec!["team-a/web".to_string()]
    );

    let ro = dashboard(&c, AuthMode::None, |w| w.read_only = true).await;
    let (status, body) = call(
        &ro,
        "POST",
        "/api/v1/bulk/promote",
        &[],
        &selection(vec![seen(&c, "team-b", "api", None)]),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (_, page) = call(&ro, "GET", "/", &[], "").await;
    assert!(
        !page.contains("id=\"bulk\""),
        "no selection on a read-only dashboard"
    );
}

#[tokio::test]
async fn a_person_who_leaves_the_page_does_not_cut_the_run_short() {
    let c = three_paused().await;
    let d = dashboard(&c, AuthMode::None, |_| {}).await;
    // Each call slow enough that the run outlasts the connection.
    c.sim
        .faults
        .set_delay(std::time::Duration::from_millis(300));
    let items = selection(ALL.iter().map(|(ns, n)| seen(&c, ns, n, None)).collect());
    let addr = d.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(&addr).expect("the dashboard");
        write!(
            s,
            "POST /api/v1/bulk/promote HTTP/1.1\r\nHost: {addr}\r\nAccept: application/x-ndjson\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{items}",
            items.len()
        )
        .expect("sent");
        // Gone before any answer.
    })
    .await
    .expect("the request was sent");
    let store = c.store.clone();
    let sim = c.sim.clone();
    teams::until("all three promoted after the person left", move || {
        let sent: usize = sim
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH" && r.path.contains("/status"))
            .count();
        sent == 3
            && ALL.iter().all(|(ns, n)| {
                store
                    .get(rt("rollouts"), ns, n)
                    .is_ok_and(|r| r["status"]["pauseConditions"].is_null())
            })
    })
    .await;
    c.sim.faults.set_delay(std::time::Duration::ZERO);
    let store = c.store.clone();
    teams::until("an audit Event each", move || {
        store
            .list(rt("events"), &Default::default(), None, None)
            .is_ok_and(|p| {
                p.items
                    .iter()
                    .filter(|e| e["reason"] == "PromotedFromDashboard")
                    .count()
                    == 3
            })
    })
    .await;
}
