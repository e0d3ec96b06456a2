//! One watcher per kind and namespace: list, then watch, forever, with
//! kube-rs' default backoff. Objects are read through `DeserializeGuard`, so a
//! malformed one is reported and never stops the rest; managedFields are
//! dropped at once (they are most of an object's bytes and never shown).

use std::fmt::Debug;

use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, DeserializeGuard};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::model::{
    AnalysisRun, Deployment, DestinationRule, Event as KubeEvent, Experiment, ObjectMeta, Pod,
    ReplicaSet, Rollout, VirtualService,
};

use super::health::{Problem, WatchId};
use super::object::{Kind, Object};

/// What a watch tells the hub.
#[derive(Debug)]
pub enum WatchEvent {
    /// A watch was started (it shows as "starting" until it lists).
    Started,
    /// A (re)list begins.
    Init,
    /// An object exists (listed, added or modified).
    Apply(Object),
    Delete(Object),
    /// The (re)list is complete: objects not seen since `Init` are gone.
    InitDone,
    /// The API refused or could not be reached; the watcher retries.
    Failed {
        problem: Problem,
        error: String,
    },
}

#[derive(Debug)]
pub struct WatchMsg {
    pub id: WatchId,
    pub event: WatchEvent,
}

/// Only pods and ReplicaSets made by Argo Rollouts carry this label, so
/// unrelated workloads are never held in memory.
const ROLLOUTS_LABEL: &str = "rollouts-pod-template-hash";

/// Starts the watches of `kind` in every namespace of `namespaces` (all
/// namespaces when `None`). Istio kinds need their discovered resource.
pub fn spawn_kind(
    client: &Client,
    kind: Kind,
    namespaces: Option<&[String]>,
    istio: Option<&ApiResource>,
    tx: &mpsc::Sender<WatchMsg>,
    shutdown: &CancellationToken,
) {
    let scopes: Vec<Option<String>> = match namespaces {
        None => vec![None],
        Some(list) => list.iter().cloned().map(Some).collect(),
    };
    for namespace in scopes {
        let id = WatchId { kind, namespace };
        let tx = tx.clone();
        let stop = shutdown.clone();
        let client = client.clone();
        let config = watcher::Config::default();
        let ns = id.namespace.clone();
        match kind {
            Kind::Rollout => {
                spawn_typed::<Rollout>(client, ns, config, id, tx, stop, Object::Rollout)
            }
            Kind::ReplicaSet => spawn_typed::<ReplicaSet>(
                client,
                ns,
                config.labels(ROLLOUTS_LABEL),
                id,
                tx,
                stop,
                Object::ReplicaSet,
            ),
            Kind::Pod => spawn_typed::<Pod>(
                client,
                ns,
                config.labels(ROLLOUTS_LABEL),
                id,
                tx,
                stop,
                Object::Pod,
            ),
            Kind::AnalysisRun => {
                spawn_typed::<AnalysisRun>(client, ns, config, id, tx, stop, Object::AnalysisRun)
            }
            Kind::Experiment => {
                spawn_typed::<Experiment>(client, ns, config, id, tx, stop, Object::Experiment)
            }
            Kind::Deployment => {
                spawn_typed::<Deployment>(client, ns, config, id, tx, stop, Object::Deployment)
            }
            Kind::Event => spawn_typed::<KubeEvent>(
                client,
                ns,
                config.fields("involvedObject.kind=Rollout"),
                id,
                tx,
                stop,
                Object::Event,
            ),
            Kind::VirtualService | Kind::DestinationRule => {
                let Some(ar) = istio else {
                    tracing::warn!(%kind, "Istio kind started without its API resource");
                    continue;
                };
                let api = match &ns {
                    Some(n) => {
                        Api::<DeserializeGuard<DynamicObject>>::namespaced_with(client, n, ar)
                    }
                    None => Api::all_with(client, ar),
                };
                let convert = move |o: DynamicObject| istio_object(kind, o);
                tokio::spawn(run(api, config, id, tx, stop, convert));
            }
        }
    }
}

fn spawn_typed<K>(
    client: Client,
    namespace: Option<String>,
    config: watcher::Config,
    id: WatchId,
    tx: mpsc::Sender<WatchMsg>,
    stop: CancellationToken,
    wrap: fn(Box<K>) -> Object,
) where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    K: Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K: k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let api: Api<DeserializeGuard<K>> = match &namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    tokio::spawn(run(api, config, id, tx, stop, move |o: K| {
        wrap(Box::new(o))
    }));
}

/// Reads an Istio object through its typed view.
fn istio_object(kind: Kind, o: DynamicObject) -> Object {
    let metadata = o.metadata.clone();
    let read = serde_json::to_value(&o).and_then(|v| match kind {
        Kind::DestinationRule => serde_json::from_value::<DestinationRule>(v)
            .map(|d| Object::DestinationRule(Box::new(d))),
        _ => {
            serde_json::from_value::<VirtualService>(v).map(|d| Object::VirtualService(Box::new(d)))
        }
    });
    read.unwrap_or_else(|e| Object::Invalid {
        kind,
        metadata: Box::new(metadata),
        error: e.to_string(),
    })
}

/// The watch loop: forwards every event to the hub until `stop`.
async fn run<K, F>(
    api: Api<DeserializeGuard<K>>,
    config: watcher::Config,
    id: WatchId,
    tx: mpsc::Sender<WatchMsg>,
    stop: CancellationToken,
    convert: F,
) where
    K: Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    DeserializeGuard<K>: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    F: Fn(K) -> Object + Send + 'static,
{
    let kind = id.kind;
    let send = |event: WatchEvent| {
        let tx = tx.clone();
        let id = id.clone();
        async move { tx.send(WatchMsg { id, event }).await.is_ok() }
    };
    if !send(WatchEvent::Started).await {
        return;
    }
    let stream = watcher::watcher(api, config).default_backoff();
    let mut stream = std::pin::pin!(stream);
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            next = stream.next() => next,
        };
        let event = match next {
            None => return,
            Some(Err(e)) => {
                let (problem, error) = describe(kind, &e);
                tracing::warn!(%kind, namespace = ?id.namespace, error = %error, "watch failed; retrying");
                WatchEvent::Failed { problem, error }
            }
            Some(Ok(Event::Init)) => WatchEvent::Init,
            Some(Ok(Event::InitDone)) => WatchEvent::InitDone,
            Some(Ok(Event::Apply(o) | Event::InitApply(o))) => {
                WatchEvent::Apply(read(kind, o, &convert))
            }
            Some(Ok(Event::Delete(o))) => WatchEvent::Delete(read(kind, o, &convert)),
        };
        if !send(event).await {
            return;
        }
    }
}

fn read<K>(kind: Kind, guard: DeserializeGuard<K>, convert: &impl Fn(K) -> Object) -> Object {
    let mut obj = match guard.0 {
        Ok(o) => convert(o),
        Err(invalid) => {
            tracing::warn!(%kind, name = ?invalid.metadata.name, namespace = ?invalid.metadata.namespace, error = %invalid.error, "cannot read object");
            Object::Invalid {
                kind,
                metadata: Box::new(invalid.metadata),
                error: invalid.error,
            }
        }
    };
    strip_managed_fields(&mut obj);
    obj
}

fn strip_managed_fields(obj: &mut Object) {
    let meta = match obj {
        Object::Rollout(o) => &mut o.metadata,
        Object::ReplicaSet(o) => &mut o.metadata,
        Object::Pod(o) => &mut o.metadata,
        Object::AnalysisRun(o) => &mut o.metadata,
        Object::Experiment(o) => &mut o.metadata,
        Object::VirtualService(o) => &mut o.metadata,
        Object::DestinationRule(o) => &mut o.metadata,
        Object::Deployment(o) => &mut o.metadata,
        Object::Event(o) => &mut o.metadata,
        Object::Invalid { metadata, .. } => metadata,
    };
    meta.managed_fields = None;
}

/// What went wrong, in words a person can act on.
pub fn describe(kind: Kind, e: &watcher::Error) -> (Problem, String) {
    use watcher::Error as W;
    let client_error = match e {
        W::InitialListFailed(c) | W::WatchStartFailed(c) | W::WatchFailed(c) => Some(c),
        W::WatchError(status) => return status_problem(kind, status.code, &status.message),
        W::NoResourceVersion => None,
    };
    match client_error {
        Some(kube::Error::Api(status)) => status_problem(kind, status.code, &status.message),
        Some(c) => describe_client_error(c),
        None => (Problem::ApiError, e.to_string()),
    }
}

/// A failed call, classified.
pub fn describe_client_error(e: &kube::Error) -> (Problem, String) {
    match e {
        kube::Error::Api(s) if s.code == 403 => {
            (Problem::Forbidden, format!("forbidden: {}", s.message))
        }
        kube::Error::Api(s) => (
            Problem::ApiError,
            format!("API error {}: {}", s.code, s.message),
        ),
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            (Problem::Unreachable, format!("API server unreachable: {e}"))
        }
        _ => (Problem::ApiError, e.to_string()),
    }
}

fn status_problem(kind: Kind, code: u16, message: &str) -> (Problem, String) {
    match code {
        403 => (Problem::Forbidden, format!("forbidden: {message}")),
        404 => (
            Problem::NotInstalled,
            format!("the API does not serve {kind}s (CRD not installed?): {message}"),
        ),
        _ => (Problem::ApiError, format!("API error {code}: {message}")),
    }
}
