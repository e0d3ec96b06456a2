//! The live view under the faults a real cluster throws at it. Each test
//! shows the right connection state while the fault lasts and ends with the
//! view equal to the cluster's state: nothing lost, nothing stale.

use crate::harness;

use std::time::Duration;

use axum::http::{StatusCode, header};
use harness::{Dashboard, empty_store, rt};
use rollouts_dashboard::cluster::client::Scope;
use rollouts_dashboard::cluster::health::{Problem, ScopeState, WatchState};
use rollouts_dashboard::cluster::hub::Snapshot;
use rollouts_dashboard::cluster::object::Kind;
use rollouts_dashboard::model::RolloutKey;
use rollouts_dashboard::sim::scenario::load_seed;
use rollouts_dashboard::sim::store::Subresource;
use serde_json::json;

async fn seeded() -> Dashboard {
    let store = empty_store();
    load_seed(&store);
    let d = Dashboard::start(store, Scope::AllNamespaces).await;
    d.until("ready", |s| s.health.ready()).await;
    d.until_view_matches_sim().await;
    d
}

fn all_live(s: &Snapshot) -> bool {
    s.health
        .watches
        .iter()
        .filter(|w| w.kind != Kind::VirtualService && w.kind != Kind::DestinationRule)
        .all(|w| w.state == WatchState::Live)
}

fn failing(s: &Snapshot, kind: Kind, problem: Problem) -> bool {
    s.health
        .watches
        .iter()
        .any(|w| w.kind == kind && w.state == WatchState::Failing && w.problem == Some(problem))
}

fn set_message(d: &Dashboard, ns: &str, name: &str, message: &str) {
    d.store
        .patch(rt("rollouts"), ns, name, Subresource::Status, |o| {
            o["status"]["message"] = json!(message);
            Ok(())
        })
        .expect("the status patch applies");
}

fn new_rollout(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"replicas": 2, "strategy": {"canary": {"steps": [{"setWeight": 10}]}},
                 "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": format!("{name}:v1")}]}}}
    })
}

#[tokio::test]
async fn dropped_watches_resume_without_losing_a_change() {
    let d = seeded().await;
    d.sim.close_watches();
    set_message(
        &d,
        "shop",
        "checkout",
        "changed while the watches were down",
    );
    d.store
        .create(rt("rollouts"), "shop", new_rollout("late"), false)
        .expect("created");
    let snap = d.until_view_matches_sim().await;
    assert!(snap.rollouts.contains_key(&RolloutKey::new("shop", "late")));
    d.until("every watch live", all_live).await;
}

#[tokio::test]
async fn a_restarted_api_server_is_followed_again() {
    let d = seeded().await;
    d.sim.restart();
    set_message(
        &d,
        "manifest-gen",
        "manifest-gen",
        "changed across a restart",
    );
    d.store
        .delete(rt("rollouts"), "shop", "search")
        .expect("deleted");
    let snap = d.until_view_matches_sim().await;
    assert!(
        !snap
            .rollouts
            .contains_key(&RolloutKey::new("shop", "search"))
    );
    d.until("every watch live", all_live).await;
}

/// A deletion the watch never saw (the watch was down and history expired):
/// the 410 makes the watcher relist, and the relist removes the rollout.
#[tokio::test]
async fn expired_resource_versions_relist_and_drop_what_vanished() {
    let d = seeded().await;
    let mut list = d.watch("/api/v1/rollouts/_all/info/watch", false).await;
    for _ in 0..4 {
        assert_eq!(list.next().await["result"]["type"], "Added");
    }
    // Keep the watchers from resuming until the history is gone.
    d.sim.faults.fail_for(Duration::from_secs(1), 503);
    d.sim.close_watches();
    d.store
        .delete(rt("rollouts"), "shop", "recommendations")
        .expect("deleted");
    d.store.expire_history();
    let gone = list
        .until("a Deleted event", |m| m["result"]["type"] == "Deleted")
        .await;
    assert_eq!(
        gone["result"]["rolloutInfo"]["objectMeta"]["name"],
        "recommendations"
    );
    d.until_view_matches_sim().await;
    d.until("every watch live", all_live).await;
}

/// Five seconds of 500s: the state says the API fails and since when, the
/// JSON API marks its (old) data stale, and afterwards all is current.
#[tokio::test]
async fn an_api_outage_is_shown_and_then_caught_up() {
    let d = seeded().await;
    d.sim.faults.fail_for(Duration::from_secs(5), 500);
    d.sim.close_watches();
    let snap = d
        .until("the outage shown", |s| {
            failing(s, Kind::Rollout, Problem::ApiError)
        })
        .await;
    let w = snap
        .health
        .failure(Kind::Rollout, None)
        .expect("a failing Rollout watch");
    assert!(
        w.error.as_deref().unwrap_or_default().contains("500"),
        "{w:?}"
    );
    let (status, headers, _) = d.get("/api/v1/rollouts/shop/info").await;
    assert_eq!(status, StatusCode::OK, "old data is still served");
    let warning = headers
        .get(header::WARNING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        warning.starts_with("110 ") && warning.contains("stale"),
        "{warning}"
    );

    set_message(&d, "shop", "checkout", "changed during the outage");
    d.until_view_matches_sim().await;
    d.until("every watch live", all_live).await;
    let (_, headers, _) = d.get("/api/v1/rollouts/shop/info").await;
    assert!(headers.get(header::WARNING).is_none());
}

/// One Rollout that cannot be read shows as an error card beside the good
/// ones, and becomes a normal rollout once fixed.
#[tokio::test]
async fn a_malformed_rollout_is_an_error_card_and_the_rest_work() {
    let d = seeded().await;
    let mut bad = new_rollout("broken");
    bad["spec"]["replicas"] = json!("three");
    d.store
        .create(rt("rollouts"), "shop", bad, false)
        .expect("the sim stores what it is given");
    let key = RolloutKey::new("shop", "broken");
    let snap = d
        .until("the error card", |s| s.rollouts.contains_key(&key))
        .await;
    let entry = &snap.rollouts[&key];
    let info = entry.info(&key);
    assert_eq!(info.status, "Error");
    assert!(
        info.message.contains("cannot read this Rollout"),
        "{}",
        info.message
    );
    assert!(entry.error.is_some());
    assert_eq!(snap.health.malformed.len(), 1);
    assert_eq!(snap.health.malformed[0].name, "broken");
    let (status, _, body) = d.get("/api/v1/rollouts/shop/broken/info").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "Error");
    // The good ones are untouched and still follow changes.
    set_message(&d, "shop", "checkout", "still followed");
    let expected = d.sim_infos();
    d.until("the good rollouts current", |s| {
        expected
            .iter()
            .all(|(k, info)| s.rollouts.get(k).is_some_and(|e| e.info(k) == *info))
    })
    .await;

    d.store
        .patch(rt("rollouts"), "shop", "broken", Subresource::Main, |o| {
            o["spec"]["replicas"] = json!(3);
            Ok(())
        })
        .expect("fixed");
    let snap = d.until_view_matches_sim().await;
    assert!(snap.rollouts[&key].error.is_none());
    d.until("no malformed objects", |s| s.health.malformed.is_empty())
        .await;
}

/// No Istio in the cluster: the Istio watches say "not installed", the
/// dashboard is ready, and traffic panels say the VirtualService is missing.
#[tokio::test]
async fn a_missing_virtualservice_crd_is_shown_and_the_rest_works() {
    let store = empty_store();
    load_seed(&store);
    let d = Dashboard::start_with(store, Scope::AllNamespaces, |sim| {
        sim.faults.set_uninstalled("networking.istio.io", true);
    })
    .await;
    let snap = d
        .until("Istio shown as not installed", |s| {
            s.health
                .watches
                .iter()
                .any(|w| w.kind == Kind::VirtualService && w.state == WatchState::NotInstalled)
        })
        .await;
    assert!(snap.health.ready());
    let snap = d
        .until_view_matches(|o| {
            o.virtual_services.clear();
            o.destination_rules.clear();
        })
        .await;
    let key = RolloutKey::new("manifest-gen", "manifest-gen");
    let seed = snap.rollouts[&key].info(&key);
    let traffic = seed.traffic.as_ref().expect("an Istio rollout");
    assert!(!traffic.virtual_services[0].found);
    assert_eq!(d.get("/readyz").await.0, StatusCode::OK);
}

/// Pods forbidden: rollouts still show (without pods), the state says pods
/// are forbidden, and once allowed the pods appear.
#[tokio::test]
async fn forbidden_pods_are_shown_and_appear_once_allowed() {
    let (store, controller) = harness::seed_with_controller();
    controller.settle(50);
    let d = Dashboard::start_with(store, Scope::AllNamespaces, |sim| {
        sim.faults.set_forbidden("pods", true);
    })
    .await;
    let snap = d
        .until("pods forbidden", |s| {
            failing(s, Kind::Pod, Problem::Forbidden)
        })
        .await;
    let w = snap.health.failure(Kind::Pod, None).expect("the pod watch");
    assert!(w.error.as_deref().unwrap_or_default().contains("forbidden"));
    d.until("ready without pods", |s| s.health.ready()).await;
    assert_eq!(d.get("/readyz").await.0, StatusCode::OK);
    d.until_view_matches(|o| o.pods.clear()).await;

    d.sim.faults.set_forbidden("pods", false);
    let snap = d.until_view_matches_sim().await;
    let key = RolloutKey::new("manifest-gen", "manifest-gen");
    let seed = snap.rollouts[&key].info(&key);
    assert!(seed.replica_sets.iter().any(|r| !r.pods.is_empty()));
    d.until("every watch live", all_live).await;
}

/// No flags and no right to list across namespaces: the dashboard shows the
/// current namespace, says why, and refuses the others with that reason.
#[tokio::test]
async fn forbidden_cluster_wide_listing_falls_back_to_the_current_namespace() {
    let store = empty_store();
    load_seed(&store);
    let scope = Scope::AllOrDefault {
        fallback: "shop".to_string(),
    };
    let d = Dashboard::start_with(store, scope, |sim| {
        for plural in [
            "rollouts",
            "replicasets",
            "pods",
            "analysisruns",
            "experiments",
            "events",
            "virtualservices",
            "destinationrules",
        ] {
            sim.faults.set_forbidden_cluster_wide(plural, true);
        }
    })
    .await;
    let snap = d.until("ready", |s| s.health.ready()).await;
    let ScopeState::Namespaces { namespaces, notice } = &snap.health.scope else {
        panic!("the scope narrowed: {:?}", snap.health.scope);
    };
    assert_eq!(namespaces, &["shop".to_string()]);
    let notice = notice.as_deref().unwrap_or_default();
    assert!(
        notice.contains("\"shop\"") && notice.contains("forbidden"),
        "{notice}"
    );

    d.until_view_matches(|o| {
        o.rollouts
            .retain(|r| r.metadata.namespace.as_deref() == Some("shop"))
    })
    .await;
    let (status, _, body) = d.get("/api/v1/rollouts/manifest-gen/info").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], 7);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("forbidden")
    );
    let (status, _, _) = d.get("/api/v1/rollouts/shop/info").await;
    assert_eq!(status, StatusCode::OK);
}

/// The text of `/metrics`.
async fn metrics(d: &Dashboard) -> String {
    let resp = d.request("/metrics", None).await;
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .expect("a body");
    String::from_utf8_lossy(&bytes).to_string()
}

fn metric(text: &str, line: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The watch metrics say what their names say: every failed list or watch
/// is counted for its kind, and the seconds since a watch last heard from
/// the API stay small on a busy cluster whose watches never change state
/// (an alert on them does not fire while events pour in).
#[tokio::test]
async fn watch_metrics_count_each_failure_and_time_the_last_event_per_watch() {
    let d = seeded().await;
    let before = metric(
        &metrics(&d).await,
        "rollouts_dashboard_watch_errors_total{kind=\"Rollout\"}",
    )
    .expect("the counter is there");
    d.sim.faults.fail_for(Duration::from_secs(3), 500);
    d.sim.close_watches();
    d.until("the outage shown", |s| {
        failing(s, Kind::Rollout, Problem::ApiError)
    })
    .await;
    d.until("every watch live", all_live).await;
    let text = metrics(&d).await;
    let after = metric(
        &text,
        "rollouts_dashboard_watch_errors_total{kind=\"Rollout\"}",
    )
    .expect("the counter is there");
    assert!(after > before, "failures counted: {before} then {after}");

    // Four seconds of changes, one every 100 ms: no watch changes state.
    let busy = std::time::Instant::now();
    let mut i = 0;
    while busy.elapsed() < Duration::from_secs(4) {
        set_message(&d, "shop", "checkout", &format!("change {i}"));
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.until_view_matches_sim().await;
    let text = metrics(&d).await;
    let since = metric(
        &text,
        "rollouts_dashboard_seconds_since_sync{kind=\"Rollout\",namespace=\"\"}",
    )
    .unwrap_or_else(|| panic!("a line per watch: {text}"));
    assert!(
        since < 2.0,
        "the Rollout watch heard from the API {since} s ago, after {i} changes in 4 s"
    );
}

/// The soak's finding: after a relist under churn, pods showed their old
/// readiness until they changed again (the simulated server answered each
/// page as of its own moment; a real one answers every page at the first
/// page's revision). Every pod changes while the watcher is part-way
/// through its relist; afterwards nothing changes, and every pod's
/// readiness must be the cluster's without a further change to heal it.
#[tokio::test]
async fn a_relist_under_churn_leaves_no_pod_older_than_the_cluster() {
    let store = empty_store();
    // 300 rollouts, 1,500 pods: three pages of the watcher's list.
    rollouts_dashboard::sim::scale::generate(&store, 300);
    let d = Dashboard::start(store, Scope::AllNamespaces).await;
    d.until("ready", |s| s.health.ready()).await;
    d.until_view_matches_sim().await;

    let pods: Vec<(String, String)> = {
        let all = d
            .store
            .list(rt("pods"), &Default::default(), None, None)
            .expect("pods listed");
        all.items
            .iter()
            .filter_map(|p| {
                let ns = p.pointer("/metadata/namespace")?.as_str()?;
                let name = p.pointer("/metadata/name")?.as_str()?;
                Some((ns.to_string(), name.to_string()))
            })
            .collect()
    };
    assert_eq!(pods.len(), 1500);
    let flip = |ns: &str, name: &str| {
        d.store
            .patch(rt("pods"), ns, name, Subresource::Status, |o| {
                o["status"]["containerStatuses"][0]["ready"] = json!(false);
                Ok(())
            })
            .expect("the pod's status patch applies");
    };

    // Every update from here is dropped (watches closed, history expired),
    // so the watcher lists again; its first page of pods is answered, the
    // rest wait while every pod changes once.
    d.sim.faults.hold_pages(true);
    d.sim.close_watches();
    d.store.expire_history();
    let part_way = tokio::time::timeout(harness::PATIENCE, async {
        while d.store.lists_being_paged("pods") == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    part_way
        .await
        .expect("the watcher relists the pods in pages");
    for (ns, name) in &pods {
        flip(ns, name);
    }
    d.sim.faults.hold_pages(false);

    // Nothing changes from here on: the view must reach the cluster's state
    // by itself.
    d.until_view_matches_sim().await;
    d.until("every watch live", all_live).await;
}
