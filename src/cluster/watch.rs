//! One watcher per kind and namespace: list (in pages), then watch from the
//! list's resourceVersion, resume after a dropped watch, relist after a 410,
//! back off exponentially (0.8 s to 30 s) while the API fails. Our own loop
//! rather than `kube::runtime::watcher`, because the connection state needs
//! to know when a watch is established again after an outage: the runtime's
//! watcher says nothing until an object changes, so a quiet kind would show
//! as failing long after it recovered.
//!
//! Objects are read through `DeserializeGuard`, so a malformed one is
//! reported and never stops the rest; managedFields are dropped at once
//! (they are most of an object's bytes and never shown).

use std::fmt::Debug;
use std::time::Duration;

use kube::api::{Api, DynamicObject, ListParams, WatchEvent as ApiEvent, WatchParams};
use kube::core::{ApiResource, DeserializeGuard};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::info::PodRecord;
use crate::model::{
    AnalysisRun, Deployment, DestinationRule, Event as KubeEvent, Experiment, GatewayRoute,
    Ingress, ObjectMeta, Pod, ReplicaSet, Rollout, VirtualService,
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
    /// A watch is established: from now on changes arrive as they happen.
    Watching,
    /// An object exists (listed, added or modified).
    Apply(Object),
    Delete(Object),
    /// The (re)list is complete: objects not seen since `Init` are gone.
    InitDone,
    /// The API says the watch is current up to a version, with no change.
    Bookmark,
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
    discovered: Option<&ApiResource>,
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
        let config = Selectors::default();
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
                |pod: Box<Pod>| Object::Pod(Box::new(PodRecord::of(&pod))),
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
            Kind::Ingress => {
                spawn_typed::<Ingress>(client, ns, config, id, tx, stop, Object::Ingress)
            }
            Kind::VirtualService
            | Kind::DestinationRule
            | Kind::HttpRoute
            | Kind::GrpcRoute
            | Kind::TcpRoute
            | Kind::TlsRoute => {
                let Some(ar) = discovered else {
                    tracing::warn!(%kind, "a discovered kind started without its API resource");
                    continue;
                };
                let api = match &ns {
                    Some(n) => {
                        Api::<DeserializeGuard<DynamicObject>>::namespaced_with(client, n, ar)
                    }
                    None => Api::all_with(client, ar),
                };
                let convert = move |o: DynamicObject| discovered_object(kind, o);
                tokio::spawn(run(api, config, id, tx, stop, convert));
            }
        }
    }
}

/// The server-side filters of one watch.
#[derive(Clone, Copy, Debug, Default)]
struct Selectors {
    labels: Option<&'static str>,
    fields: Option<&'static str>,
}

impl Selectors {
    fn labels(self, labels: &'static str) -> Self {
        Selectors {
            labels: Some(labels),
            ..self
        }
    }

    fn fields(self, fields: &'static str) -> Self {
        Selectors {
            fields: Some(fields),
            ..self
        }
    }

    fn list_params(&self) -> ListParams {
        let mut lp = ListParams::default().limit(LIST_PAGE);
        if let Some(l) = self.labels {
            lp = lp.labels(l);
        }
        if let Some(f) = self.fields {
            lp = lp.fields(f);
        }
        lp
    }

    fn watch_params(&self) -> WatchParams {
        let mut wp = WatchParams::default().timeout(WATCH_TIMEOUT_SECS);
        if let Some(l) = self.labels {
            wp = wp.labels(l);
        }
        if let Some(f) = self.fields {
            wp = wp.fields(f);
        }
        wp
    }
}

/// Objects per list page: big lists arrive in parts, never as one huge body.
const LIST_PAGE: u32 = 500;
/// The server ends a watch after this long; it is then resumed.
const WATCH_TIMEOUT_SECS: u32 = 290;
/// A list page that takes longer than this has failed.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);

fn spawn_typed<K>(
    client: Client,
    namespace: Option<String>,
    config: Selectors,
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
fn discovered_object(kind: Kind, o: DynamicObject) -> Object {
    let metadata = o.metadata.clone();
    let read = serde_json::to_value(&o).and_then(|v| match kind {
        Kind::DestinationRule => serde_json::from_value::<DestinationRule>(v)
            .map(|d| Object::DestinationRule(Box::new(d))),
        Kind::HttpRoute | Kind::GrpcRoute | Kind::TcpRoute | Kind::TlsRoute => {
            serde_json::from_value::<GatewayRoute>(v).map(|mut r| {
                r.route_kind = kind.route_kind().unwrap_or_default();
                Object::Route(Box::new(r))
            })
        }
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

/// The watch loop: lists, watches, forwards every event to the hub, until
/// `stop` or until the hub is gone.
async fn run<K, F>(
    api: Api<DeserializeGuard<K>>,
    selectors: Selectors,
    id: WatchId,
    tx: mpsc::Sender<WatchMsg>,
    stop: CancellationToken,
    convert: F,
) where
    K: Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    DeserializeGuard<K>: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    F: Fn(K) -> Object + Send + 'static,
{
    let watcher = Watcher {
        api,
        selectors,
        id,
        tx,
        convert,
    };
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = watcher.run() => {}
    }
}

struct Watcher<K, F> {
    api: Api<DeserializeGuard<K>>,
    selectors: Selectors,
    id: WatchId,
    tx: mpsc::Sender<WatchMsg>,
    convert: F,
}

/// The hub is gone: stop.
struct Closed;

impl<K, F> Watcher<K, F>
where
    K: Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    DeserializeGuard<K>: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    F: Fn(K) -> Object + Send + 'static,
{
    async fn send(&self, event: WatchEvent) -> Result<(), Closed> {
        let msg = WatchMsg {
            id: self.id.clone(),
            event,
        };
        self.tx.send(msg).await.map_err(|_| Closed)
    }

    async fn fail(&self, problem: Problem, error: String) -> Result<(), Closed> {
        tracing::warn!(kind = %self.id.kind, namespace = ?self.id.namespace, error = %error, "watch failed; retrying");
        self.send(WatchEvent::Failed { problem, error }).await
    }

    async fn run(self) -> Result<(), Closed> {
        let kind = self.id.kind;
        self.send(WatchEvent::Started).await?;
        let mut backoff = super::backoff::Backoff::new();
        // `None`: the next step is a (re)list.
        let mut version: Option<String> = None;
        loop {
            let rv = match version.take() {
                Some(rv) => rv,
                None => match self.list().await? {
                    Ok(rv) => rv,
                    Err((problem, error)) => {
                        self.fail(problem, error).await?;
                        tokio::time::sleep(backoff.step()).await;
                        continue;
                    }
                },
            };
            let stream = match self.api.watch(&self.selectors.watch_params(), &rv).await {
                Ok(s) => s,
                // Some servers refuse a too-old version outright: relist.
                Err(kube::Error::Api(s)) if s.code == 410 => continue,
                Err(e) => {
                    let (problem, error) = describe_call(kind, &e);
                    self.fail(problem, error).await?;
                    tokio::time::sleep(backoff.step()).await;
                    version = Some(rv);
                    continue;
                }
            };
            self.send(WatchEvent::Watching).await?;
            let started = std::time::Instant::now();
            let mut delivered = false;
            let mut failed = false;
            let mut stream = std::pin::pin!(stream);
            let mut rv = rv;
            let mut relist = false;
            while let Some(event) = stream.next().await {
                if !delivered && event.is_ok() {
                    delivered = true;
                    backoff.reset();
                }
                match event {
                    Ok(ApiEvent::Added(o) | ApiEvent::Modified(o)) => {
                        rv = o.resource_version().unwrap_or(rv);
                        self.send(WatchEvent::Apply(read(kind, o, &self.convert)))
                            .await?;
                    }
                    Ok(ApiEvent::Deleted(o)) => {
                        rv = o.resource_version().unwrap_or(rv);
                        self.send(WatchEvent::Delete(read(kind, o, &self.convert)))
                            .await?;
                    }
                    Ok(ApiEvent::Bookmark(b)) => {
                        rv = b.metadata.resource_version;
                        self.send(WatchEvent::Bookmark).await?;
                    }
                    // Too old to resume from: list again (not a failure).
                    Ok(ApiEvent::Error(status)) if status.code == 410 => {
                        relist = true;
                        break;
                    }
                    Ok(ApiEvent::Error(status)) => {
                        let (problem, error) = status_problem(kind, status.code, &status.message);
                        self.fail(problem, error).await?;
                        tokio::time::sleep(backoff.step()).await;
                        failed = true;
                        break;
                    }
                    Err(kube::Error::Api(s)) if s.code == 410 => {
                        relist = true;
                        break;
                    }
                    Err(e) => {
                        let (problem, error) = describe_call(kind, &e);
                        self.fail(problem, error).await?;
                        tokio::time::sleep(backoff.step()).await;
                        failed = true;
                        break;
                    }
                }
            }
            // A watch that ends at once with nothing in it (a proxy closing
            // connections, say) must not become a busy loop.
            if !failed && !relist && !delivered && started.elapsed() < Duration::from_secs(1) {
                tokio::time::sleep(backoff.step()).await;
            }
            // A watch that ended normally (server timeout, dropped
            // connection) resumes from the last version seen.
            if !relist {
                version = Some(rv);
            }
        }
    }

    /// Lists every object, page by page, announcing each; returns the
    /// version to watch from, or why the list failed.
    async fn list(&self) -> Result<Result<String, (Problem, String)>, Closed> {
        let kind = self.id.kind;
        self.send(WatchEvent::Init).await?;
        let mut token: Option<String> = None;
        loop {
            let mut params = self.selectors.list_params();
            if let Some(t) = &token {
                params = params.continue_token(t);
            }
            let page = match tokio::time::timeout(LIST_TIMEOUT, self.api.list(&params)).await {
                Ok(Ok(page)) => page,
                Ok(Err(e)) => return Ok(Err(describe_call(kind, &e))),
                Err(_) => {
                    let error = format!("listing {kind}s took longer than {LIST_TIMEOUT:?}");
                    return Ok(Err((Problem::Unreachable, error)));
                }
            };
            for o in page.items {
                self.send(WatchEvent::Apply(read(kind, o, &self.convert)))
                    .await?;
            }
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                self.send(WatchEvent::InitDone).await?;
                return Ok(Ok(page.metadata.resource_version.unwrap_or_default()));
            }
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
    slim(&mut obj);
    obj
}

/// Drops metadata the dashboard never reads (managedFields; a ReplicaSet's
/// labels and annotations but the few it reads) and keeps a rollout's as
/// lists. A pod is kept only as its row (`PodRecord`).
fn slim(obj: &mut Object) {
    let meta = match obj {
        Object::Rollout(o) => {
            o.slim();
            &mut o.metadata
        }
        Object::ReplicaSet(o) => {
            o.slim();
            &mut o.metadata
        }
        Object::Pod(_) => return,
        Object::AnalysisRun(o) => &mut o.metadata,
        Object::Experiment(o) => &mut o.metadata,
        Object::VirtualService(o) => &mut o.metadata,
        Object::DestinationRule(o) => &mut o.metadata,
        Object::Deployment(o) => &mut o.metadata,
        Object::Event(o) => &mut o.metadata,
        Object::Ingress(o) => &mut o.metadata,
        Object::Route(o) => &mut o.metadata,
        Object::Invalid { metadata, .. } => metadata,
    };
    meta.managed_fields = None;
}

/// What went wrong with a call for `kind`, in words a person can act on.
fn describe_call(kind: Kind, e: &kube::Error) -> (Problem, String) {
    match e {
        kube::Error::Api(status) => status_problem(kind, status.code, &status.message),
        other => describe_client_error(other),
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
