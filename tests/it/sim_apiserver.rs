//! The simulated API server through a real kube-rs client: paging, watches
//! with bookmarks, resume after a dropped watch, relist after 410, the
//! status subresource rules and optimistic concurrency.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod as FullPod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use rollouts_dashboard::model::Rollout;
use rollouts_dashboard::sim::apiserver::ApiServer;
use rollouts_dashboard::sim::clock::SimClock;
use rollouts_dashboard::sim::resources;
use rollouts_dashboard::sim::store::Store;
use serde_json::json;
use tokio_util::sync::CancellationToken;

struct Sim {
    server: ApiServer,
    url: String,
    client: kube::Client,
    _shutdown: tokio_util::sync::DropGuard,
}

async fn start() -> Sim {
    start_with(|s| s).await
}

async fn start_with(tune: impl FnOnce(ApiServer) -> ApiServer) -> Sim {
    let shutdown = CancellationToken::new();
    let store = Arc::new(Store::new(Arc::new(SimClock::default())));
    let server = tune(ApiServer::new(store, shutdown.clone()));
    let (addr, _task) = server.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    Sim {
        server,
        url: format!("http://{addr}"),
        client,
        _shutdown: shutdown.drop_guard(),
    }
}

fn rollout(ns: &str, name: &str) -> serde_json::Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"replicas": 1, "strategy": {"canary": {"steps": [{"setWeight": 20}]}}},
           "status": {"phase": "Healthy"}})
}

fn seed_rollout(sim: &Sim, ns: &str, name: &str) {
    let rt = resources::find("argoproj.io", "v1alpha1", "rollouts").unwrap();
    // Seeded as a loaded manifest (status kept), not as a client's create.
    sim.server
        .store
        .create(rt, ns, rollout(ns, name), true)
        .unwrap();
}

fn pod(name: &str, app: &str) -> FullPod {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": app}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}))
    .unwrap()
}

/// Waits (bounded) for the next item of a stream.
async fn next<S: futures_util::Stream + Unpin>(s: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("no event within 10 s")
        .expect("stream ended")
}

#[tokio::test]
async fn list_pages_through_everything_with_selectors() {
    let sim = start().await;
    let pods_a: Api<FullPod> = Api::namespaced(sim.client.clone(), "a");
    for i in 0..7 {
        pods_a
            .create(
                &PostParams::default(),
                &pod(&format!("p{i}"), if i % 2 == 0 { "even" } else { "odd" }),
            )
            .await
            .unwrap();
    }
    let pods_b: Api<FullPod> = Api::namespaced(sim.client.clone(), "b");
    pods_b
        .create(&PostParams::default(), &pod("q", "even"))
        .await
        .unwrap();

    let mut names = Vec::new();
    let mut params = ListParams::default().limit(3);
    let mut pages = 0;
    loop {
        let page = pods_a.list(&params).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 3);
        names.extend(page.items.iter().map(|p| p.metadata.name.clone().unwrap()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => params = params.continue_token(&c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);

    let all: Api<FullPod> = Api::all(sim.client.clone());
    let even = all
        .list(&ListParams::default().labels("app=even"))
        .await
        .unwrap();
    assert_eq!(even.items.len(), 5);
    let named = all
        .list(&ListParams::default().fields("metadata.namespace=b"))
        .await
        .unwrap();
    assert_eq!(named.items.len(), 1);
    assert!(
        even.metadata
            .resource_version
            .is_some_and(|rv| rv.parse::<u64>().unwrap() > 8)
    );
}

/// As on a real server, a list in pages is one snapshot at the first
/// page's revision: a client that watches from the list's version sees
/// every change made while it paged (a relist under churn loses nothing).
#[tokio::test]
async fn a_list_in_pages_is_one_snapshot_and_a_watch_from_it_sees_what_changed_meanwhile() {
    let sim = start().await;
    let pods: Api<FullPod> = Api::namespaced(sim.client.clone(), "a");
    for i in 0..7 {
        pods.create(&PostParams::default(), &pod(&format!("p{i}"), "app"))
            .await
            .unwrap();
    }
    let first = pods.list(&ListParams::default().limit(3)).await.unwrap();
    let version = first.metadata.resource_version.clone().unwrap();
    // Meanwhile: p0 (already listed) changes, p5 (not yet) goes, p7 comes.
    let relabel = json!({"metadata": {"labels": {"ready": "yes"}}});
    pods.patch("p0", &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .unwrap();
    pods.delete("p5", &Default::default()).await.unwrap();
    pods.create(&PostParams::default(), &pod("p7", "app"))
        .await
        .unwrap();

    let mut names: Vec<String> = first
        .items
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    let mut token = first.metadata.continue_.clone();
    while let Some(t) = token.filter(|t| !t.is_empty()) {
        let page = pods
            .list(&ListParams::default().limit(3).continue_token(&t))
            .await
            .unwrap();
        assert_eq!(
            page.metadata.resource_version.as_deref(),
            Some(version.as_str()),
            "every page at the first page's revision"
        );
        names.extend(page.items.iter().map(|p| p.metadata.name.clone().unwrap()));
        token = page.metadata.continue_;
    }
    assert_eq!(
        names,
        ["p0", "p1", "p2", "p3", "p4", "p5", "p6"],
        "as it was"
    );

    let mut stream = pods
        .watch(&WatchParams::default(), &version)
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    for _ in 0..3 {
        match next(&mut stream).await.unwrap() {
            WatchEvent::Modified(p) => seen.push(format!("changed {}", p.metadata.name.unwrap())),
            WatchEvent::Deleted(p) => seen.push(format!("deleted {}", p.metadata.name.unwrap())),
            WatchEvent::Added(p) => seen.push(format!("added {}", p.metadata.name.unwrap())),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["changed p0", "deleted p5", "added p7"]);

    // Compaction ends a list being paged: its next page is 410 Expired.
    let first = pods.list(&ListParams::default().limit(3)).await.unwrap();
    sim.server.store.expire_history();
    let token = first.metadata.continue_.unwrap();
    match pods
        .list(&ListParams::default().limit(3).continue_token(&token))
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410 Expired, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_sends_initial_events_and_bookmarks() {
    let sim = start().await;
    seed_rollout(&sim, "ns", "r1");
    let api: Api<Rollout> = Api::namespaced(sim.client.clone(), "ns");
    let mut stream = api
        .watch(&WatchParams::default().initial_events(), "0")
        .await
        .unwrap()
        .boxed();
    match next(&mut stream).await.unwrap() {
        WatchEvent::Added(r) => assert_eq!(r.metadata.name.as_deref(), Some("r1")),
        other => panic!("expected ADDED, got {other:?}"),
    }
    match next(&mut stream).await.unwrap() {
        WatchEvent::Bookmark(b) => {
            assert_eq!(
                b.metadata
                    .annotations
                    .get("k8s.io/initial-events-end")
                    .map(String::as_str),
                Some("true")
            );
            assert_eq!(b.types.kind, "Rollout");
        }
        other => panic!("expected the initial-events-end BOOKMARK, got {other:?}"),
    }
    api.patch(
        "r1",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": true}})),
    )
    .await
    .unwrap();
    match next(&mut stream).await.unwrap() {
        WatchEvent::Modified(r) => assert_eq!(r.spec.unwrap().paused, Some(true)),
        other => panic!("expected MODIFIED, got {other:?}"),
    }
}

#[tokio::test]
async fn watcher_resumes_after_the_server_drops_it_and_relists_after_410() {
    let sim = start().await;
    seed_rollout(&sim, "ns", "r1");
    let api: Api<Rollout> = Api::all(sim.client.clone());
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut init_done = 0;
    while init_done == 0 {
        if let watcher::Event::InitDone = next(&mut events).await.unwrap() {
            init_done += 1;
        }
    }

    // Dropped watch: the client resumes from its last version, no relist.
    sim.server.close_watches();
    seed_rollout(&sim, "ns", "r2");
    loop {
        match next(&mut events).await.unwrap() {
            watcher::Event::Apply(r) => {
                assert_eq!(r.metadata.name.as_deref(), Some("r2"));
                break;
            }
            watcher::Event::InitDone => panic!("a resumed watch must not relist"),
            _ => {}
        }
    }

    // History expired: the server answers the resumed watch with a 410
    // ERROR event and the client relists.
    sim.server.store.expire_history();
    sim.server.close_watches();
    let mut relisted = Vec::new();
    loop {
        match next(&mut events).await {
            Ok(watcher::Event::InitApply(r)) => relisted.push(r.metadata.name.unwrap()),
            Ok(watcher::Event::InitDone) => break,
            Ok(_) => {}
            // The 410 may surface as an error item before the relist.
            Err(e) => assert!(
                e.to_string().contains("410") || e.to_string().contains("too old"),
                "{e}"
            ),
        }
    }
    relisted.sort();
    assert_eq!(relisted, ["r1", "r2"]);
}

#[tokio::test]
async fn status_subresource_rules() {
    let sim = start().await;
    seed_rollout(&sim, "ns", "r");
    let api: Api<Rollout> = Api::namespaced(sim.client.clone(), "ns");
    let before = api.get("r").await.unwrap();
    assert_eq!(before.metadata.generation, Some(1));

    // Main resource: status is ignored; a spec change bumps generation.
    let r = api
        .patch(
            "r",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": true}, "status": {"phase": "Paused"}})),
        )
        .await
        .unwrap();
    assert_eq!(r.spec.as_ref().unwrap().paused, Some(true));
    assert_eq!(r.status.as_ref().unwrap().phase.as_deref(), Some("Healthy"));
    assert_eq!(r.metadata.generation, Some(2));

    // Status subresource: spec is ignored; generation stays.
    let r = api
        .patch_status(
            "r",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": false}, "status": {"abort": true}})),
        )
        .await
        .unwrap();
    assert_eq!(r.spec.as_ref().unwrap().paused, Some(true));
    assert_eq!(r.status.as_ref().unwrap().abort, Some(true));
    assert_eq!(r.metadata.generation, Some(2));

    // JSON patch and a stale resourceVersion in a merge patch.
    let r = api
        .patch(
            "r",
            &PatchParams::default(),
            &Patch::<()>::Json(
                serde_json::from_value(
                    json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]),
                )
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(r.spec.unwrap().replicas, Some(3));
    let stale = api
        .patch("r", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"resourceVersion": before.metadata.resource_version}, "spec": {"replicas": 4}})))
        .await
        .unwrap_err();
    assert!(
        matches!(stale, kube::Error::Api(ref s) if s.code == 409),
        "{stale:?}"
    );

    let requests = sim.server.requests();
    let status_patch = requests
        .iter()
        .find(|r| r.path.contains("/rollouts/r/status"))
        .unwrap();
    assert_eq!(status_patch.method, "PATCH");
    assert_eq!(status_patch.content_type, "application/merge-patch+json");
    assert!(status_patch.body.contains(r#""abort":true"#));
}

#[tokio::test]
async fn stale_put_is_a_conflict_and_missing_objects_are_404() {
    let sim = start().await;
    let pods: Api<FullPod> = Api::namespaced(sim.client.clone(), "ns");
    let created = pods
        .create(&PostParams::default(), &pod("p", "x"))
        .await
        .unwrap();
    let mut first = created.clone();
    first.metadata.labels = Some([("v".to_string(), "1".to_string())].into());
    pods.replace("p", &PostParams::default(), &first)
        .await
        .unwrap();
    let mut stale = created;
    stale.metadata.labels = Some([("v".to_string(), "2".to_string())].into());
    let err = pods
        .replace("p", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{err:?}"
    );
    let err = pods.get("nope").await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404 && s.reason == "NotFound"),
        "{err:?}"
    );
    let dup = pods
        .create(&PostParams::default(), &pod("p", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(dup, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{dup:?}"
    );
}

#[tokio::test]
async fn injected_faults_answer_like_a_real_server() {
    let sim = start().await;
    seed_rollout(&sim, "ns", "r");
    let api: Api<Rollout> = Api::namespaced(sim.client.clone(), "ns");

    sim.server.faults.set_forbidden("rollouts", true);
    let err = api.list(&ListParams::default()).await.unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
            assert!(s.message.contains("cannot list resource \"rollouts\" in API group \"argoproj.io\" in the namespace \"ns\""), "{}", s.message);
        }
        other => panic!("expected 403, got {other:?}"),
    }
    sim.server.faults.set_forbidden("rollouts", false);

    // kube-rs retries 503s by itself (server_retry policy): a short outage
    // is invisible to its callers...
    sim.server.faults.fail_next(2, 503);
    assert!(
        api.get("r").await.is_ok(),
        "the client retried through 2 x 503"
    );
    // ...and a client without retries sees each error as the server sent it.
    let mut config = kube::Config::new(sim.url.parse().unwrap());
    config.default_retry = false;
    let plain: Api<Rollout> = Api::namespaced(kube::Client::try_from(config).unwrap(), "ns");
    sim.server.faults.fail_next(1, 503);
    sim.server.faults.fail_next(1, 429);
    sim.server.faults.fail_next(1, 500);
    for (code, reason) in [
        (503, "ServiceUnavailable"),
        (429, "TooManyRequests"),
        (500, "InternalError"),
    ] {
        let err = plain.get("r").await.unwrap_err();
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == code && s.reason == reason),
            "{err:?}"
        );
    }
    assert!(
        plain.get("r").await.is_ok(),
        "the faults end after N requests"
    );

    // A slow server trips the client's own timeout.
    sim.server.faults.set_delay(Duration::from_secs(3));
    let mut config = kube::Config::new(sim.url.parse().unwrap());
    config.read_timeout = Some(Duration::from_millis(200));
    let impatient: Api<Rollout> = Api::namespaced(kube::Client::try_from(config).unwrap(), "ns");
    assert!(
        impatient.get("r").await.is_err(),
        "a delayed response times out"
    );
    sim.server.faults.set_delay(Duration::ZERO);
}

#[tokio::test]
async fn idle_watches_get_periodic_bookmarks() {
    let sim = start_with(|s| s.with_bookmark_interval(Duration::from_millis(50))).await;
    seed_rollout(&sim, "ns", "r1");
    let api: Api<Rollout> = Api::namespaced(sim.client.clone(), "ns");
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match next(&mut stream).await.unwrap() {
        WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version, rv),
        other => panic!("expected a BOOKMARK on an idle watch, got {other:?}"),
    }
}

#[tokio::test]
async fn a_restarted_server_keeps_its_data_and_watchers_carry_on() {
    let sim = start().await;
    seed_rollout(&sim, "ns", "r1");
    let api: Api<Rollout> = Api::all(sim.client.clone());
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    loop {
        if let Ok(watcher::Event::InitDone) = next(&mut events).await {
            break;
        }
    }
    sim.server.restart();
    seed_rollout(&sim, "ns", "r2");
    loop {
        match next(&mut events).await {
            Ok(watcher::Event::Apply(r) | watcher::Event::InitApply(r))
                if r.metadata.name.as_deref() == Some("r2") =>
            {
                break;
            }
            _ => {}
        }
    }
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        2
    );
}

#[tokio::test]
async fn faults_can_be_set_over_http() {
    let sim = start().await;
    seed_rollout(&sim, "ns", "r");
    let post = |path: &str, body: serde_json::Value| {
        axum::http::Request::post(path)
            .header("content-type", "application/json")
            .body(body.to_string().into_bytes())
            .unwrap()
    };
    sim.client
        .request_text(post("/sim/v1/faults", json!({"forbid": ["rollouts"]})))
        .await
        .unwrap();
    let api: Api<Rollout> = Api::namespaced(sim.client.clone(), "ns");
    let err = api.get("r").await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 403),
        "{err:?}"
    );
    sim.client
        .request_text(post("/sim/v1/faults", json!({"clear": true})))
        .await
        .unwrap();
    api.patch(
        "r",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": true}})),
    )
    .await
    .unwrap();
    let recorded = sim
        .client
        .request_text(
            axum::http::Request::get("/sim/v1/requests")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let recorded: serde_json::Value = serde_json::from_str(&recorded).unwrap();
    let last = recorded["requests"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["method"], "PATCH");
    assert_eq!(last["contentType"], "application/merge-patch+json");
    assert_eq!(last["body"], r#"{"spec":{"paused":true}}"#);
    // A bad fault request is refused, not half-applied.
    let bad = sim
        .client
        .request_text(post(
            "/sim/v1/faults",
            json!({"failNext": {"count": 1, "code": 418}}),
        ))
        .await;
    assert!(bad.is_err());
    assert!(api.get("r").await.is_ok());
}

#[tokio::test]
async fn scale_generates_rollouts_with_two_replica_sets_and_five_pods_that_keep_changing() {
    use rollouts_dashboard::sim::scale;
    let sim = start().await;
    scale::generate(&sim.server.store, 100);
    let count = |plural: &'static str| {
        let client = sim.client.clone();
        async move {
            let r = resources::RESOURCES
                .iter()
                .find(|r| r.plural == plural)
                .unwrap();
            let gvk = kube::api::GroupVersionKind::gvk(r.group, r.versions[0], r.kind);
            let ar = kube::discovery::ApiResource::from_gvk_with_plural(&gvk, plural);
            let api: Api<kube::api::DynamicObject> = Api::all_with(client, &ar);
            api.list(&ListParams::default()).await.unwrap().items.len()
        }
    };
    assert_eq!(count("rollouts").await, 100);
    assert_eq!(count("replicasets").await, 200);
    assert_eq!(count("pods").await, 500);
    assert_eq!(count("namespaces").await, 10);

    let rollouts: Api<Rollout> = Api::all(sim.client.clone());
    let pods: Api<FullPod> = Api::all(sim.client.clone());
    let rv = rollouts
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut ro_events = rollouts
        .watch(&WatchParams::default().disable_bookmarks(), &rv)
        .await
        .unwrap()
        .boxed();
    let mut pod_events = pods
        .watch(&WatchParams::default().disable_bookmarks(), &rv)
        .await
        .unwrap()
        .boxed();
    let stop = CancellationToken::new();
    tokio::spawn(scale::churn(
        sim.server.store.clone(),
        100,
        Duration::from_millis(1),
        stop.clone(),
    ));
    assert!(matches!(
        next(&mut ro_events).await.unwrap(),
        WatchEvent::Modified(_)
    ));
    assert!(matches!(
        next(&mut pod_events).await.unwrap(),
        WatchEvent::Modified(_)
    ));
    stop.cancel();
}

#[tokio::test]
async fn odd_resource_versions_are_answered_not_crashed_on() {
    let sim = start().await;
    seed_rollout(&sim, "ns", "r");
    let api: Api<Rollout> = Api::namespaced(sim.client.clone(), "ns");
    // A version from the future: no backlog, the watch stays open.
    let mut stream = api
        .watch(&WatchParams::default().timeout(1), &u64::MAX.to_string())
        .await
        .unwrap()
        .boxed();
    assert!(
        tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .is_ok(),
        "the watch ends at its timeout"
    );
    // Not a number: 400 with a Status.
    let err = api
        .watch(&WatchParams::default(), "abc")
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 400),
        "{err:?}"
    );
    assert!(api.get("r").await.is_ok(), "the server is still up");
}
