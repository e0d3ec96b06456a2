//! `serve` end to end against the simulated cluster: the JSON API answers
//! what the objects say, and the streams follow every change a person would
//! notice (status patches, new and deleted rollouts, a pod turning Ready).

use crate::common;
use crate::harness;

use std::time::Duration;

use axum::http::StatusCode;
use harness::{Dashboard, empty_store, patch_seed, rt};
use rollouts_dashboard::cluster::client::Scope;
use rollouts_dashboard::sim::manifests::load_path;
use rollouts_dashboard::sim::scenario::load_seed;
use rollouts_dashboard::sim::store::Subresource;
use serde_json::{Value, json};

/// A store holding Argo's own test rollouts, every one of them read.
fn argo_fixtures() -> std::sync::Arc<rollouts_dashboard::sim::store::Store> {
    let store = empty_store();
    let report =
        load_path(&store, &common::fixture("argo-info/canary")).expect("the fixtures load");
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    store
}

/// Argo's fixtures in the sim; every rollout's `/info` is exactly what
/// `info/` computes from the objects, and the list holds the same rollouts
/// without analysis runs and experiments.
#[tokio::test]
async fn info_matches_the_objects_in_the_cluster() {
    let store = argo_fixtures();
    let d = Dashboard::start(store, Scope::AllNamespaces).await;
    d.until("ready", |s| s.health.ready()).await;
    let (status, _, _) = d.get("/readyz").await;
    assert_eq!(status, StatusCode::OK);

    let expected = d.sim_infos();
    assert!(expected.len() >= 5, "the fixtures hold several rollouts");
    d.until_view_matches_sim().await;
    for (key, info) in &expected {
        let path = format!("/api/v1/rollouts/{}/{}/info", key.namespace, key.name);
        let (status, _, body) = d.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body, serde_json::to_value(info).expect("JSON"), "{path}");
    }
    let canary_with_pods = expected
        .iter()
        .find(|(_, i)| i.replica_sets.iter().any(|r| !r.pods.is_empty()));
    assert!(canary_with_pods.is_some(), "pods reach their rollout");

    let ns = &expected[0].0.namespace;
    let (status, _, list) = d.get(&format!("/api/v1/rollouts/{ns}/info")).await;
    assert_eq!(status, StatusCode::OK);
    let want: Vec<String> = expected
        .iter()
        .filter(|(k, _)| &k.namespace == ns)
        .map(|(k, _)| k.to_string())
        .collect();
    assert_eq!(common::rollout_names(&list), want);
    for r in list["rollouts"].as_array().into_iter().flatten() {
        assert!(r.get("analysisRuns").is_none() && r.get("experiments").is_none());
    }
}

/// A client that accepts gzip (every browser) gets the list as one gzip
/// member, through the whole router and its compression layer, that
/// unzips to the very bytes a plain client gets; after a change the new
/// rollout's JSON is in it.
#[tokio::test]
async fn the_list_goes_gzipped_to_who_accepts_it_and_reads_the_same() {
    use std::io::Read;
    use tower::ServiceExt;

    let store = argo_fixtures();
    load_seed(&store);
    let d = Dashboard::start(store, Scope::AllNamespaces).await;
    d.until_view_matches_sim().await;
    let fetch = |encoding: Option<&'static str>| {
        let app = d.app.clone();
        async move {
            let mut req = axum::http::Request::get("/api/v1/rollouts/_all/info");
            if let Some(e) = encoding {
                req = req.header("accept-encoding", e);
            }
            let resp = app
                .oneshot(req.body(axum::body::Body::empty()).expect("a request"))
                .await
                .expect("the router answers");
            let headers = resp.headers().clone();
            let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
                .await
                .expect("a body");
            (headers, body.to_vec())
        }
    };
    let unzip = |bytes: &[u8]| {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("one valid gzip member, its CRC and length checked");
        out
    };
    for round in ["before", "after a change"] {
        let (plain_headers, plain) = fetch(None).await;
        assert!(plain_headers.get("content-encoding").is_none());
        let (headers, zipped) = fetch(Some("gzip, deflate, br")).await;
        assert_eq!(headers["content-encoding"], "gzip", "{round}");
        assert_eq!(headers["content-type"], "application/json");
        assert!(
            headers
                .get_all("vary")
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| v.contains("accept-encoding"))),
            "{headers:?}"
        );
        assert_eq!(unzip(&zipped), plain, "{round}");
        assert!(zipped.len() < plain.len(), "{round}");
        let list: Value = serde_json::from_slice(&plain).expect("JSON");
        assert!(list["rollouts"].as_array().is_some_and(|r| r.len() >= 5));
        if round == "before" {
            patch_seed(&d.store, |o| {
                o["metadata"]["labels"]["changed"] = json!("since-the-last-list");
                Ok(())
            });
            d.until("the change in the view", |s| {
                s.rollouts.values().any(|e| {
                    e.json
                        .list()
                        .is_ok_and(|j| j.contains("since-the-last-list"))
                })
            })
            .await;
        } else {
            assert!(String::from_utf8_lossy(&unzip(&zipped)).contains("since-the-last-list"));
        }
    }
}

#[tokio::test]
async fn errors_have_the_right_status_and_an_empty_namespace_is_an_empty_list() {
    let store = empty_store();
    load_seed(&store);
    let d = Dashboard::start(store, Scope::AllNamespaces).await;

    let (status, _, body) = d.get("/api/v1/rollouts/nobody-here/info").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"rollouts": []}));

    let (status, _, body) = d.get("/api/v1/rollouts/manifest-gen/nope/info").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], 5);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("\"nope\" not found")
    );

    let (status, _, body) = d.get("/api/v1/namespace").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["namespace"], "default");
    assert_eq!(
        body["availableNamespaces"],
        json!([
            "alb-demo",
            "gateway-demo",
            "istio-demo",
            "manifest-gen",
            "nginx-demo",
            "shop"
        ])
    );

    let (status, _, body) = d.get("/api/v1/version").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["rolloutsVersion"]
            .as_str()
            .unwrap_or_default()
            .contains("rollouts-dashboard")
    );

    let (_, _, all) = d.get("/api/v1/rollouts/_all/info").await;
    assert_eq!(
        common::rollout_names(&all),
        [
            "alb-demo/payments",
            "gateway-demo/catalog",
            "istio-demo/reviews",
            "manifest-gen/manifest-gen",
            "nginx-demo/storefront",
            "shop/checkout",
            "shop/recommendations",
            "shop/search"
        ]
    );
}

#[tokio::test]
async fn a_namespace_outside_the_scope_is_refused_with_a_reason() {
    let store = empty_store();
    load_seed(&store);
    let d = Dashboard::start(store, Scope::Namespaces(vec!["shop".to_string()])).await;
    let (status, _, list) = d.get("/api/v1/rollouts/shop/info").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(common::rollout_names(&list).len(), 3);
    let (status, _, body) = d.get("/api/v1/rollouts/manifest-gen/info").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not watched")
    );
}

/// Readiness waits for the first lists: with every API answer delayed, the
/// dashboard is not ready at once, and is once they are in.
#[tokio::test]
async fn readyz_turns_200_once_the_first_lists_are_in() {
    let store = empty_store();
    load_seed(&store);
    let d = Dashboard::start_with(store, Scope::AllNamespaces, |sim| {
        sim.faults.set_delay(Duration::from_millis(700));
    })
    .await;
    let (status, _, body) = d.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(d.request("/healthz", None).await.status(), StatusCode::OK);
    d.until("ready", |s| s.health.ready()).await;
    let (status, _, _) = d.get("/readyz").await;
    assert_eq!(status, StatusCode::OK);
}

/// A status patch made directly on the cluster reaches both streams; the
/// single stream then stays quiet while nothing changes (Argo re-sends the
/// whole rollout every second).
#[tokio::test]
async fn a_status_patch_shows_in_the_single_and_list_streams() {
    let store = empty_store();
    load_seed(&store);
    let d = Dashboard::start(store.clone(), Scope::AllNamespaces).await;
    // Every rollout built from all its objects first: a pod or ReplicaSet
    // listed after the stream opened would send an Updated of its own.
    d.until_view_matches_sim().await;
    let mut one = d
        .watch(
            "/api/v1/rollouts/manifest-gen/manifest-gen/info/watch",
            false,
        )
        .await;
    let mut list = d
        .watch("/api/v1/rollouts/manifest-gen/info/watch", true)
        .await;
    let first = one.next().await;
    assert_eq!(first["result"]["objectMeta"]["name"], "manifest-gen");
    let added = list.next().await;
    assert_eq!(added["result"]["type"], "Added");

    store
        .patch(
            rt("rollouts"),
            "manifest-gen",
            "manifest-gen",
            Subresource::Status,
            |o| {
                o["status"]["message"] = json!("waiting for the load test");
                o["status"]["pauseConditions"] =
                    json!([{"reason": "CanaryPauseStep", "startTime": "2024-01-01T00:00:00Z"}]);
                o["status"]["controllerPause"] = json!(true);
                Ok(())
            },
        )
        .expect("the patch applies");

    let updated = one
        .until("status Paused", |m| m["result"]["status"] == "Paused")
        .await;
    assert!(updated["result"]["pauses"].is_array());
    let event = list
        .until("an Updated event", |m| m["result"]["type"] == "Updated")
        .await;
    assert_eq!(event["result"]["rolloutInfo"]["status"], "Paused");
    assert_eq!(
        one.next_within(Duration::from_millis(2500)).await,
        None,
        "nothing changed, so nothing is sent"
    );
}

#[tokio::test]
async fn creating_and_deleting_a_rollout_gives_added_and_deleted() {
    let store = empty_store();
    load_seed(&store);
    let d = Dashboard::start(store.clone(), Scope::AllNamespaces).await;
    d.until_view_matches_sim().await;
    let mut list = d.watch("/api/v1/rollouts/_all/info/watch", false).await;
    for _ in 0..d.sim_infos().len() {
        assert_eq!(list.next().await["result"]["type"], "Added");
    }
    let rollout = common::canary_rollout("shop", "newcomer", "newcomer:v1");
    store
        .create(rt("rollouts"), "shop", rollout, false)
        .expect("created");
    let added = list.next().await;
    assert_eq!(added["result"]["type"], "Added");
    assert_eq!(
        added["result"]["rolloutInfo"]["objectMeta"]["name"],
        "newcomer"
    );
    assert_eq!(
        added["result"]["rolloutInfo"]["containers"],
        json!([{"name": "app", "image": "newcomer:v1"}])
    );

    store
        .delete(rt("rollouts"), "shop", "newcomer")
        .expect("deleted");
    let deleted = list.next().await;
    assert_eq!(deleted["result"]["type"], "Deleted");
    assert_eq!(
        deleted["result"]["rolloutInfo"]["objectMeta"]["name"],
        "newcomer"
    );
    assert_eq!(
        deleted["result"]["rolloutInfo"]["objectMeta"]["namespace"],
        "shop"
    );
    let (status, _, _) = d.get("/api/v1/rollouts/shop/newcomer/info").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A namespace with no rollouts yet and a rollout not created yet: both
/// watches stay open, as Argo's do, and deliver the rollout once it is
/// created (Argo's UI otherwise reconnects twice a second forever).
#[tokio::test]
async fn watches_of_what_does_not_exist_yet_stay_open_and_deliver_it() {
    let store = empty_store();
    load_seed(&store);
    let d = Dashboard::start(store.clone(), Scope::AllNamespaces).await;
    d.until_view_matches_sim().await;
    let (status, _, body) = d.get("/api/v1/rollouts/fresh/info").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"rollouts": []})));
    let mut list = d.watch("/api/v1/rollouts/fresh/info/watch", true).await;
    let mut one = d
        .watch("/api/v1/rollouts/fresh/newcomer/info/watch", false)
        .await;
    let mut later = d
        .watch("/api/v1/rollouts/shop/later/info/watch", false)
        .await;
    assert_eq!(list.next_within(Duration::from_millis(500)).await, None);
    assert_eq!(one.next_within(Duration::from_millis(100)).await, None);
    let rollout = |ns: &str, name: &str| common::canary_rollout(ns, name, "newcomer:v1");
    store
        .create(rt("rollouts"), "fresh", rollout("fresh", "newcomer"), false)
        .expect("created");
    store
        .create(rt("rollouts"), "shop", rollout("shop", "later"), false)
        .expect("created");
    let added = list.next().await;
    assert_eq!(added["result"]["type"], "Added");
    assert_eq!(
        added["result"]["rolloutInfo"]["objectMeta"]["name"],
        "newcomer"
    );
    assert_eq!(one.next().await["result"]["objectMeta"]["name"], "newcomer");
    assert_eq!(later.next().await["result"]["objectMeta"]["name"], "later");
    // Not namespace names are still 404s.
    for bad in [
        "/api/v1/rollouts/UPPER/info/watch",
        "/api/v1/rollouts/a..b/x/info/watch",
    ] {
        let (status, _, _) = d.get(bad).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
    }
}

/// A pod turning Ready changes only the pod, not the Rollout object; the
/// rollout's stream shows it anyway (Argo's UI waits for the Rollout's
/// resourceVersion to change).
#[tokio::test]
async fn a_pod_becoming_ready_updates_its_rollouts_stream() {
    let (store, controller) = harness::seed_with_controller();
    controller.settle(50);
    let d = Dashboard::start(store.clone(), Scope::AllNamespaces).await;
    let mut one = d
        .watch(
            "/api/v1/rollouts/manifest-gen/manifest-gen/info/watch",
            true,
        )
        .await;
    let pod_ready = |m: &Value, want: &str| {
        m["result"]["replicaSets"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|rs| rs["pods"].as_array().into_iter().flatten())
            .any(|p| p["ready"] == want)
    };
    let first = one.next().await;
    assert!(pod_ready(&first, "0/1"), "pods start unready: {first}");
    let rollout_rv = first["result"]["objectMeta"]["resourceVersion"].clone();

    // Only the pods change: mark them Ready without the controller.
    let pods = store
        .list(rt("pods"), &Default::default(), None, None)
        .expect("pods");
    for pod in pods
        .items
        .iter()
        .filter(|p| p["metadata"]["namespace"] == "manifest-gen")
    {
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        store
            .patch(rt("pods"), "manifest-gen", name, Subresource::Status, |o| {
                let statuses: Vec<Value> = o["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        json!({"name": c["name"], "image": c["image"], "ready": true,
                                    "restartCount": 0, "state": {"running": {}}})
                    })
                    .collect();
                o["status"] = json!({"phase": "Running", "containerStatuses": statuses,
                                     "conditions": [{"type": "Ready", "status": "True"}]});
                Ok(())
            })
            .expect("the pod is patched");
    }
    let ready = one
        .until("every pod ready", |m| {
            pod_ready(m, "1/1") && !pod_ready(m, "0/1")
        })
        .await;
    assert_eq!(ready["result"]["objectMeta"]["resourceVersion"], rollout_rv);

    // The controller's Kubernetes Events are kept with their rollout.
    let key = rollouts_dashboard::model::RolloutKey::new("manifest-gen", "manifest-gen");
    let snap = d
        .until("the rollout's events", |s| {
            s.rollouts.get(&key).is_some_and(|e| !e.events.is_empty())
        })
        .await;
    let events = &snap.rollouts[&key].events;
    assert!(
        events
            .iter()
            .all(|e| !e.reason.is_empty() && !e.last_seen.is_empty())
    );
}

/// A client that falls behind the changes gets a full resync, never a
/// silent gap: after a burst larger than it may lag, its folded list equals
/// the cluster, deletions included.
#[tokio::test]
async fn a_lagging_stream_is_resynced_without_a_gap() {
    let store = empty_store();
    load_seed(&store);
    let d = Dashboard::start_tuned(
        store.clone(),
        Scope::AllNamespaces,
        harness::Options {
            capacity: 4,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let mut list = d.watch("/api/v1/rollouts/_all/info/watch", false).await;
    let mut shown = std::collections::BTreeSet::new();
    let seeded = d.sim_infos().len();
    for _ in 0..seeded {
        let m = list.next().await;
        shown.insert(m["result"]["rolloutInfo"]["objectMeta"]["name"].to_string());
    }
    // Far more changes than the client may lag (4) or buffer (64).
    for i in 0..150 {
        let mut ro = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": format!("burst-{i:03}"), "namespace": "shop"},
            "spec": {"strategy": {"canary": {}}}
        });
        ro["spec"]["replicas"] = json!(1);
        store
            .create(rt("rollouts"), "shop", ro, false)
            .expect("created");
    }
    store
        .delete(rt("rollouts"), "shop", "search")
        .expect("deleted");
    let expected: std::collections::BTreeSet<String> = d
        .sim_infos()
        .iter()
        .map(|(k, _)| json!(k.name).to_string())
        .collect();
    assert_eq!(expected.len(), seeded + 150 - 1);
    let mut resynced = false;
    while shown != expected {
        let m = list.next().await;
        let name = m["result"]["rolloutInfo"]["objectMeta"]["name"].to_string();
        match m["result"]["type"].as_str() {
            Some("Deleted") => {
                shown.remove(&name);
            }
            Some("Updated") => {
                // Only a resync re-sends a rollout that did not change.
                resynced |= name == "\"checkout\"";
                shown.insert(name);
            }
            _ => {
                shown.insert(name);
            }
        }
    }
    assert!(resynced, "the burst made the client lag and resync");
}
