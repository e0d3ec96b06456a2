//! Actions end to end: the dashboard's routes send exactly the calls of
//! reference §3 to the simulated cluster (as recorded by its API server), the
//! sim controller reacts, and the safety rules hold: act on what you saw,
//! one step per promote however many people press it, read-only, no
//! cross-site requests, clear errors.

use crate::common;
use crate::harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use harness::{Dashboard, Options, empty_store, react, rt, seed_at_pause};
use rollouts_dashboard::cluster::client::Scope;
use rollouts_dashboard::model::RolloutKey;
use rollouts_dashboard::sim::apiserver::RecordedRequest;
use rollouts_dashboard::sim::store::Store;
use serde_json::{Value, json};

const SEED: &str = "/api/v1/rollouts/manifest-gen/manifest-gen";

async fn dashboard(store: Arc<Store>, options: Options) -> Dashboard {
    let d = Dashboard::start_tuned(store, Scope::AllNamespaces, options, |_| {}).await;
    d.until("the seed at its pause", |s| {
        s.rollouts
            .get(&RolloutKey::new("manifest-gen", "manifest-gen"))
            .is_some_and(|e| e.json.info().is_ok_and(|i| i.step == "1/5"))
    })
    .await;
    d
}

fn seed_status(store: &Store) -> Value {
    store
        .get(rt("rollouts"), "manifest-gen", "manifest-gen")
        .expect("the seed")["status"]
        .clone()
}

/// (stable, canary) weights of route `primary`.
fn route(store: &Store) -> (i64, i64) {
    let vs = store
        .get(rt("virtualservices"), "manifest-gen", "manifest-gen-vs")
        .expect("the VirtualService");
    let weight = |subset: &str| {
        vs.pointer("/spec/http/0/route")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|d| d["destination"]["subset"] == subset)
            .and_then(|d| d["weight"].as_i64())
            .unwrap_or(-1)
    };
    (weight("stable"), weight("canary"))
}

/// What the dashboard sent to the rollout (not its Events).
fn sent_to_rollouts(d: &Dashboard) -> Vec<RecordedRequest> {
    d.sim
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/rollouts/") || r.path.contains("/deployments/"))
        .collect()
}

/// The request's path, and whether it named our field manager.
fn target(r: &RecordedRequest) -> (&str, bool) {
    let (path, query) = r.path.split_once('?').unwrap_or((&r.path, ""));
    let managed = query
        .split('&')
        .any(|p| p == "fieldManager=rollouts-dashboard");
    (path, managed)
}

fn body(r: &RecordedRequest) -> Value {
    serde_json::from_str(&r.body).unwrap_or(Value::Null)
}

fn expect(store: &Store) -> String {
    let st = seed_status(store);
    json!({"expect": {"podTemplateHash": st["currentPodHash"], "stepIndex": st["currentStepIndex"]}})
        .to_string()
}

#[tokio::test]
async fn promote_at_the_pause_sends_argos_status_patch_and_moves_to_50_50() {
    let (store, controller) = seed_at_pause();
    let d = dashboard(store.clone(), Options::default()).await;
    let rv = store
        .get(rt("rollouts"), "manifest-gen", "manifest-gen")
        .expect("seed")["metadata"]["resourceVersion"]
        .clone();
    let (status, _, rollout) = d
        .send("PUT", &format!("{SEED}/promote"), &[], &expect(&store))
        .await;
    assert_eq!(status, StatusCode::OK, "{rollout}");
    assert_eq!(rollout["metadata"]["name"], "manifest-gen");

    let sent = sent_to_rollouts(&d);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].method, "PATCH");
    assert_eq!(
        target(&sent[0]),
        (
            "/apis/argoproj.io/v1alpha1/namespaces/manifest-gen/rollouts/manifest-gen/status",
            true
        )
    );
    assert_eq!(sent[0].content_type, "application/merge-patch+json");
    assert_eq!(
        body(&sent[0]),
        json!({"metadata": {"resourceVersion": rv}, "status": {"pauseConditions": null}})
    );

    react(&store, &controller, 3);
    assert_eq!(route(&store), (50, 50));
    d.until("the view at 50%", |s| {
        s.rollouts
            .get(&RolloutKey::new("manifest-gen", "manifest-gen"))
            .is_some_and(|e| e.json.info().is_ok_and(|i| i.actual_weight == "50"))
    })
    .await;
    // The audit trail, in the cluster.
    let events = store
        .list(rt("events"), &Default::default(), None, None)
        .expect("events");
    assert!(
        events
            .items
            .iter()
            .any(|e| e["reason"] == "PromotedFromDashboard"
                && e["involvedObject"]["name"] == "manifest-gen"),
        "a PromotedFromDashboard event"
    );
}

#[tokio::test]
async fn abort_then_retry() {
    let (store, controller) = seed_at_pause();
    let d = dashboard(store.clone(), Options::default()).await;
    let (status, _, _) = d.send("PUT", &format!("{SEED}/abort"), &[], "{}").await;
    assert_eq!(status, StatusCode::OK);
    let sent = sent_to_rollouts(&d);
    assert_eq!(sent.len(), 1);
    let (path, managed) = target(&sent[0]);
    assert!(
        path.ends_with("/rollouts/manifest-gen/status") && managed,
        "{path}"
    );
    assert_eq!(body(&sent[0])["status"], json!({"abort": true}));
    react(&store, &controller, 3);
    assert_eq!(route(&store), (100, 0));
    assert_eq!(seed_status(&store)["phase"], "Degraded");

    d.until("the view Degraded", |s| {
        s.rollouts
            .get(&RolloutKey::new("manifest-gen", "manifest-gen"))
            .is_some_and(|e| e.json.info().is_ok_and(|i| i.status == "Degraded"))
    })
    .await;
    let (status, _, _) = d.send("PUT", &format!("{SEED}/retry"), &[], "").await;
    assert_eq!(status, StatusCode::OK, "an empty body is accepted");
    assert_eq!(
        body(&sent_to_rollouts(&d)[1])["status"],
        json!({"abort": false})
    );
    react(&store, &controller, 3);
    assert_ne!(seed_status(&store)["phase"], "Degraded");
}

#[tokio::test]
async fn set_image_restart_and_rollback() {
    let (store, controller) = seed_at_pause();
    let d = dashboard(store.clone(), Options::default()).await;

    // Set image: a full update (PUT) of the rollout; a new revision starts.
    let path = format!("{SEED}/set/manifest-gen/anantvaid4%2Fmanifest-generator-api/v3");
    let (status, _, rollout) = d.send("PUT", &path, &[], "{}").await;
    assert_eq!(status, StatusCode::OK, "{rollout}");
    let sent = sent_to_rollouts(&d);
    assert_eq!(sent[0].method, "PUT");
    assert_eq!(
        body(&sent[0])["spec"]["template"]["spec"]["containers"][0]["image"],
        "anantvaid4/manifest-generator-api:v3"
    );
    react(&store, &controller, 3);
    let ro = store
        .get(rt("rollouts"), "manifest-gen", "manifest-gen")
        .expect("seed");
    assert_eq!(
        ro["metadata"]["annotations"]["rollout.argoproj.io/revision"],
        "3"
    );
    // The new revision starts its steps over: back at the first pause.
    assert_eq!(ro["status"]["currentStepIndex"], 1);
    assert_eq!(route(&store), (80, 20));

    // Restart: spec.restartAt, now.
    let (status, _, _) = d.send("PUT", &format!("{SEED}/restart"), &[], "{}").await;
    assert_eq!(status, StatusCode::OK);
    let restart = sent_to_rollouts(&d).pop().expect("a request");
    assert_eq!(restart.method, "PATCH");
    let (path, managed) = target(&restart);
    assert!(
        path.ends_with("/rollouts/manifest-gen") && managed,
        "{path}"
    );
    let at = body(&restart)["spec"]["restartAt"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(at.ends_with('Z') && at.len() == 20, "{at}");

    // Rollback to revision 1: a JSON patch of the template, guarded by the
    // version it was planned against.
    let (status, _, rollout) = d.send("PUT", &format!("{SEED}/undo/1"), &[], "").await;
    assert_eq!(status, StatusCode::OK, "{rollout}");
    let undo = sent_to_rollouts(&d).pop().expect("a request");
    assert_eq!(undo.content_type, "application/json-patch+json");
    let ops = body(&undo);
    assert_eq!(ops[0]["op"], "replace");
    assert_eq!(ops[0]["path"], "/spec/template");
    assert_eq!(
        ops[0]["value"]["spec"]["containers"][0]["image"],
        "anantvaid4/manifest-generator-api:v1"
    );
    assert!(
        ops[0]["value"]["metadata"]["labels"]
            .get("rollouts-pod-template-hash")
            .is_none()
    );
    assert_eq!(ops[1]["path"], "/metadata/resourceVersion");
    react(&store, &controller, 3);
    let ro = store
        .get(rt("rollouts"), "manifest-gen", "manifest-gen")
        .expect("seed");
    assert_eq!(
        ro["spec"]["template"]["spec"]["containers"][0]["image"],
        "anantvaid4/manifest-generator-api:v1"
    );
    // Going back to the stable template skips the steps (§3.4).
    assert_eq!(route(&store), (100, 0));

    // The reused ReplicaSet is renumbered, as Argo and Deployments do:
    // revision 1 is now the newest (4), and 1 is kept in its revision-history.
    let old = store
        .list(rt("replicasets"), &Default::default(), None, None)
        .expect("replicasets")
        .items
        .into_iter()
        .find(|rs| {
            rs["spec"]["template"]["spec"]["containers"][0]["image"]
                == "anantvaid4/manifest-generator-api:v1"
        })
        .expect("the first ReplicaSet");
    let annotations = &old["metadata"]["annotations"];
    assert_eq!(annotations["rollout.argoproj.io/revision"], "4");
    assert_eq!(annotations["rollout.argoproj.io/revision-history"], "1");
    // The same revision again: nothing to do, nothing sent.
    let before = sent_to_rollouts(&d).len();
    let (status, _, _) = d.send("PUT", &format!("{SEED}/undo/4"), &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sent_to_rollouts(&d).len(), before);
    // And revision 1 is gone from the history, as Argo's undo says.
    let (status, _, body) = d.send("PUT", &format!("{SEED}/undo/1"), &[], "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(sent_to_rollouts(&d).len(), before);
}

/// Two people press Promote at the same moment: the rollout moves one step.
#[tokio::test]
async fn two_concurrent_promotes_move_one_step() {
    let (store, controller) = seed_at_pause();
    let d = dashboard(store.clone(), Options::default()).await;
    let body = expect(&store);
    let path = format!("{SEED}/promote");
    let (a, b) = tokio::join!(
        d.send("PUT", &path, &[], &body),
        d.send("PUT", &path, &[], &body)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let refused = if a.0 == StatusCode::CONFLICT {
        &a.2
    } else {
        &b.2
    };
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("already promoted"),
        "{refused}"
    );
    // One promote: past the indefinite pause, through setWeight 50, and
    // waiting at the 30 s pause (index 3), which nobody skipped.
    react(&store, &controller, 3);
    let st = seed_status(&store);
    assert_eq!(st["currentStepIndex"], 3);
    assert_eq!(st["pauseConditions"][0]["reason"], "CanaryPauseStep");
    assert_eq!(route(&store), (50, 50));
}

/// A page opened before the controller moved on must not act on what is no
/// longer there.
#[tokio::test]
async fn a_stale_form_is_refused_with_what_changed() {
    let (store, _controller) = seed_at_pause();
    let d = dashboard(store.clone(), Options::default()).await;
    let hash = seed_status(&store)["currentPodHash"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let form = format!("expectPodTemplateHash={hash}&expectStepIndex=0");
    let (status, _, err) = d
        .send(
            "POST",
            "/rollouts/manifest-gen/manifest-gen/actions/promote",
            &[
                (
                    header::CONTENT_TYPE.as_str(),
                    "application/x-www-form-urlencoded",
                ),
                (header::ACCEPT.as_str(), "application/json"),
            ],
            &form,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        err["message"],
        "the rollout moved on since you looked: it is at step 2 of 5, you saw step 1 of 5; look again before acting"
    );
    assert!(sent_to_rollouts(&d).is_empty(), "nothing was sent");

    // The same form without JavaScript: a redirect back with the outcome.
    let form = format!("expectPodTemplateHash={hash}&expectStepIndex=1");
    let (status, headers, _) = d
        .send(
            "POST",
            "/rollouts/manifest-gen/manifest-gen/actions/promote",
            &[(
                header::CONTENT_TYPE.as_str(),
                "application/x-www-form-urlencoded",
            )],
            &form,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert_eq!(location, "/rollouts/manifest-gen/manifest-gen?notice=done");
}

#[tokio::test]
async fn read_only_cross_site_and_unknown_rollouts_are_refused() {
    let (store, _controller) = seed_at_pause();
    let d = dashboard(
        store.clone(),
        Options {
            read_only: true,
            ..Options::default()
        },
    )
    .await;
    for (method, path) in [
        ("PUT", format!("{SEED}/promote")),
        ("PUT", format!("{SEED}/abort")),
        ("PUT", format!("{SEED}/retry")),
        ("PUT", format!("{SEED}/restart")),
        ("PUT", format!("{SEED}/pause")),
        ("PUT", format!("{SEED}/resume")),
        ("PUT", format!("{SEED}/set/manifest-gen/img/v9")),
        ("PUT", format!("{SEED}/undo/1")),
        (
            "POST",
            "/rollouts/manifest-gen/manifest-gen/actions/abort".to_string(),
        ),
    ] {
        let (status, _, err) = d.send(method, &path, &[], "").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        assert!(
            err["message"]
                .as_str()
                .unwrap_or_default()
                .contains("read-only")
        );
    }
    assert!(sent_to_rollouts(&d).is_empty());
    drop(d);

    let d = dashboard(store, Options::default()).await;
    let (status, _, err) = d
        .send(
            "POST",
            "/rollouts/manifest-gen/manifest-gen/actions/abort",
            &[
                ("host", "dashboard.example"),
                ("origin", "https://evil.example"),
                (
                    header::CONTENT_TYPE.as_str(),
                    "application/x-www-form-urlencoded",
                ),
            ],
            "",
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("another site")
    );
    assert!(sent_to_rollouts(&d).is_empty());

    let (status, _, err) = d
        .send(
            "PUT",
            "/api/v1/rollouts/manifest-gen/nobody/promote",
            &[],
            "{}",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    assert_eq!(err["code"], 5);
}

/// An API server that hangs: 504 within the timeout, and the dashboard
/// still answers meanwhile.
#[tokio::test]
async fn a_hanging_api_server_gives_504_and_the_dashboard_stays_usable() {
    let (store, _controller) = seed_at_pause();
    let d = dashboard(store, Options::default()).await;
    d.sim.faults.set_delay(Duration::from_secs(30));
    let started = Instant::now();
    let abort = format!("{SEED}/abort");
    let action = d.send("PUT", &abort, &[], "{}");
    let read = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let at = Instant::now();
        let (status, _, _) = d.get(&format!("{SEED}/info")).await;
        (status, at.elapsed())
    };
    let ((status, _, err), (read_status, read_took)) = tokio::join!(action, read);
    assert_eq!(read_status, StatusCode::OK);
    assert!(
        read_took < Duration::from_secs(2),
        "reads come from memory: {read_took:?}"
    );
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    d.sim.faults.set_delay(Duration::ZERO);
}

/// Set image on a `workloadRef` rollout changes its Deployment (§3.2), by a
/// full update, and leaves the rollout's own spec alone.
#[tokio::test]
async fn set_image_of_a_workload_ref_rollout_updates_its_deployment() {
    let store = empty_store();
    let report =
        rollouts_dashboard::sim::manifests::load_path(&store, &common::fixture("argo-info/canary"))
            .expect("the fixtures load");
    assert!(report.skipped.is_empty());
    let d = Dashboard::start(store.clone(), Scope::AllNamespaces).await;
    d.until("ready", |s| s.health.ready()).await;
    let path = "/api/v1/rollouts/jesse-test/canary-demo-workloadRef-deploy/set/canary-demo-deploy/argoproj%2Frollouts-demo/yellow";
    let (status, _, rollout) = d.send("PUT", path, &[], "").await;
    assert_eq!(status, StatusCode::OK, "{rollout}");
    let sent = sent_to_rollouts(&d);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].method, "PUT");
    let (path, managed) = target(&sent[0]);
    assert_eq!(
        (path, managed),
        (
            "/apis/apps/v1/namespaces/jesse-test/deployments/canary-demo-deploy",
            true
        )
    );
    let deploy = store
        .get(rt("deployments"), "jesse-test", "canary-demo-deploy")
        .expect("the Deployment");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        "argoproj/rollouts-demo:yellow"
    );
    // An unknown container is refused with Argo's words, and nothing sent.
    let path = "/api/v1/rollouts/jesse-test/canary-demo-workloadRef-deploy/set/nope/img/v1";
    let (status, _, err) = d.send("PUT", path, &[], "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["message"], "unable to find container named \"nope\"");
    assert_eq!(sent_to_rollouts(&d).len(), 1);
}

/// Churn between reading and patching (another writer, say the controller
/// recording pod readiness) is not a reason to refuse: the patch gets 409
/// from the API server, the rollout is read and checked again, and the
/// still-valid promote goes through. A rollout that never stops changing is
/// refused with a reason rather than retried forever.
#[tokio::test]
async fn churn_between_check_and_patch_is_rechecked_not_refused() {
    let (store, controller) = seed_at_pause();
    let d = dashboard(store.clone(), Options::default()).await;
    d.sim.faults.churn_next(1);
    let (status, _, answer) = d
        .send("PUT", &format!("{SEED}/promote"), &[], &expect(&store))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let sent = sent_to_rollouts(&d);
    assert_eq!(sent.len(), 2, "the first patch lost the race: {sent:?}");
    assert_ne!(
        body(&sent[0])["metadata"]["resourceVersion"],
        body(&sent[1])["metadata"]["resourceVersion"],
        "the second carries the version read again"
    );
    react(&store, &controller, 3);
    assert_eq!(route(&store), (50, 50));

    d.sim.faults.churn_next(10);
    let (status, _, err) = d.send("PUT", &format!("{SEED}/abort"), &[], "{}").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("kept changing"),
        "{err}"
    );
}
