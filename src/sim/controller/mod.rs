//! A simulated Argo Rollouts controller for canaries, written from Argo's
//! controller code (rollout/canary.go, sync.go): ReplicaSets per pod
//! template, pods that become Ready after a delay, the step machine
//! (setWeight, pause, analysis, experiment, setCanaryScale, header and
//! mirror routes, plugin), promote, promote full, abort, retry, rollback
//! renumbering, Istio weights, and status with the phase Argo computes
//! (sim/controller/phase.rs). It never reads the dashboard's `info/`: the two are
//! checked against each other.
//!
//! It works on the store directly (it is part of the simulated cluster);
//! every write goes through the store, so watchers see each change.

mod abort_delay;
mod analysis;
mod bluegreen;
mod canary;
mod conditions;
mod crashes;
mod experiment;
mod phase;
mod pod_logs;
mod restart;
pub mod routers;
mod routes;
mod services;
pub mod traffic;

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::model::{POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, Rollout};

use super::clock::rfc3339;
use super::json::text;
use super::resources;
use super::store::{ApiError, Filter, Store, Subresource};
use traffic::{set_destination_rule_hashes, set_virtual_service_weights};

/// Scenario parameters.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Sim time from a pod's creation until it is Ready.
    pub pod_ready_after: SignedDuration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            pod_ready_after: SignedDuration::from_secs(2),
        }
    }
}

pub struct Controller {
    pub(super) store: Arc<Store>,
    pub(super) config: ControllerConfig,
}

/// What both strategies start a reconcile from (see `Controller::current`).
pub(super) struct Current {
    pub ns: String,
    pub name: String,
    pub uid: String,
    pub now: Timestamp,
    /// The current pod template's hash.
    pub hash: String,
    /// The current ReplicaSet's revision.
    pub revision: i64,
    /// `spec.replicas` (default 1).
    pub replicas: i64,
}

pub(super) fn rt(plural: &str) -> &'static resources::ResourceType {
    resources::RESOURCES
        .iter()
        .find(|r| r.plural == plural)
        .unwrap_or(&resources::RESOURCES[0])
}

impl Controller {
    pub fn new(store: Arc<Store>, config: ControllerConfig) -> Self {
        Controller { store, config }
    }

    /// Reconciles until nothing changes (at most `max_passes`); returns the
    /// number of passes that changed something.
    pub fn settle(&self, max_passes: usize) -> usize {
        let mut changed = 0;
        for _ in 0..max_passes {
            let before = self.store.resource_version();
            self.reconcile_all();
            if self.store.resource_version() == before {
                break;
            }
            changed += 1;
        }
        changed
    }

    /// Runs until `shutdown`, reconciling on a short real-time tick.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => { self.settle(20); }
            }
        }
    }

    /// One pass over every rollout.
    pub fn reconcile_all(&self) {
        let Ok(page) = self
            .store
            .list(rt("rollouts"), &Filter::default(), None, None)
        else {
            return;
        };
        self.reconcile_experiments();
        for obj in page.items {
            if let Err(e) = self.reconcile(&obj) {
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                tracing::debug!(rollout = name, error = %e, "sim controller: reconcile failed; retrying next pass");
            }
        }
    }

    fn reconcile(&self, obj: &Value) -> Result<(), ApiError> {
        let ro: Rollout = serde_json::from_value(obj.clone())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if ro.blue_green().is_some() {
            return self.reconcile_blue_green(&ro, obj);
        }
        if ro.canary().is_none() {
            return Ok(());
        }
        self.reconcile_canary(&ro, obj)
    }

    /// Identifies the rollout and its current pod template, makes sure that
    /// template's ReplicaSet exists, and records the revision on the rollout.
    /// Returns the rollout's ReplicaSets, the current one included.
    pub(super) fn current(
        &self,
        ro: &Rollout,
        obj: &Value,
    ) -> Result<(Current, Vec<Value>), ApiError> {
        let ns = ro.metadata.namespace.clone().unwrap_or_default();
        let name = ro.metadata.name.clone().unwrap_or_default();
        let uid = ro.metadata.uid.clone().unwrap_or_default();
        let template = obj
            .pointer("/spec/template")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let hash = template_hash(&template);
        let mut rs_list = self.owned_replica_sets(&ns, &uid)?;
        let older = rs_list
            .iter()
            .filter(|r| rs_hash(r) != hash)
            .map(revision)
            .max()
            .unwrap_or(0);
        let current_rs = match rs_list.iter().position(|r| rs_hash(r) == hash) {
            Some(i) => {
                // Going back to an older ReplicaSet gives it the next
                // revision and keeps its old numbers in revision-history
                // (rollout/sync.go: syncReplicaSetRevision).
                if revision(&rs_list[i]) <= older {
                    rs_list[i] = self.renumber(&rs_list[i], older + 1)?;
                }
                rs_list[i].clone()
            }
            None => {
                let created = self.create_replica_set(ro, &template, &hash, older + 1)?;
                rs_list.push(created.clone());
                created
            }
        };
        let current_rev = revision(&current_rs);
        self.store
            .patch(rt("rollouts"), &ns, &name, Subresource::Main, |o| {
                o["metadata"]["annotations"][REVISION_ANNOTATION] = json!(current_rev.to_string());
                Ok(())
            })?;
        let current = Current {
            ns,
            name,
            uid,
            now: self.store.clock.now(),
            hash,
            revision: current_rev,
            replicas: i64::from(ro.desired_replicas()),
        };
        Ok((current, rs_list))
    }

    /// Writes the rollout's status with observedGeneration and the phase
    /// and message Argo's controller computes (sim/controller/phase.rs), unless the
    /// rollout changed since it was `read` (as `ro`).
    pub(super) fn write_status(
        &self,
        ro: &Rollout,
        read: &Value,
        ns: &str,
        name: &str,
        mut status: Value,
    ) -> Result<(), ApiError> {
        self.restart_pods(ro, ns, &mut status)?;
        status["observedGeneration"] = json!(ro.metadata.generation.unwrap_or(0).to_string());
        status["phase"] = Value::Null;
        status["message"] = Value::Null;
        let status = strip_nulls(&status);
        let spec = read.get("spec").cloned().unwrap_or_else(|| json!({}));
        let (phase, message) = phase::rollout_phase(&spec, &status);
        let mut status = status;
        status["phase"] = json!(phase);
        status["message"] = json!(message);
        self.store
            .patch(rt("rollouts"), ns, name, Subresource::Status, |o| {
                // As the real controller's update carries its informer's
                // resourceVersion: a promote or abort (or a new spec) that
                // landed since the read must not be overwritten with a
                // status computed without it. The next pass sees it.
                if o.get("spec") != read.get("spec") || o.get("status") != read.get("status") {
                    return Err(ApiError::conflict(rt("rollouts"), name));
                }
                o["status"] = status;
                Ok(())
            })?;
        Ok(())
    }

    pub(super) fn owned_replica_sets(&self, ns: &str, uid: &str) -> Result<Vec<Value>, ApiError> {
        let filter = Filter {
            namespace: Some(ns.to_string()),
            ..Filter::default()
        };
        let page = self.store.list(rt("replicasets"), &filter, None, None)?;
        Ok(page
            .items
            .iter()
            .filter(|r| owned_by(r, uid))
            .map(|r| (**r).clone())
            .collect())
    }

    pub(super) fn create_replica_set(
        &self,
        ro: &Rollout,
        template: &Value,
        hash: &str,
        revision: i64,
    ) -> Result<Value, ApiError> {
        let name = ro.metadata.name.clone().unwrap_or_default();
        let ns = ro.metadata.namespace.clone().unwrap_or_default();
        let mut template = template.clone();
        template["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] = json!(hash);
        let labels = template["metadata"]["labels"].clone();
        let rs = json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": format!("{name}-{hash}"), "namespace": ns, "labels": labels,
                "annotations": {REVISION_ANNOTATION: revision.to_string()},
                "ownerReferences": [owner("argoproj.io/v1alpha1", "Rollout", &name, ro.metadata.uid.as_deref().unwrap_or_default())]},
            "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": template},
            "status": {"replicas": 0, "observedGeneration": 1}
        });
        let created = (*self.store.create(rt("replicasets"), &ns, rs, true)?).clone();
        self.event(
            &ns,
            &name,
            "Normal",
            "NewReplicaSetCreated",
            &format!("Created ReplicaSet {name}-{hash} (revision {revision})"),
        )?;
        Ok(created)
    }

    /// Gives `rs` revision `next`, appending its old one to
    /// `rollout.argoproj.io/revision-history`
    /// (annotations.go: SetNewReplicaSetAnnotations).
    fn renumber(&self, rs: &Value, next: i64) -> Result<Value, ApiError> {
        let (ns, name) = ns_name(rs);
        let old = revision(rs);
        let renumbered =
            self.store
                .patch(rt("replicasets"), &ns, &name, Subresource::Main, |o| {
                    let annotations = &mut o["metadata"]["annotations"];
                    let history = annotations
                        .get(REVISION_HISTORY_ANNOTATION)
                        .and_then(Value::as_str)
                        .filter(|h| !h.is_empty())
                        .map_or_else(|| old.to_string(), |h| format!("{h},{old}"));
                    annotations[REVISION_HISTORY_ANNOTATION] = json!(history);
                    annotations[REVISION_ANNOTATION] = json!(next.to_string());
                    Ok(())
                })?;
        Ok((*renumbered).clone())
    }

    pub(super) fn scale_replica_set(&self, rs: &Value, replicas: i64) -> Result<(), ApiError> {
        if rs.pointer("/spec/replicas").and_then(Value::as_i64) == Some(replicas) {
            return Ok(());
        }
        let (ns, name) = ns_name(rs);
        let from = rs
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        self.store
            .patch(rt("replicasets"), &ns, &name, Subresource::Main, |o| {
                o["spec"]["replicas"] = json!(replicas);
                Ok(())
            })?;
        // The real controller's wording (ScalingReplicaSet).
        let rollout = text(rs, "/metadata/ownerReferences/0/name");
        let revision = text(
            rs,
            &format!(
                "/metadata/annotations/{}",
                REVISION_ANNOTATION.replace('/', "~1")
            ),
        );
        let direction = if replicas > from { "up" } else { "down" };
        self.event(
            &ns,
            &rollout,
            "Normal",
            "ScalingReplicaSet",
            &format!("Scaled {direction} ReplicaSet {name} (revision {revision}) from {from} to {replicas}"),
        )
    }

    /// Creates and deletes pods to match each ReplicaSet of the rollout with
    /// uid `owner`, marks pods Ready once old enough, and writes ReplicaSet
    /// status.
    /// Every pod of namespace `ns`.
    pub(super) fn pods_in(&self, ns: &str) -> Result<Vec<Arc<Value>>, ApiError> {
        let filter = Filter {
            namespace: Some(ns.to_string()),
            ..Filter::default()
        };
        Ok(self.store.list(rt("pods"), &filter, None, None)?.items)
    }

    pub(super) fn sync_pods(
        &self,
        ns: &str,
        rollout_uid: &str,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        let filter = Filter {
            namespace: Some(ns.to_string()),
            ..Filter::default()
        };
        let rs_all = self
            .store
            .list(rt("replicasets"), &filter, None, None)?
            .items;
        let pods_all = self.pods_in(ns)?;
        for rs in rs_all.iter().filter(|r| owned_by(r, rollout_uid)) {
            let Some(uid) = rs.pointer("/metadata/uid").and_then(Value::as_str) else {
                continue;
            };
            let (_, rs_name) = ns_name(rs);
            let want = rs
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .max(0) as usize;
            let mut pods: Vec<Arc<Value>> = pods_all
                .iter()
                .filter(|p| owned_by(p, uid))
                .cloned()
                .collect();
            pods.sort_by_key(|p| text(p, "/metadata/name"));
            while pods.len() > want {
                if let Some(p) = pods.pop() {
                    let (_, n) = ns_name(&p);
                    self.store.delete(rt("pods"), ns, &n)?;
                }
            }
            let mut n = 0;
            while pods.len() < want {
                let name = loop {
                    let candidate = format!("{rs_name}-{}", pod_suffix(n));
                    n += 1;
                    if !pods.iter().any(|p| {
                        p.pointer("/metadata/name").and_then(Value::as_str)
                            == Some(candidate.as_str())
                    }) {
                        break candidate;
                    }
                };
                let containers = rs
                    .pointer("/spec/template/spec/containers")
                    .cloned()
                    .unwrap_or_else(|| json!([]));
                let pod = json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "generateName": format!("{rs_name}-"), "namespace": ns, "labels": rs.pointer("/spec/template/metadata/labels").cloned().unwrap_or_else(|| json!({})),
                        "ownerReferences": [owner("apps/v1", "ReplicaSet", &rs_name, uid)]},
                    "spec": {"containers": containers},
                    "status": {"phase": "Pending", "conditions": []}
                });
                pods.push(self.store.create(rt("pods"), ns, pod, true)?);
            }
            let mut ready = 0i64;
            for p in &pods {
                let created = p
                    .pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<Timestamp>().ok());
                let containers: Vec<(Value, String)> = p
                    .pointer("/spec/containers")
                    .and_then(Value::as_array)
                    .map(|cs| {
                        cs.iter()
                            .map(|c| {
                                (
                                    c.get("name").cloned().unwrap_or(Value::Null),
                                    text(c, "/image"),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if containers.iter().any(|(_, i)| unpullable(i)) {
                    let waiting = p
                        .pointer("/status/containerStatuses/0/state/waiting/reason")
                        .and_then(Value::as_str);
                    if waiting != Some("ImagePullBackOff") {
                        let (_, n) = ns_name(p);
                        let statuses: Vec<Value> = containers.iter().map(|(c, i)| json!({
                            "name": c, "image": i, "ready": false, "restartCount": 0,
                            "state": {"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{i}\"")}}
                        })).collect();
                        self.store
                            .patch(rt("pods"), ns, &n, Subresource::Status, move |o| {
                                o["status"] =
                                    json!({"phase": "Pending", "containerStatuses": statuses});
                                Ok(())
                            })?;
                    }
                    continue;
                }
                let is_ready = created.is_some_and(|c| {
                    c.checked_add(self.config.pod_ready_after)
                        .is_ok_and(|t| now >= t)
                });
                if is_ready {
                    ready += 1;
                    if p.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
                        let (_, n) = ns_name(p);
                        let statuses: Vec<Value> = p.pointer("/spec/containers").and_then(Value::as_array).map(|cs| cs.iter().map(|c| json!({
                            "name": c.get("name").cloned().unwrap_or(Value::Null), "image": c.get("image").cloned().unwrap_or(Value::Null),
                            "ready": true, "started": true, "restartCount": 0, "state": {"running": {"startedAt": rfc3339(now)}}
                        })).collect()).unwrap_or_default();
                        let ts = rfc3339(now);
                        self.store.patch(rt("pods"), ns, &n, Subresource::Status, move |o| {
                            o["status"] = json!({"phase": "Running", "startTime": ts,
                                "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": statuses});
                            Ok(())
                        })?;
                    }
                }
            }
            let count = pods.len() as i64;
            let rs_status = json!({"replicas": count, "readyReplicas": ready, "availableReplicas": ready,
                "fullyLabeledReplicas": count, "observedGeneration": rs.pointer("/metadata/generation").cloned().unwrap_or(json!(1))});
            if rs.get("status") != Some(&rs_status) {
                self.store.patch(
                    rt("replicasets"),
                    ns,
                    &rs_name,
                    Subresource::Status,
                    move |o| {
                        o["status"] = rs_status;
                        Ok(())
                    },
                )?;
            }
        }
        Ok(())
    }

    pub(super) fn apply_istio(
        &self,
        ro: &Rollout,
        istio: &crate::model::IstioTrafficRouting,
        ns: &str,
        weight: i64,
        canary_hash: &str,
        stable_hash: &str,
    ) -> Result<(), ApiError> {
        for r in istio.virtual_service_refs() {
            let (vs_ns, name) =
                traffic::virtual_service_key(r.name.as_deref().unwrap_or_default(), ns);
            let Ok(vs) = self.store.get(rt("virtualservices"), &vs_ns, &name) else {
                continue;
            };
            let routes = r.routes.clone().unwrap_or_default();
            if let Some(next) = set_virtual_service_weights(ro, istio, &routes, &vs, weight) {
                self.store.update(
                    rt("virtualservices"),
                    &vs_ns,
                    &name,
                    next,
                    Subresource::Main,
                )?;
                let ro_name = ro.metadata.name.clone().unwrap_or_default();
                self.event(
                    ns,
                    &ro_name,
                    "Normal",
                    "TrafficWeightUpdated",
                    &format!("VirtualService `{name}` set to desiredWeight '{weight}'"),
                )?;
            }
        }
        if let Some(dr_ref) = &istio.destination_rule {
            let name = dr_ref.name.clone().unwrap_or_default();
            if let Ok(dr) = self.store.get(rt("destinationrules"), ns, &name) {
                let ro_name = ro.metadata.name.clone().unwrap_or_default();
                if let Some(next) =
                    set_destination_rule_hashes(&ro_name, istio, &dr, canary_hash, stable_hash)
                {
                    self.store.update(
                        rt("destinationrules"),
                        ns,
                        &name,
                        next,
                        Subresource::Main,
                    )?;
                }
            }
        }
        Ok(())
    }

    /// NGINX, ALB and Gateway API weights (sim/controller/routers.rs).
    pub(super) fn apply_routers(
        &self,
        ro: &Rollout,
        ns: &str,
        weight: i64,
    ) -> Result<(), ApiError> {
        let Some(routing) = ro.traffic_routing() else {
            return Ok(());
        };
        let ro_name = ro.metadata.name.clone().unwrap_or_default();
        let set = |plural: &str, obj_ns: &str, name: &str, next: Value| -> Result<(), ApiError> {
            self.store
                .update(rt(plural), obj_ns, name, next, Subresource::Main)?;
            self.event(
                ns,
                &ro_name,
                "Normal",
                "TrafficWeightUpdated",
                &format!("{plural} `{name}` set to desiredWeight '{weight}'"),
            )
        };
        if let Some(nginx) = &routing.nginx {
            for stable_name in nginx.stable_ingress_names() {
                let Ok(stable) = self.store.get(rt("ingresses"), ns, stable_name) else {
                    continue;
                };
                let canary = routers::nginx_canary_ingress(ro, nginx, &stable, weight);
                let name = text(&canary, "/metadata/name");
                match self.store.get(rt("ingresses"), ns, &name) {
                    Ok(old) => {
                        let mut next = (*old).clone();
                        next["metadata"]["annotations"] = canary["metadata"]["annotations"].clone();
                        next["spec"] = canary["spec"].clone();
                        if next != *old {
                            set("ingresses", ns, &name, next)?;
                        }
                    }
                    Err(_) => {
                        self.store.create(rt("ingresses"), ns, canary, false)?;
                    }
                }
            }
        }
        if let Some(alb) = &routing.alb {
            for name in alb.ingress_names() {
                if let Ok(ingress) = self.store.get(rt("ingresses"), ns, name)
                    && let Some(next) = routers::alb_ingress(ro, alb, &ingress, weight)
                {
                    set("ingresses", ns, name, next)?;
                }
            }
        }
        let refs = routers::gateway_route_refs(ro);
        let mut routes: Vec<(&'static str, String, String)> = refs
            .named
            .into_iter()
            .map(|(kind, route_ns, name)| (kind.plural(), route_ns, name))
            .collect();
        for (kind, route_ns, labels) in &refs.selected {
            let filter = super::store::Filter {
                namespace: Some(route_ns.clone()),
                ..super::store::Filter::default()
            };
            for r in self
                .store
                .list(rt(kind.plural()), &filter, None, None)
                .map(|p| p.items)
                .unwrap_or_default()
            {
                let matches = labels.iter().all(|(k, v)| {
                    r.pointer("/metadata/labels")
                        .and_then(|l| l.get(k))
                        .and_then(Value::as_str)
                        == Some(v.as_str())
                });
                if matches {
                    routes.push((kind.plural(), route_ns.clone(), text(&r, "/metadata/name")));
                }
            }
        }
        for (plural, route_ns, name) in routes {
            if let Ok(route) = self.store.get(rt(plural), &route_ns, &name)
                && let Some(next) = routers::gateway_route(ro, &route, weight)
            {
                set(plural, &route_ns, &name, next)?;
            }
        }
        Ok(())
    }

    /// A Kubernetes Event about the rollout, like the real controller's.
    pub(super) fn event(
        &self,
        ns: &str,
        rollout: &str,
        type_: &str,
        reason: &str,
        message: &str,
    ) -> Result<(), ApiError> {
        let now = rfc3339(self.store.clock.now());
        let ev = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": format!("{rollout}."), "namespace": ns},
            "involvedObject": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": rollout, "namespace": ns},
            "type": type_, "reason": reason, "message": message,
            "source": {"component": "rollouts-controller"},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1
        });
        self.store.create(rt("events"), ns, ev, false)?;
        Ok(())
    }
}

/// `rolloututil.CanaryStepString`: how Argo names a step in its events.
pub(super) fn step_string(step: &crate::model::CanaryStep) -> String {
    let name_of = |v: &Option<Box<Value>>| v.as_deref().map(|v| text(v, "/name"));
    if let Some(w) = step.set_weight {
        return format!("setWeight: {w}");
    }
    if let Some(p) = &step.pause {
        return match p
            .duration
            .as_ref()
            .and_then(|d| serde_json::to_value(d).ok())
        {
            Some(Value::String(d)) => format!("pause: {d}"),
            Some(d) => format!("pause: {d}"),
            None => "pause".into(),
        };
    }
    if step.experiment.is_some() {
        return "experiment".into();
    }
    if step.analysis.is_some() {
        return "analysis".into();
    }
    if let Some(s) = &step.set_canary_scale {
        if let Some(w) = s.weight {
            return format!("setCanaryScale{{weight: {w}}}");
        } else if s.match_traffic_weight == Some(true) {
            return "setCanaryScale{matchTrafficWeight: true}".into();
        } else if let Some(r) = s.replicas {
            return format!("setCanaryScale{{replicas: {r}}}");
        }
    }
    if let Some(n) = name_of(&step.plugin) {
        return format!("plugin: {n}");
    }
    if let Some(n) = name_of(&step.set_header_route) {
        return format!("setHeaderRoute: {n}");
    }
    if let Some(n) = name_of(&step.set_mirror_route) {
        return format!("setMirrorRoute: {n}");
    }
    "invalid".into()
}

pub(super) fn progressing(status: &str, reason: &str, message: &str, now: Timestamp) -> Value {
    json!({"type": "Progressing", "status": status, "reason": reason, "message": message,
           "lastUpdateTime": rfc3339(now), "lastTransitionTime": rfc3339(now)})
}

/// Images the simulated kubelet cannot pull: a tag containing
/// `does-not-exist` (as in Argo's own test objects).
fn unpullable(image: &str) -> bool {
    image.contains("does-not-exist")
}

/// A controller's ownerReference, as Argo's controllers set them.
pub(super) fn owner(api_version: &str, kind: &str, name: &str, uid: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true})
}

pub(super) fn owned_by(obj: &Value, uid: &str) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
        })
}

pub(super) fn ns_name(obj: &Value) -> (String, String) {
    let get = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (get("/metadata/namespace"), get("/metadata/name"))
}

pub(super) fn rs_hash(rs: &Value) -> String {
    text(rs, &format!("/metadata/labels/{POD_TEMPLATE_HASH_LABEL}"))
}

pub(super) fn revision(rs: &Value) -> i64 {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

const REVISION_HISTORY_ANNOTATION: &str = "rollout.argoproj.io/revision-history";

/// Removes object keys whose value is null (a merge patch's deletions).
fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), strip_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

/// Argo's "safe" alphabet (no vowels, no look-alikes), as in its hashes.
const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The pod template hash: FNV-1a of the template's canonical JSON, written
/// in the safe alphabet like Kubernetes' and Argo's hashes.
pub fn template_hash(template: &Value) -> String {
    let mut template = template.clone();
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    let text = template.to_string(); // serde_json maps are sorted: canonical
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let mut out = String::new();
    let mut x = u64::from(h);
    loop {
        out.push(SAFE[(x % SAFE.len() as u64) as usize] as char);
        x /= SAFE.len() as u64;
        if x == 0 {
            break;
        }
    }
    out
}

fn pod_suffix(n: usize) -> String {
    let mut x = n as u64 * 7919 + 104_729;
    let mut s = String::new();
    for _ in 0..5 {
        s.push(SAFE[(x % SAFE.len() as u64) as usize] as char);
        x /= SAFE.len() as u64;
    }
    s
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::sim::clock::SimClock;
    use crate::sim::store::{Store, Subresource};

    /// A person's abort lands between the controller's read and its status
    /// write: the write is refused (409, as the real API server refuses a
    /// stale resourceVersion) and the abort stays; the next pass acts on it.
    #[test]
    fn a_status_write_loses_to_a_change_made_since_the_read() {
        let store = Arc::new(Store::new(Arc::new(SimClock::default())));
        crate::sim::scenario::load_seed(&store);
        let c = Controller::new(store.clone(), ControllerConfig::default());
        c.settle(50);
        let (ns, name) = ("manifest-gen", "manifest-gen");
        let read = store.get(rt("rollouts"), ns, name).expect("the seed");
        let ro: Rollout = serde_json::from_value((*read).clone()).expect("a rollout");
        store
            .patch(rt("rollouts"), ns, name, Subresource::Status, |o| {
                o["status"]["abort"] = json!(true);
                Ok(())
            })
            .expect("the abort");
        let stale = read["status"].clone();
        let refused = c
            .write_status(&ro, &read, ns, name, stale)
            .expect_err("a write from a stale read");
        assert_eq!(refused.code, 409);
        let now = store.get(rt("rollouts"), ns, name).expect("the seed");
        assert_eq!(now["status"]["abort"], json!(true), "the abort stays");
        c.settle(50);
        let after = store.get(rt("rollouts"), ns, name).expect("the seed");
        assert_eq!(
            after["status"]["phase"],
            json!("Degraded"),
            "and is acted on"
        );
    }
}
