//! Sends what `actions/` planned, as the user would with kubectl: every call
//! under a timeout, `fieldManager=rollouts-dashboard`, and atomic with what
//! was checked. The rollout is read, the person's expectation and the
//! action's rules are checked against it, and the patch carries that read's
//! `metadata.resourceVersion`, so the API server refuses it (409) if the
//! rollout changed in between; then it is read and checked again (status
//! churn such as pod readiness must not refuse a still-valid action). A
//! non-idempotent call is never retried after it was accepted.

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use serde_json::{Value, json};

use crate::actions::{
    Action, Expectation, PatchPlan, Refusal, Target, check_expectation, plan, plan_rollback,
    plan_set_image, verb,
};
use crate::model::{Deployment, ReplicaSet, Rollout};

/// Every call to the API gives up after this long.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a rollout that keeps changing under an action is re-read.
const ATTEMPTS: usize = 3;
const FIELD_MANAGER: &str = "rollouts-dashboard";

/// What a person asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// Promote (full or not), abort, retry, restart, pause, resume.
    Simple(Action),
    SetImage {
        container: String,
        image: String,
    },
    /// 0: the previous revision.
    Rollback {
        revision: i64,
    },
}

impl Request {
    pub fn action(&self) -> Action {
        match self {
            Request::Simple(a) => *a,
            Request::SetImage { .. } => Action::SetImage,
            Request::Rollback { .. } => Action::Rollback,
        }
    }
}

/// The outcome: the rollout as the API returned it, and what happened.
#[derive(Clone, Debug)]
pub struct Acted {
    pub rollout: Value,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ActError {
    /// Not sent: it does not apply now, or the rollout moved on (409).
    #[error("{0}")]
    Conflict(String),
    /// Not sent: the request is wrong (422).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the Kubernetes API did not answer within {0:?}")]
    Timeout(Duration),
    /// The API server answered with a status the cases above do not cover.
    #[error("the Kubernetes API failed: {}: {}", .0.code, .0.message)]
    Api(#[source] Box<kube::core::Status>),
    /// No answer: the connection, TLS or the client failed.
    #[error("the Kubernetes API failed: {0}")]
    Unreachable(#[source] kube::Error),
    /// An answer that is not the object it should be.
    #[error("the Kubernetes API failed: unreadable answer: {0}")]
    Unreadable(#[source] serde_json::Error),
}

impl From<Refusal> for ActError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Conflict(m) => ActError::Conflict(m),
            Refusal::Invalid(m) => ActError::Invalid(m),
        }
    }
}

/// Sends actions to one cluster.
#[derive(Clone)]
pub struct Actor {
    /// Reads and patches: the dashboard's credentials, or the person's.
    client: Client,
    /// Records the Events: always the dashboard's own (a person may act on
    /// a rollout without being allowed to create Events).
    events: Client,
    timeout: Duration,
    /// Which cluster, for the audit line (empty for a dashboard of one).
    cluster: Arc<str>,
}

impl Actor {
    pub fn new(client: Client) -> Self {
        Actor {
            events: client.clone(),
            client,
            timeout: CALL_TIMEOUT,
            cluster: Arc::from(""),
        }
    }

    /// The same actor, its audit lines naming `cluster`.
    pub fn in_cluster(mut self, cluster: &str) -> Actor {
        self.cluster = Arc::from(cluster);
        self
    }

    /// The client it reads and patches with.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The same actor, reading and patching with `client` (one that acts
    /// as the person), so the API server's RBAC decides.
    pub fn acting_as(&self, client: Client) -> Actor {
        Actor {
            client,
            events: self.events.clone(),
            timeout: self.timeout,
            cluster: self.cluster.clone(),
        }
    }

    /// Checks and sends `request` for rollout `namespace/name`; `user` names
    /// who asked, for the audit line and the Kubernetes Event.
    pub async fn act(
        &self,
        namespace: &str,
        name: &str,
        request: &Request,
        expect: &Expectation,
        user: Option<&str>,
    ) -> Result<Acted, ActError> {
        let result = self.attempt(namespace, name, request, expect).await;
        let action = verb(request.action());
        let who = user.unwrap_or("(unknown user)");
        match &result {
            Ok(done) => {
                tracing::info!(target: "audit", user = who, action, cluster = %self.cluster, rollout = %format!("{namespace}/{name}"), outcome = "done", message = %done.message, "action");
                self.record_event(namespace, name, request, user, &done.rollout)
                    .await;
            }
            Err(e) => {
                tracing::info!(target: "audit", user = who, action, cluster = %self.cluster, rollout = %format!("{namespace}/{name}"), outcome = "refused", error = %e, "action");
            }
        }
        result
    }

    async fn attempt(
        &self,
        namespace: &str,
        name: &str,
        request: &Request,
        expect: &Expectation,
    ) -> Result<Acted, ActError> {
        let rollouts = self.api(namespace, &ApiResource::erase::<Rollout>(&()));
        let mut last_conflict = String::new();
        for _ in 0..ATTEMPTS {
            let raw = self.call(rollouts.get(name)).await.map_err(|e| match e {
                ActError::NotFound(_) => {
                    ActError::NotFound(format!("rollout {namespace}/{name} not found"))
                }
                other => other,
            })?;
            let raw = to_value(&raw)?;
            let ro: Rollout = serde_json::from_value(raw.clone())
                .map_err(|e| ActError::Invalid(format!("cannot read the rollout: {e}")))?;
            check_expectation(&ro, expect)?;
            let (planned, target_version) = self.plan(namespace, request, &raw, &ro).await?;
            match self
                .send(namespace, name, &planned, &raw, target_version)
                .await
            {
                Err(ActError::Conflict(m)) => {
                    tracing::debug!(rollout = name, conflict = %m, "the rollout changed under the action; checking again");
                    last_conflict = m;
                }
                other => return other,
            }
        }
        Err(ActError::Conflict(format!(
            "the rollout kept changing while {} was being sent ({last_conflict}); try again",
            verb(request.action())
        )))
    }

    /// The plan, and the resourceVersion of the object a JSON patch or
    /// update goes to.
    async fn plan(
        &self,
        namespace: &str,
        request: &Request,
        raw: &Value,
        ro: &Rollout,
    ) -> Result<(PatchPlan, String), ActError> {
        let rollout_version = resource_version(raw);
        match request {
            Request::Simple(action) => Ok((plan(*action, ro, &now())?, rollout_version)),
            Request::SetImage { container, image } => {
                // As `set image` does: the workload is looked up among Deployments by name,
                // whatever kind the reference names.
                let (object, target) = self
                    .workload_or_rollout(namespace, raw, Some("Deployment"))
                    .await?;
                let version = resource_version(&object);
                Ok((plan_set_image(&object, target, container, image)?, version))
            }
            Request::Rollback { revision } => {
                let (object, _) = self.workload_or_rollout(namespace, raw, None).await?;
                let version = resource_version(&object);
                let template = object
                    .pointer("/spec/template")
                    .cloned()
                    .unwrap_or(Value::Null);
                let sets = self.api(namespace, &ApiResource::erase::<ReplicaSet>(&()));
                let list = self
                    .call(sets.list(&ListParams::default()))
                    .await?
                    .items
                    .iter()
                    .map(to_value)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((plan_rollback(raw, &template, &list, *revision)?, version))
            }
        }
    }

    /// The object whose pod template is in force: the rollout, or the
    /// workload its `workloadRef` names, read as `as_kind` when given (set
    /// image reads a Deployment whatever the kind says) or as the
    /// reference's kind (rollback).
    async fn workload_or_rollout(
        &self,
        namespace: &str,
        raw: &Value,
        as_kind: Option<&str>,
    ) -> Result<(Value, Target), ActError> {
        let Some(w) = raw.pointer("/spec/workloadRef").filter(|w| !w.is_null()) else {
            return Ok((raw.clone(), Target::Rollout));
        };
        let kind = as_kind
            .or_else(|| w.get("kind").and_then(Value::as_str))
            .unwrap_or("Deployment");
        let name = w.get("name").and_then(Value::as_str).unwrap_or_default();
        let api = self.api(namespace, &workload_resource(kind)?);
        let object = to_value(&self.call(api.get(name)).await?)?;
        Ok((
            object,
            Target::Workload {
                kind: kind.to_string(),
                name: name.to_string(),
            },
        ))
    }

    async fn send(
        &self,
        namespace: &str,
        name: &str,
        planned: &PatchPlan,
        raw: &Value,
        target_version: String,
    ) -> Result<Acted, ActError> {
        let rollouts = self.api(namespace, &ApiResource::erase::<Rollout>(&()));
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        match planned {
            PatchPlan::Nothing { message } => Ok(Acted {
                rollout: raw.clone(),
                message: message.clone(),
            }),
            PatchPlan::Merge {
                status,
                spec,
                unified,
            } => {
                let mut current = raw.clone();
                let mut spec = spec.clone();
                if let Some(body) = status {
                    let body = with_version(body, &resource_version(&current));
                    match self
                        .call(rollouts.patch_status(name, &params, &Patch::Merge(&body)))
                        .await
                    {
                        Ok(obj) => current = to_value(&obj)?,
                        // A CRD without the status subresource: one merge patch.
                        Err(ActError::NotFound(_)) => spec = Some(unified.clone()),
                        Err(e) => return Err(e),
                    }
                }
                if let Some(body) = spec {
                    let body = with_version(&body, &resource_version(&current));
                    let obj = self
                        .call(rollouts.patch(name, &params, &Patch::Merge(&body)))
                        .await?;
                    current = to_value(&obj)?;
                }
                Ok(Acted {
                    rollout: current,
                    message: "done".to_string(),
                })
            }
            PatchPlan::Update { target, object } => {
                let obj: DynamicObject = serde_json::from_value(object.clone())
                    .map_err(|e| ActError::Invalid(e.to_string()))?;
                let post = PostParams {
                    field_manager: Some(FIELD_MANAGER.to_string()),
                    ..PostParams::default()
                };
                let updated = match target {
                    Target::Rollout => self.call(rollouts.replace(name, &post, &obj)).await?,
                    Target::Workload { kind, name } => {
                        let api = self.api(namespace, &workload_resource(kind)?);
                        self.call(api.replace(name, &post, &obj)).await?;
                        self.call(rollouts.get(name_of(raw))).await?
                    }
                };
                Ok(Acted {
                    rollout: to_value(&updated)?,
                    message: "done".to_string(),
                })
            }
            PatchPlan::JsonPatch { target, ops } => {
                // The planned operation, plus the version it was planned
                // against: a changed object is a 409, not a silent overwrite.
                let mut ops = ops.clone();
                if let Some(list) = ops.as_array_mut() {
                    list.push(json!({"op": "replace", "path": "/metadata/resourceVersion",
                                     "value": target_version}));
                }
                let patch: json_patch::Patch =
                    serde_json::from_value(ops).map_err(|e| ActError::Invalid(e.to_string()))?;
                let patched = match target {
                    Target::Rollout => {
                        self.call(rollouts.patch(name, &params, &Patch::<()>::Json(patch)))
                            .await?
                    }
                    Target::Workload { kind, name } => {
                        let api = self.api(namespace, &workload_resource(kind)?);
                        self.call(api.patch(name, &params, &Patch::<()>::Json(patch)))
                            .await?;
                        self.call(rollouts.get(name_of(raw))).await?
                    }
                };
                Ok(Acted {
                    rollout: to_value(&patched)?,
                    message: "done".to_string(),
                })
            }
        }
    }

    /// The audit trail in the cluster: an Event on the rollout, so
    /// `kubectl describe rollout` shows who did what. Best effort.
    async fn record_event(
        &self,
        namespace: &str,
        name: &str,
        request: &Request,
        user: Option<&str>,
        rollout: &Value,
    ) {
        let (reason, did) = match request.action() {
            Action::Promote => ("PromotedFromDashboard", "Promoted"),
            Action::PromoteFull => ("PromotedFullFromDashboard", "Fully promoted"),
            Action::Abort => ("AbortedFromDashboard", "Aborted"),
            Action::Retry => ("RetriedFromDashboard", "Retried"),
            Action::Restart => ("RestartedFromDashboard", "Restarted"),
            Action::Pause => ("PausedFromDashboard", "Paused"),
            Action::Resume => ("ResumedFromDashboard", "Resumed"),
            Action::SetImage => ("ImageSetFromDashboard", "Set an image"),
            Action::Rollback => ("RolledBackFromDashboard", "Rolled back"),
        };
        let detail = match request {
            Request::SetImage { container, image } => format!(" ({container}={image})"),
            Request::Rollback { revision } if *revision > 0 => format!(" to revision {revision}"),
            _ => String::new(),
        };
        let by = user.map_or_else(String::new, |u| format!(" by {u}"));
        let now = now();
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": format!("{name}."), "namespace": namespace},
            "involvedObject": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                               "name": name, "namespace": namespace,
                               "uid": rollout.pointer("/metadata/uid").cloned().unwrap_or(Value::Null)},
            "type": "Normal", "reason": reason,
            "message": format!("{did}{detail} from rollouts-dashboard{by}"),
            "source": {"component": FIELD_MANAGER},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        });
        let events = Api::namespaced_with(self.events.clone(), namespace, &event_resource());
        let created = match serde_json::from_value::<DynamicObject>(event) {
            Ok(ev) => self
                .call(events.create(&PostParams::default(), &ev))
                .await
                .map(|_| ()),
            Err(e) => Err(ActError::Invalid(e.to_string())),
        };
        if let Err(e) = created {
            tracing::warn!(rollout = name, error = %e, "could not record the action as a Kubernetes Event");
        }
    }

    fn api(&self, namespace: &str, resource: &ApiResource) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, resource)
    }

    /// One call under the timeout, its error mapped to what people see.
    async fn call<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, ActError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err(ActError::Timeout(self.timeout)),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(kube::Error::Api(s))) => Err(match s.code {
                403 => ActError::Forbidden(forbidden_message(&s.message)),
                404 => ActError::NotFound(s.message.clone()),
                409 => ActError::Conflict(s.message.clone()),
                400 | 422 => ActError::Invalid(s.message.clone()),
                _ => ActError::Api(s),
            }),
            Ok(Err(e)) => Err(ActError::Unreachable(e)),
        }
    }
}

/// The API server's words already name the verb, resource and namespace
/// ("... cannot patch resource \"rollouts/status\" ... in the namespace
/// \"team-a\""); say it plainly.
/// "you may not patch rollouts/status in namespace team-b", from the API
/// server's `... cannot patch resource "rollouts/status" in API group
/// "argoproj.io" in the namespace "team-b"`, with its words after.
fn forbidden_message(api: &str) -> String {
    let parsed = api.split_once(" cannot ").and_then(|(_, rest)| {
        let (verb, rest) = rest.split_once(" resource \"")?;
        let (resource, rest) = rest.split_once('"')?;
        let namespace = rest
            .split_once("in the namespace \"")
            .and_then(|(_, r)| r.split_once('"'))
            .map(|(ns, _)| ns);
        Some((verb, resource, namespace))
    });
    match parsed {
        Some((verb, resource, Some(ns))) => {
            format!("you may not {verb} {resource} in namespace {ns} ({api})")
        }
        Some((verb, resource, None)) => format!("you may not {verb} {resource} ({api})"),
        None => format!("you may not do this: {api}"),
    }
}

fn workload_resource(kind: &str) -> Result<ApiResource, ActError> {
    match kind {
        "Deployment" => Ok(ApiResource::erase::<Deployment>(&())),
        "ReplicaSet" => Ok(ApiResource::erase::<ReplicaSet>(&())),
        "PodTemplate" => Ok(ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "PodTemplate".into(),
            plural: "podtemplates".into(),
        }),
        other => Err(ActError::Invalid(format!(
            "workload of type {other} is not supported"
        ))),
    }
}

fn event_resource() -> ApiResource {
    ApiResource::erase::<crate::model::Event>(&())
}

fn to_value(obj: &DynamicObject) -> Result<Value, ActError> {
    serde_json::to_value(obj).map_err(ActError::Unreadable)
}

/// Now, as Kubernetes writes times (RFC 3339, UTC, whole seconds).
fn now() -> String {
    crate::info::rfc3339(&crate::model::Time(jiff::Timestamp::now()))
}

fn resource_version(obj: &Value) -> String {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A merge patch that only applies to the version that was checked.
fn with_version(body: &Value, version: &str) -> Value {
    let mut body = body.clone();
    if !version.is_empty() {
        body["metadata"]["resourceVersion"] = json!(version);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::forbidden_message;

    #[test]
    fn a_refusal_names_the_verb_the_resource_and_the_namespace() {
        let api = "rollouts.argoproj.io \"web\" is forbidden: User \"alice\" cannot patch resource \"rollouts/status\" in API group \"argoproj.io\" in the namespace \"team-b\"";
        let m = forbidden_message(api);
        assert!(
            m.starts_with("you may not patch rollouts/status in namespace team-b ("),
            "{m}"
        );
        assert!(m.contains(api), "the API server's words follow");
        let cluster = "users \"alice\" is forbidden: User \"sa\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope";
        assert!(forbidden_message(cluster).starts_with("you may not impersonate users ("));
        assert_eq!(forbidden_message("nope"), "you may not do this: nope");
    }
}
