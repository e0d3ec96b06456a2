//! The simulated controller walks the seed release (steps 20% → pause →
//! 50% → 30 s → 100%, Istio route `primary` with subsets). Each state is
//! read off the objects it writes and compared with what Argo's controller
//! writes there (reference: argo-rollouts.md §2.3 phases, §3.4 controller
//! semantics, §7 Istio), never through the dashboard's `info/`: the
//! simulator is an oracle for the dashboard only while the two stay apart.

use std::sync::Arc;

use jiff::SignedDuration;
use rollouts_dashboard::model::{Pod, Rollout};
use rollouts_dashboard::sim::clock::SimClock;
use rollouts_dashboard::sim::controller::{Controller, ControllerConfig};
use rollouts_dashboard::sim::resources;
use rollouts_dashboard::sim::scenario::{SEED_CANARY_IMAGE, SEED_UPDATES, load_seed, set_image};
use rollouts_dashboard::sim::store::{Filter, Store, Subresource};
use serde_json::{Value, json};

struct Cluster {
    store: Arc<Store>,
    controller: Controller,
}

fn rt(plural: &str) -> &'static resources::ResourceType {
    resources::RESOURCES
        .iter()
        .find(|r| r.plural == plural)
        .unwrap()
}

impl Cluster {
    /// The seed release running v1, settled.
    fn seed() -> Cluster {
        let clock = Arc::new(SimClock::default());
        let store = Arc::new(Store::new(clock));
        assert!(load_seed(&store).skipped.is_empty());
        let controller = Controller::new(
            store.clone(),
            ControllerConfig {
                pod_ready_after: SignedDuration::from_secs(2),
            },
        );
        let c = Cluster { store, controller };
        c.pass(SignedDuration::from_secs(3));
        c
    }

    /// Lets sim time pass and the controller catch up.
    fn pass(&self, by: SignedDuration) {
        self.controller.settle(50);
        self.store.clock.advance(by);
        self.controller.settle(50);
    }

    fn list<T: serde::de::DeserializeOwned>(&self, plural: &str) -> Vec<T> {
        self.store
            .list(rt(plural), &Filter::default(), None, None)
            .unwrap()
            .items
            .iter()
            .map(|o| serde_json::from_value((**o).clone()).unwrap())
            .collect()
    }

    /// The seed rollout as its objects say.
    fn info(&self) -> Seen {
        self.info_of("manifest-gen", "manifest-gen")
    }

    /// A rollout as its objects say.
    fn info_of(&self, ns: &str, name: &str) -> Seen {
        let ro = self.store.get(rt("rollouts"), ns, name).unwrap();
        let status = &ro["status"];
        let text = |v: &Value, p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (stable, current) = (text(status, "/stableRS"), text(status, "/currentPodHash"));
        let (active, preview) = (
            text(status, "/blueGreen/activeSelector"),
            text(status, "/blueGreen/previewSelector"),
        );
        let canary_strategy = ro.pointer("/spec/strategy/canary").is_some();
        let uid = text(&ro, "/metadata/uid");
        let owned = |o: &Value| {
            o.pointer("/metadata/ownerReferences/0/uid")
                .and_then(Value::as_str)
                == Some(uid.as_str())
        };
        let all = |plural: &str| -> Vec<Value> {
            self.store
                .list(rt(plural), &Filter::default(), None, None)
                .unwrap()
                .items
                .iter()
                .map(|o| (**o).clone())
                .collect()
        };
        let pods = all("pods");
        let mut replica_sets: Vec<SeenRs> = all("replicasets")
            .into_iter()
            .filter(|rs| owned(rs))
            .map(|rs| {
                let hash = text(&rs, "/metadata/labels/rollouts-pod-template-hash");
                let rs_uid = text(&rs, "/metadata/uid");
                SeenRs {
                    name: text(&rs, "/metadata/name"),
                    revision: text(&rs, "/metadata/annotations/rollout.argoproj.io~1revision")
                        .parse()
                        .unwrap_or(0),
                    stable: hash == stable,
                    canary: canary_strategy && hash == current && hash != stable,
                    active: hash == active,
                    preview: !preview.is_empty() && hash == preview && hash != active,
                    images: rs
                        .pointer("/spec/template/spec/containers")
                        .and_then(Value::as_array)
                        .map(|cs| cs.iter().map(|c| text(c, "/image")).collect())
                        .unwrap_or_default(),
                    replicas: rs
                        .pointer("/status/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(0),
                    scaled_down: rs.pointer("/spec/replicas").and_then(Value::as_i64) == Some(0)
                        && rs.pointer("/status/replicas").and_then(Value::as_i64) == Some(0),
                    scale_down_deadline: text(&rs, "/metadata/annotations/scale-down-deadline"),
                    pods: pods
                        .iter()
                        .filter(|p| {
                            p.pointer("/metadata/ownerReferences/0/uid")
                                .and_then(Value::as_str)
                                == Some(rs_uid.as_str())
                        })
                        .cloned()
                        .collect(),
                    pod_template_hash: hash,
                }
            })
            .collect();
        replica_sets.sort_by_key(|r| std::cmp::Reverse(r.revision));
        let steps = ro
            .pointer("/spec/strategy/canary/steps")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        Seen {
            status: text(status, "/phase"),
            message: text(status, "/message"),
            step: format!(
                "{}/{steps}",
                status
                    .get("currentStepIndex")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            ),
            actual_weight: status
                .pointer("/canary/weights/canary/weight")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .to_string(),
            pauses: status
                .get("pauseConditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            replica_sets,
            analysis_runs: all("analysisruns")
                .into_iter()
                .filter(|r| owned(r))
                .collect(),
            rollout: (*ro).clone(),
        }
    }

    /// (stable weight, canary weight) of route `primary` as stored.
    fn route_weights(&self) -> (i64, i64) {
        let vs = self
            .store
            .get(rt("virtualservices"), "manifest-gen", "manifest-gen-vs")
            .unwrap();
        let route = vs
            .pointer("/spec/http/0/route")
            .unwrap()
            .as_array()
            .unwrap()
            .clone();
        let weight = |subset: &str| {
            route
                .iter()
                .find(|d| d.pointer("/destination/subset") == Some(&json!(subset)))
                .and_then(|d| d.get("weight"))
                .and_then(Value::as_i64)
                .unwrap()
        };
        (weight("stable"), weight("canary"))
    }

    /// The pod template hash a Service selects (§7.5).
    fn service_hash(&self, ns: &str, name: &str) -> String {
        let svc = self.store.get(rt("services"), ns, name).unwrap();
        svc.pointer("/spec/selector/rollouts-pod-template-hash")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    fn patch_rollout(&self, sub: Subresource, patch: Value) {
        self.patch(("manifest-gen", "manifest-gen"), sub, patch);
    }

    fn patch(&self, (ns, name): (&str, &str), sub: Subresource, patch: Value) {
        self.store
            .patch(rt("rollouts"), ns, name, sub, |o| {
                json_patch::merge(o, &patch);
                Ok(())
            })
            .unwrap();
    }

    /// From v1 to the canary of v2, waiting at the indefinite pause.
    fn at_first_pause() -> Cluster {
        let c = Cluster::seed();
        for (ns, name, container, image) in SEED_UPDATES {
            c.store
                .patch(rt("rollouts"), ns, name, Subresource::Main, |o| {
                    set_image(o, container, image);
                    Ok(())
                })
                .unwrap();
        }
        c.pass(SignedDuration::from_secs(3));
        c
    }

    fn events(&self) -> Vec<String> {
        self.store
            .list(rt("events"), &Filter::default(), None, None)
            .unwrap()
            .items
            .iter()
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// A rollout as read off its objects, with Argo's meaning of each field.
#[derive(Debug)]
struct Seen {
    /// `status.phase` and `status.message`.
    status: String,
    message: String,
    /// `currentStepIndex/len(steps)`, as Argo's info shows it.
    step: String,
    /// `status.canary.weights.canary.weight`.
    actual_weight: String,
    pauses: Vec<Value>,
    /// Newest revision first.
    replica_sets: Vec<SeenRs>,
    analysis_runs: Vec<Value>,
    rollout: Value,
}

impl Seen {
    /// The pod template hash of the ReplicaSet `which` picks.
    fn hash_of(&self, which: impl Fn(&SeenRs) -> bool) -> String {
        self.replica_sets
            .iter()
            .find(|r| which(r))
            .unwrap()
            .pod_template_hash
            .clone()
    }
}

#[derive(Debug)]
struct SeenRs {
    name: String,
    revision: i64,
    pod_template_hash: String,
    stable: bool,
    canary: bool,
    active: bool,
    preview: bool,
    images: Vec<String>,
    replicas: i64,
    scaled_down: bool,
    scale_down_deadline: String,
    pods: Vec<Value>,
}

#[test]
fn seed_starts_healthy_on_v1_with_all_traffic_on_stable() {
    let c = Cluster::seed();
    let info = c.info();
    assert_eq!(
        (info.status.as_str(), info.message.as_str()),
        ("Healthy", "")
    );
    assert_eq!(info.step, "5/5");
    assert_eq!(c.route_weights(), (100, 0));
    assert_eq!(info.replica_sets.len(), 1);
    assert!(info.replica_sets[0].stable);
    assert_eq!(info.replica_sets[0].pods[0]["status"]["phase"], "Running");
    // What Argo's controller writes on every status (rollout/sync.go,
    // canary.go: syncRolloutStatusCanary, calculateRolloutConditions).
    let status = &info.rollout["status"];
    assert_eq!(status["selector"], "app=manifest-gen");
    assert!(
        status["currentStepHash"]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    );
    assert_eq!(
        status["observedGeneration"].as_str().map(|g| !g.is_empty()),
        Some(true)
    );
    assert_eq!(
        (status["replicas"].as_i64(), status["HPAReplicas"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(status["stableRS"], status["currentPodHash"]);
    let condition = |t: &str| {
        status["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == t))
            .map(|c| {
                (
                    c["status"].as_str().unwrap_or_default().to_string(),
                    c["reason"].as_str().unwrap_or_default().to_string(),
                )
            })
    };
    assert_eq!(
        condition("Available"),
        Some(("True".into(), "AvailableReason".into()))
    );
    assert_eq!(
        condition("Completed"),
        Some(("True".into(), "RolloutCompleted".into()))
    );
    assert_eq!(
        condition("Healthy"),
        Some(("True".into(), "RolloutHealthy".into()))
    );
    assert!(condition("Progressing").is_some());
}

#[test]
fn canary_waits_at_the_indefinite_pause_with_80_20() {
    let c = Cluster::at_first_pause();
    let info = c.info();
    assert_eq!(
        (info.status.as_str(), info.message.as_str()),
        ("Paused", "CanaryPauseStep")
    );
    assert_eq!(info.step, "1/5");
    assert_eq!(info.actual_weight, "20");
    assert_eq!(c.route_weights(), (80, 20));
    assert_eq!(
        info.rollout["status"]["canary"]["weights"]["stable"]["weight"],
        80
    );
    // The DestinationRule subsets select the two ReplicaSets (§7.4).
    let dr = c
        .store
        .get(rt("destinationrules"), "manifest-gen", "manifest-gen-dr")
        .unwrap();
    let subsets: Vec<(String, String)> = dr["spec"]["subsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_string(),
                s["labels"]["rollouts-pod-template-hash"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let canary = info.replica_sets.iter().find(|r| r.canary).unwrap();
    let stable = info.replica_sets.iter().find(|r| r.stable).unwrap();
    assert!(subsets.contains(&("canary".into(), canary.pod_template_hash.clone())));
    assert!(subsets.contains(&("stable".into(), stable.pod_template_hash.clone())));

    assert_eq!(canary.images, [SEED_CANARY_IMAGE]);
    assert!(
        c.events()
            .iter()
            .any(|m| m == "Traffic weight updated from 0 to 20"),
        "{:?}",
        c.events()
    );
}

#[test]
fn promote_moves_to_50_then_the_timed_pause_ends_healthy() {
    let c = Cluster::at_first_pause();
    // Promote as `kubectl argo rollouts promote` does at a pause (§3.1 b).
    c.patch_rollout(
        Subresource::Status,
        json!({"status": {"pauseConditions": null}}),
    );
    c.pass(SignedDuration::from_secs(3));
    let info = c.info();
    assert_eq!(c.route_weights(), (50, 50));
    assert_eq!(info.step, "3/5");
    assert_eq!(
        (info.status.as_str(), info.message.as_str()),
        ("Paused", "CanaryPauseStep")
    );
    assert!(
        info.pauses[0]["startTime"].is_string(),
        "a timed pause records when it began"
    );

    c.pass(SignedDuration::from_secs(31));
    c.pass(SignedDuration::from_secs(3));
    let info = c.info();
    assert_eq!(
        (info.status.as_str(), info.message.as_str()),
        ("Healthy", "")
    );
    assert_eq!(info.step, "5/5");
    // All traffic on the new version: the stable subset now selects it.
    assert_eq!(c.route_weights(), (100, 0));
    let stable = info.replica_sets.iter().find(|r| r.stable).unwrap();
    assert_eq!(stable.images, [SEED_CANARY_IMAGE]);
    let old = info.replica_sets.iter().find(|r| !r.stable).unwrap();
    assert!(old.scaled_down, "{old:?}");
}

#[test]
fn abort_sends_all_traffic_back_and_degrades() {
    let c = Cluster::at_first_pause();
    c.patch_rollout(Subresource::Status, json!({"status": {"abort": true}}));
    c.pass(SignedDuration::from_secs(3));
    let info = c.info();
    assert_eq!(c.route_weights(), (100, 0));
    assert_eq!(info.status, "Degraded");

    assert!(
        info.message
            .starts_with("RolloutAborted: Rollout aborted update to revision 2"),
        "{}",
        info.message
    );

    // Retry resumes from the first step.
    c.patch_rollout(Subresource::Status, json!({"status": {"abort": false}}));
    c.pass(SignedDuration::from_secs(3));
    c.pass(SignedDuration::from_secs(3));
    let info = c.info();
    assert_eq!(
        (info.status.as_str(), info.message.as_str()),
        ("Paused", "CanaryPauseStep")
    );
    assert_eq!(c.route_weights(), (80, 20));
}

/// Argo keeps an aborted, traffic-routed canary's pods for
/// `abortScaleDownDelaySeconds` (30 by default) once stable serves all the
/// traffic: marked with `scale-down-deadline`, scaled to zero after it
/// (replicaset.go: reconcileNewReplicaSet). A retry takes the mark off.
#[test]
fn an_aborted_canary_keeps_its_pods_until_its_scale_down_deadline() {
    let c = Cluster::at_first_pause();
    let canary_pods = |c: &Cluster| {
        let seen = c.info();
        let canary = seen.replica_sets.iter().find(|r| r.canary).unwrap();
        (canary.pods.len(), canary.scale_down_deadline.clone())
    };
    let (before, deadline) = canary_pods(&c);
    assert!(before > 0 && deadline.is_empty(), "{before} {deadline}");
    let aborted_at = c.store.clock.now();
    c.patch_rollout(Subresource::Status, json!({"status": {"abort": true}}));
    c.pass(SignedDuration::from_secs(3));
    assert_eq!(c.route_weights(), (100, 0), "all traffic back on stable");
    let (during, deadline) = canary_pods(&c);
    assert_eq!(
        during, before,
        "the canary's pods stay while the delay runs"
    );
    let deadline: jiff::Timestamp = deadline.parse().unwrap();
    let delay = deadline.duration_since(aborted_at).as_secs();
    assert!(
        (29..=30).contains(&delay),
        "deadline {delay} s after the abort"
    );

    c.pass(SignedDuration::from_secs(20));
    assert_eq!(canary_pods(&c).0, before, "still up 23 s after");
    c.pass(SignedDuration::from_secs(10));
    c.pass(SignedDuration::from_secs(1));
    assert_eq!(canary_pods(&c).0, 0, "gone after the deadline");

    // A retry scales the canary up again, unmarked.
    c.patch_rollout(Subresource::Status, json!({"status": {"abort": false}}));
    c.pass(SignedDuration::from_secs(3));
    c.pass(SignedDuration::from_secs(3));
    let (after_retry, deadline) = canary_pods(&c);
    assert!(
        after_retry > 0 && deadline.is_empty(),
        "{after_retry} {deadline:?}"
    );
}

/// `abortScaleDownDelaySeconds` set: that delay instead of 30 s.
#[test]
fn an_aborted_canary_waits_the_delay_its_rollout_sets() {
    let c = Cluster::at_first_pause();
    c.patch_rollout(
        Subresource::Main,
        json!({"spec": {"strategy": {"canary": {"abortScaleDownDelaySeconds": 5}}}}),
    );
    let aborted_at = c.store.clock.now();
    c.patch_rollout(Subresource::Status, json!({"status": {"abort": true}}));
    c.pass(SignedDuration::from_secs(1));
    let seen = c.info();
    let canary = seen.replica_sets.iter().find(|r| r.canary).unwrap();
    let deadline: jiff::Timestamp = canary.scale_down_deadline.parse().unwrap();
    // Whole-second stamps, as the API server writes them.
    let delay = deadline.duration_since(aborted_at).as_secs();
    assert!((4..=5).contains(&delay), "{delay}");
    assert!(!canary.pods.is_empty());
    c.pass(SignedDuration::from_secs(6));
    let seen = c.info();
    assert!(
        seen.replica_sets
            .iter()
            .find(|r| r.canary)
            .unwrap()
            .pods
            .is_empty()
    );
}

#[test]
fn blue_green_waits_for_promotion_then_switches_and_scales_down_the_old() {
    let c = Cluster::at_first_pause();
    let info = c.info_of("shop", "checkout");
    assert_eq!(
        (info.status.as_str(), info.message.as_str()),
        ("Paused", "BlueGreenPause")
    );
    let roles: Vec<(bool, bool, bool)> = info
        .replica_sets
        .iter()
        .map(|r| (r.stable, r.active, r.preview))
        .collect();
    assert_eq!(
        roles,
        [(false, false, true), (true, true, false)],
        "new = preview, old = stable + active"
    );
    assert_eq!(info.pauses[0]["reason"], "BlueGreenPause");
    assert_eq!(
        info.rollout["spec"]["strategy"]["blueGreen"]["autoPromotionEnabled"], false,
        "no auto-promotion: waits for a person"
    );
    let (new_hash, old_hash) = (
        info.replica_sets[0].pod_template_hash.clone(),
        info.replica_sets[1].pod_template_hash.clone(),
    );
    assert_eq!(c.service_hash("shop", "checkout-active"), old_hash);
    assert_eq!(c.service_hash("shop", "checkout-preview"), new_hash);

    c.patch(
        ("shop", "checkout"),
        Subresource::Status,
        json!({"status": {"pauseConditions": null}}),
    );
    c.pass(SignedDuration::from_secs(1));
    let info = c.info_of("shop", "checkout");
    assert_eq!(
        (info.status.as_str(), info.message.as_str()),
        ("Healthy", "")
    );
    let old = &info.replica_sets[1];
    assert!(info.replica_sets[0].active && info.replica_sets[0].stable);
    assert_eq!(c.service_hash("shop", "checkout-active"), new_hash);
    assert!(
        !old.scale_down_deadline.is_empty(),
        "the old ReplicaSet waits for its scale-down deadline"
    );
    assert_eq!(old.replicas, 2);
    c.pass(SignedDuration::from_secs(31));
    let info = c.info_of("shop", "checkout");
    assert!(info.replica_sets[1].scaled_down);
}

#[test]
fn an_unpullable_image_degrades_after_the_progress_deadline() {
    let c = Cluster::at_first_pause();
    let info = c.info_of("shop", "recommendations");
    assert_eq!(info.status, "Progressing");
    let canary = info.replica_sets.iter().find(|r| r.canary).unwrap();
    let waiting = &canary.pods[0]["status"]["containerStatuses"][0];
    assert_eq!(waiting["state"]["waiting"]["reason"], "ImagePullBackOff");
    assert_eq!(waiting["ready"], false);
    c.pass(SignedDuration::from_secs(61));
    let info = c.info_of("shop", "recommendations");
    assert_eq!(info.status, "Degraded");
    assert_eq!(
        info.message,
        format!(
            "ProgressDeadlineExceeded: ReplicaSet \"{}\" has timed out progressing.",
            canary.name
        )
    );
}

#[test]
fn a_failing_analysis_aborts_the_canary() {
    let c = Cluster::at_first_pause();
    // Past its 20 s pause, to its analysis.
    c.pass(SignedDuration::from_secs(21));
    c.pass(SignedDuration::from_secs(3));
    let info = c.info_of("shop", "search");
    assert_eq!(info.status, "Degraded", "{info:?}");
    assert_eq!(
        info.message,
        "RolloutAborted: Rollout aborted update to revision 2: Metric \"success-rate\" assessed Failed due to failed (1) > failureLimit (0)"
    );
    assert_eq!(info.actual_weight, "0", "all traffic back at stable");
    // The run as Argo's analysis controller writes it (analysis.go).
    let run = &info.analysis_runs[0]["status"];
    assert_eq!(run["phase"], "Failed");
    assert_eq!(
        run["message"],
        "Metric \"success-rate\" assessed Failed due to failed (1) > failureLimit (0)"
    );
    assert_eq!(run["runSummary"], json!({"count": 1, "failed": 1}));
    assert_eq!(run["dryRunSummary"], json!({}));
    assert!(run["startedAt"].is_string() && run["completedAt"].is_string());
    let metric = &run["metricResults"][0];
    assert_eq!(metric["name"], "success-rate");
    assert_eq!(
        (
            metric["phase"].as_str(),
            metric["count"].as_i64(),
            metric["failed"].as_i64()
        ),
        (Some("Failed"), Some(1), Some(1))
    );
    assert_eq!(metric["measurements"][0]["value"], "[0.42]");
    assert!(metric["metadata"]["ResolvedPrometheusQuery"].is_string());
}

#[test]
fn an_inconclusive_analysis_pauses_until_someone_promotes() {
    let c = Cluster::seed();
    let search = ("shop", "search");
    c.patch(
        search,
        Subresource::Main,
        json!({"metadata": {"annotations": {"sim.rollouts-dashboard.io/analysis": "Inconclusive"}}}),
    );
    c.patch(
        search,
        Subresource::Main,
        json!({"spec": {"template": {"spec": {"containers": [{"name": "search", "image": "ghcr.io/example/search:3.2.0"}]}}}}),
    );
    c.pass(SignedDuration::from_secs(3));
    c.pass(SignedDuration::from_secs(21));
    c.pass(SignedDuration::from_secs(3));
    let info = c.info_of("shop", "search");
    assert_eq!(
        (info.status.as_str(), info.message.as_str()),
        ("Paused", "InconclusiveAnalysisRun")
    );
    assert_eq!(info.step, "2/4");
    assert_eq!(info.analysis_runs[0]["status"]["phase"], "Inconclusive");

    // Promote as Argo does for an inconclusive analysis (§3.1 a).
    c.patch(
        search,
        Subresource::Status,
        json!({"status": {"pauseConditions": null, "controllerPause": false, "currentStepIndex": 3}}),
    );
    for _ in 0..3 {
        c.pass(SignedDuration::from_secs(3));
    }
    let info = c.info_of("shop", "search");
    assert_eq!(
        (info.status.as_str(), info.message.as_str()),
        ("Healthy", "")
    );
    assert_eq!(info.step, "4/4");
}

/// `spec.restartAt` (what the dashboard's Restart sends): the controller
/// replaces every pod, one at a time, says "rollout is restarting" until it
/// is done, then records `status.restartedAt`.
#[test]
fn restart_replaces_every_pod_then_records_restarted_at() {
    let c = Cluster::seed();
    c.patch_rollout(Subresource::Main, json!({"spec": {"replicas": 3}}));
    c.pass(SignedDuration::from_secs(3));
    // Pods come back under the same name; their uid tells them apart.
    let pod_uids = |c: &Cluster| -> Vec<String> {
        let pods: Vec<Pod> = c.list("pods");
        pods.iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some("manifest-gen"))
            .filter_map(|p| p.metadata.uid.clone())
            .collect()
    };
    let before = pod_uids(&c);
    assert_eq!(before.len(), 3);
    c.store.clock.advance(SignedDuration::from_secs(1));
    let at = c.store.clock.now_rfc3339();
    c.patch_rollout(Subresource::Main, json!({"spec": {"restartAt": at}}));
    // Two controller passes: one pod goes, its replacement is not Ready yet,
    // so the others wait.
    c.controller.reconcile_all();
    c.controller.reconcile_all();
    let info = c.info();
    assert_eq!(
        (info.status.as_str(), info.message.as_str()),
        ("Progressing", "rollout is restarting")
    );
    let replaced = pod_uids(&c).iter().filter(|p| !before.contains(p)).count();
    assert_eq!(replaced, 1, "one at a time");
    for _ in 0..(4 * before.len()) {
        c.pass(SignedDuration::from_secs(3));
    }
    let after = pod_uids(&c);
    assert_eq!(after.len(), before.len(), "as many pods as before");
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "every pod replaced"
    );
    let ro: Vec<Rollout> = c.list("rollouts");
    let seed = ro
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some("manifest-gen"))
        .unwrap();
    assert_eq!(
        seed.status()
            .restarted_at()
            .map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        Some(at)
    );
    assert_ne!(c.info().message, "rollout is restarting");
}

/// Host-level splitting (§7.5): the stable and canary Services select the
/// stable and canary ReplicaSets; an abort points the canary one back.
#[test]
fn canary_services_follow_the_replica_sets() {
    let c = Cluster::seed();
    for name in ["web-stable", "web-canary"] {
        let svc = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
        c.store.create(rt("services"), "shop", svc, false).unwrap();
    }
    let rollout = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"canary": {"stableService": "web-stable", "canaryService": "web-canary",
                "steps": [{"setWeight": 50}, {"pause": {}}]}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}});
    c.store
        .create(rt("rollouts"), "shop", rollout, false)
        .unwrap();
    c.pass(SignedDuration::from_secs(3));
    let v1 = c.info_of("shop", "web").replica_sets[0]
        .pod_template_hash
        .clone();
    assert_eq!(c.service_hash("shop", "web-stable"), v1);
    assert_eq!(c.service_hash("shop", "web-canary"), v1);

    c.patch(
        ("shop", "web"),
        Subresource::Main,
        json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}}),
    );
    c.pass(SignedDuration::from_secs(3));
    c.pass(SignedDuration::from_secs(3));
    let info = c.info_of("shop", "web");
    assert_eq!(info.status, "Paused");
    let v2 = info.hash_of(|r| r.canary);
    assert_ne!(v1, v2);
    assert_eq!(c.service_hash("shop", "web-stable"), v1);
    assert_eq!(c.service_hash("shop", "web-canary"), v2);

    c.patch(
        ("shop", "web"),
        Subresource::Status,
        json!({"status": {"abort": true}}),
    );
    c.pass(SignedDuration::from_secs(3));
    assert_eq!(c.service_hash("shop", "web-canary"), v1);
}

fn set_seed_image(c: &Cluster, image: &str) {
    crate::harness::patch_seed(&c.store, |o| {
        set_image(o, "manifest-gen", image);
        Ok(())
    });
}

/// A new version while a canary is under way (§3.4): a new ReplicaSet and
/// revision, the unfinished canary scaled away, the steps start over, and
/// the stable version keeps its traffic.
#[test]
fn a_new_revision_during_a_canary_starts_the_steps_over() {
    let c = Cluster::at_first_pause();
    set_seed_image(&c, "anantvaid4/manifest-generator-api:v3");
    c.pass(SignedDuration::from_secs(3));
    let info = c.info();
    assert_eq!(
        (info.status.as_str(), info.message.as_str()),
        ("Paused", "CanaryPauseStep")
    );
    assert_eq!(info.step, "1/5");
    assert_eq!(c.route_weights(), (80, 20));
    let canary = info.replica_sets.iter().find(|r| r.canary).unwrap();
    assert_eq!(canary.revision, 3);
    assert_eq!(canary.images, ["anantvaid4/manifest-generator-api:v3"]);
    let v2 = info.replica_sets.iter().find(|r| r.revision == 2).unwrap();
    assert!(v2.scaled_down, "{v2:?}");
    let stable = info.replica_sets.iter().find(|r| r.stable).unwrap();
    assert_eq!(stable.images, ["anantvaid4/manifest-generator-api:v1"]);
}

/// Going back to the stable template mid-canary (a rollback to stable)
/// skips the steps: all traffic on stable at once, Healthy.
#[test]
fn a_rollback_to_the_stable_template_skips_the_steps() {
    let c = Cluster::at_first_pause();
    set_seed_image(&c, "anantvaid4/manifest-generator-api:v1");
    c.pass(SignedDuration::from_secs(3));
    let info = c.info();
    assert_eq!(
        (info.status.as_str(), info.message.as_str()),
        ("Healthy", "")
    );
    assert_eq!(info.step, "5/5");
    assert_eq!(c.route_weights(), (100, 0));
    let v2 = info.replica_sets.iter().find(|r| r.revision == 2).unwrap();
    assert_eq!(v2.replicas, 0);
}

/// istio-demo/reviews: header and mirror routes written into the
/// VirtualService as Argo writes them (§7.7), an experiment running both
/// templates with its analysis for its duration, a step plugin's status,
/// and every managed route removed once the rollout is promoted.
#[test]
fn header_and_mirror_routes_an_experiment_and_a_plugin_step_run_as_in_argo() {
    let c = Cluster::at_first_pause();
    let key = ("istio-demo", "reviews");
    for _ in 0..40 {
        if c.info_of(key.0, key.1).step == "5/7" {
            break;
        }
        c.pass(SignedDuration::from_secs(3));
    }
    let info = c.info_of(key.0, key.1);
    assert_eq!(
        (
            info.status.as_str(),
            info.message.as_str(),
            info.step.as_str()
        ),
        ("Paused", "CanaryPauseStep", "5/7"),
        "{:?}",
        info.rollout["status"]
    );
    let vs = c
        .store
        .get(rt("virtualservices"), key.0, "reviews-vs")
        .unwrap();
    let http = vs["spec"]["http"].as_array().unwrap();
    let names: Vec<&str> = http.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(
        names,
        ["mirror-reads", "testers", "primary"],
        "managed routes first, in managedRoutes order"
    );
    assert_eq!(
        http[1]["match"],
        json!([{"headers": {"x-canary": {"exact": "yes"}}}])
    );
    assert_eq!(
        http[1]["route"],
        json!([{"destination": {"host": "reviews-canary"}, "weight": 100}])
    );
    assert_eq!(http[0]["mirror"], json!({"host": "reviews-canary"}));
    assert_eq!(http[0]["mirrorPercentage"], json!({"value": 25.0}));
    assert_eq!(http[2]["route"][1]["weight"], 10);

    // The experiment: both templates ran as ReplicaSets, its analysis passed.
    let experiments: Vec<Value> = c
        .store
        .list(rt("experiments"), &Filter::default(), None, None)
        .unwrap()
        .items
        .iter()
        .map(|e| (**e).clone())
        .collect();
    assert_eq!(experiments.len(), 1);
    let e = &experiments[0];
    let name = e["metadata"]["name"].as_str().unwrap();
    let canary = info.replica_sets.iter().find(|r| r.canary).unwrap();
    assert_eq!(
        name,
        format!("reviews-{}-2-3", canary.pod_template_hash),
        "<rollout>-<hash>-<revision>-<step>"
    );
    assert_eq!(e["status"]["phase"], "Successful", "{:?}", e["status"]);
    assert!(e["status"]["availableAt"].is_string());
    let templates = e["status"]["templateStatuses"].as_array().unwrap();
    assert_eq!(templates.len(), 2);
    assert!(
        templates.iter().all(|t| t["status"] == "Successful"),
        "{templates:?}"
    );
    assert_eq!(e["status"]["analysisRuns"][0]["phase"], "Successful");
    assert_eq!(
        e["status"]["conditions"][0]["reason"],
        "ExperimentCompleted"
    );
    assert_eq!(
        e["status"]["conditions"][0]["message"],
        format!("Experiment \"{name}\" has successfully ran and completed.")
    );
    for t in ["baseline", "canary"] {
        let rs = c
            .store
            .get(rt("replicasets"), key.0, &format!("{name}-{t}"))
            .unwrap();
        assert_eq!(
            rs["metadata"]["annotations"]["experiment.argoproj.io/template-name"],
            t
        );
        assert_eq!(
            rs["spec"]["replicas"], 0,
            "scaled down once the experiment ended"
        );
    }
    let run = c
        .store
        .get(rt("analysisruns"), key.0, &format!("{name}-compare"))
        .unwrap();
    assert_eq!(run["status"]["phase"], "Successful");
    assert!(
        c.events()
            .iter()
            .any(|m| *m == format!("Created Experiment '{name}'"))
    );

    // The plugin step's status, as Argo records a plugin's calls.
    let plugin = &info.rollout["status"]["canary"]["stepPluginStatuses"][0];
    assert_eq!(
        (
            plugin["name"].as_str(),
            plugin["index"].as_i64(),
            plugin["operation"].as_str(),
            plugin["phase"].as_str()
        ),
        (
            Some("argoproj-labs/smoke-test"),
            Some(4),
            Some("Run"),
            Some("Successful")
        )
    );

    // Promoted to the end: the managed routes go.
    c.patch(
        key,
        Subresource::Status,
        json!({"status": {"promoteFull": true}}),
    );
    for _ in 0..5 {
        c.pass(SignedDuration::from_secs(3));
    }
    let info = c.info_of(key.0, key.1);
    assert_eq!(
        (info.status.as_str(), info.step.as_str()),
        ("Healthy", "7/7")
    );
    let vs = c
        .store
        .get(rt("virtualservices"), key.0, "reviews-vs")
        .unwrap();
    let names: Vec<&str> = vs["spec"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["primary"]);
}

/// A revision annotated to crash restarts its containers as the kubelet
/// does (`restartCount`, the last state `terminated` with exit code 1),
/// at the set rate from each pod's start; the other revision does not.
/// The node's metrics report them as kube-state-metrics would, beside
/// cAdvisor's CPU and memory for every running pod.
#[test]
fn a_crashing_canary_restarts_and_the_nodes_metrics_say_so() {
    let c = Cluster::at_first_pause();
    c.patch_rollout(
        Subresource::Main,
        json!({"metadata": {"annotations": {
            "sim.rollouts-dashboard.io/canary-restarts-per-hour": "360",
            "sim.rollouts-dashboard.io/canary-cpu-millicores": "400"}}}),
    );
    c.pass(SignedDuration::from_secs(30));
    let seen = c.info();
    let canary_hash = seen.hash_of(|r| r.canary);
    let pods: Vec<Pod> = c.list("pods");
    let of = |hash: &str| -> Vec<&Pod> {
        pods.iter()
            .filter(|p| {
                p.metadata.namespace.as_deref() == Some("manifest-gen")
                    && p.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("rollouts-pod-template-hash"))
                        .map(String::as_str)
                        == Some(hash)
            })
            .collect()
    };
    let restarts = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.first())
            .and_then(|c| c.restart_count)
            .unwrap_or(0)
    };
    let canary = of(&canary_hash);
    assert!(!canary.is_empty());
    for p in &canary {
        // One restart every 10 s over the ~30 s it has run.
        assert!((2..=4).contains(&restarts(p)), "{}", restarts(p));
    }
    let raw = c
        .store
        .get(
            rt("pods"),
            "manifest-gen",
            canary[0].metadata.name.as_deref().unwrap(),
        )
        .unwrap();
    assert_eq!(
        raw.pointer("/status/containerStatuses/0/lastState/terminated/exitCode"),
        Some(&json!(1))
    );
    let stable_hash = seen.hash_of(|r| r.stable);
    assert!(of(&stable_hash).iter().all(|p| restarts(p) == 0));

    let mut node = rollouts_dashboard::sim::node_metrics::NodeMetrics::default();
    let text = node.scrape(&c.store);
    let canary_pod = canary[0].metadata.name.as_deref().unwrap();
    let restart_line = text
        .lines()
        .find(|l| {
            l.starts_with("kube_pod_container_status_restarts_total{")
                && l.contains(&format!("pod=\"{canary_pod}\""))
        })
        .unwrap_or_else(|| panic!("no restarts series for {canary_pod}:\n{text}"));
    assert!(
        restart_line.ends_with(&format!(" {}", restarts(canary[0]))),
        "{restart_line}"
    );
    for p in &pods {
        let name = p.metadata.name.as_deref().unwrap();
        let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        let has = |series: &str| {
            text.lines()
                .any(|l| l.starts_with(series) && l.contains(&format!("pod=\"{name}\"")))
        };
        assert_eq!(
            has("container_memory_working_set_bytes{"),
            running,
            "{name}"
        );
        assert_eq!(has("container_cpu_usage_seconds_total{"), running, "{name}");
        assert_eq!(has("kube_pod_start_time{"), running, "{name}");
    }
}
