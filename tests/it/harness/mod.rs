//! The dashboard end to end against the simulated cluster, in one process:
//! the sim's API server on a loopback port, the live view connected to it
//! through kube-rs over HTTP (as to a real cluster), and the router driven
//! like a browser or script would.

pub mod postgres;
pub mod prometheus;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, BodyDataStream};
use axum::http::{HeaderMap, Request, StatusCode, header};
use futures_util::StreamExt;
use rollouts_dashboard::cluster::act::Actor;
use rollouts_dashboard::cluster::client::{ConfigSource, Connection, Scope};
use rollouts_dashboard::cluster::hub::{BROADCAST_CAPACITY, LiveView, Snapshot};
use rollouts_dashboard::cluster::live;
use rollouts_dashboard::info::RolloutInfo;
use rollouts_dashboard::model::RolloutKey;
use rollouts_dashboard::observed::ObservedSettings;
use rollouts_dashboard::sim::apiserver::ApiServer;
use rollouts_dashboard::sim::clock::SimClock;
use rollouts_dashboard::sim::controller::{Controller, ControllerConfig};
use rollouts_dashboard::sim::resources::{self, ResourceType};
use rollouts_dashboard::sim::store::{Filter, Store, Subresource};
use rollouts_dashboard::web::AppState;
use rollouts_dashboard::web::metrics::Metrics;
use rollouts_dashboard::web::router::router;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::common::Objects;

/// Every wait in these tests gives up after this long.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn rt(plural: &str) -> &'static ResourceType {
    resources::RESOURCES
        .iter()
        .find(|r| r.plural == plural)
        .unwrap_or_else(|| panic!("the sim serves no {plural}"))
}

/// The seed scenario's objects and a controller for them (pods Ready 2 s
/// after they start), not yet run: the test moves it.
pub fn seed_with_controller() -> (Arc<Store>, Controller) {
    let store = empty_store();
    rollouts_dashboard::sim::scenario::load_seed(&store);
    let controller = Controller::new(
        store.clone(),
        ControllerConfig {
            pod_ready_after: jiff::SignedDuration::from_secs(2),
        },
    );
    (store, controller)
}

/// The seed's canary waiting at its indefinite pause (step index 1, 80/20),
/// and the controller that moves it when asked: nothing timed happens
/// unless the test lets it.
pub fn seed_at_pause() -> (Arc<Store>, Controller) {
    let (store, controller) = seed_with_controller();
    react(&store, &controller, 3);
    for (ns, name, container, image) in rollouts_dashboard::sim::scenario::SEED_UPDATES {
        store
            .patch(rt("rollouts"), ns, name, Subresource::Main, |o| {
                rollouts_dashboard::sim::scenario::set_image(o, container, image);
                Ok(())
            })
            .expect("the update starts");
    }
    react(&store, &controller, 3);
    (store, controller)
}

/// The controller reacts, with `seconds` of sim time passing.
pub fn react(store: &Store, controller: &Controller, seconds: i64) {
    controller.settle(50);
    store
        .clock
        .advance(jiff::SignedDuration::from_secs(seconds));
    controller.settle(50);
}

/// Changes the seed rollout's spec or metadata.
pub fn patch_seed(
    store: &Store,
    change: impl FnOnce(&mut Value) -> Result<(), rollouts_dashboard::sim::store::ApiError>,
) {
    store
        .patch(
            rt("rollouts"),
            "manifest-gen",
            "manifest-gen",
            Subresource::Main,
            change,
        )
        .expect("the seed is changed");
}

pub fn empty_store() -> Arc<Store> {
    Arc::new(Store::new(Arc::new(SimClock::default())))
}

/// How a test dashboard runs.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// How many changes a subscriber may fall behind before a resync.
    pub capacity: usize,
    pub read_only: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            capacity: BROADCAST_CAPACITY,
            read_only: false,
        }
    }
}

/// The dashboard connected to some API server: its live view and its
/// routes. Stops when dropped.
pub struct Viewer {
    pub view: LiveView,
    pub app: Router,
    pub metrics: Arc<Metrics>,
    shutdown: CancellationToken,
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The seed's release and the dashboard on it, every rollout in view and
/// built from all its objects (Istio's come after the first lists: a late
/// one would change a card under the test).
pub async fn seeded() -> Dashboard {
    let store = empty_store();
    rollouts_dashboard::sim::scenario::load_seed(&store);
    let d = Dashboard::start(store, Scope::AllNamespaces).await;
    let seeded = d.sim_infos().len();
    d.until("ready", |s| s.health.ready() && s.rollouts.len() == seeded)
        .await;
    d.until_view_matches_sim().await;
    d
}

/// The dashboard against the simulated cluster.
pub struct Dashboard {
    pub sim: ApiServer,
    pub store: Arc<Store>,
    viewer: Viewer,
    /// Where the sim's API server listens.
    pub addr: std::net::SocketAddr,
}

impl std::ops::Deref for Dashboard {
    type Target = Viewer;
    fn deref(&self) -> &Viewer {
        &self.viewer
    }
}

impl Viewer {
    /// Connects a dashboard to the API server at `url` (plain HTTP).
    pub fn connect(url: &str, scope: Scope, shutdown: CancellationToken) -> Viewer {
        Self::connect_with(url, scope, Options::default(), shutdown)
    }

    /// As `connect`, with `options`.
    pub fn connect_with(
        url: &str,
        scope: Scope,
        options: Options,
        shutdown: CancellationToken,
    ) -> Viewer {
        Self::connect_observing(url, scope, options, None, shutdown)
    }

    /// As `connect_with`, showing observed traffic from `prometheus`.
    pub fn connect_observing(
        url: &str,
        scope: Scope,
        options: Options,
        prometheus: Option<ObservedSettings>,
        shutdown: CancellationToken,
    ) -> Viewer {
        let observed = prometheus.map(|settings| {
            rollouts_dashboard::observed::start(settings, shutdown.clone())
                .expect("the Prometheus settings are good")
        });
        let mut config = kube::Config::new(url.parse().expect("a URL"));
        config.default_namespace = "default".to_string();
        let conn = Connection {
            config: config.clone(),
            source: ConfigSource::Given("simulated cluster".to_string()),
            scope,
        };
        let view = live::start_observing(&conn, options.capacity, observed, shutdown.clone())
            .expect("the live view starts");
        let metrics = Arc::new(Metrics::new(view.clone()));
        let state = AppState {
            view: view.clone(),
            default_namespace: "default".to_string(),
            shutdown: shutdown.clone(),
            actor: Actor::new(live::client(&conn).expect("a client")),
            read_only: options.read_only,
            base_path: "/".to_string(),
            cluster_label: "test cluster".to_string(),
            cluster_name: "test".to_string(),
            cluster_server: config.cluster_url.to_string(),
            cluster_links: Default::default(),
            scope_label: "all namespaces".to_string(),
            metrics: metrics.clone(),
            auth: std::sync::Arc::new(rollouts_dashboard::web::auth::identity::Auth::none(config)),
            streams: std::sync::Arc::default(),
            log_streams: std::sync::Arc::default(),
            bulk_runs: std::sync::Arc::new(rollouts_dashboard::web::bulk_run::run_slots(
                Default::default(),
            )),
            history: None,
            public_origin: None,
            templates: Default::default(),
            links: Default::default(),
            plain_json: Default::default(),
            gzip_lists: Default::default(),
        };
        Viewer {
            metrics,
            app: router(state, "/", false),
            view,
            shutdown,
        }
    }
}

impl Dashboard {
    /// Serves `store` on a loopback port and starts the dashboard on it.
    pub async fn start(store: Arc<Store>, scope: Scope) -> Dashboard {
        Self::start_with(store, scope, |_| {}).await
    }

    /// As `start`, with faults set on the sim before the dashboard connects.
    pub async fn start_with(
        store: Arc<Store>,
        scope: Scope,
        before: impl FnOnce(&ApiServer),
    ) -> Dashboard {
        Self::start_tuned(store, scope, Options::default(), before).await
    }

    /// As `start_with`, with `options`.
    pub async fn start_tuned(
        store: Arc<Store>,
        scope: Scope,
        options: Options,
        before: impl FnOnce(&ApiServer),
    ) -> Dashboard {
        Self::start_observing(store, scope, options, None, before).await
    }

    /// As `start_tuned`, showing observed traffic from `prometheus`.
    pub async fn start_observing(
        store: Arc<Store>,
        scope: Scope,
        options: Options,
        prometheus: Option<ObservedSettings>,
        before: impl FnOnce(&ApiServer),
    ) -> Dashboard {
        let shutdown = CancellationToken::new();
        let sim = ApiServer::new(store.clone(), shutdown.clone())
            .with_bookmark_interval(Duration::from_millis(500));
        before(&sim);
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let (addr, _task) = sim.serve(loopback).await.expect("the sim listens");
        let viewer = Viewer::connect_observing(
            &format!("http://{addr}"),
            scope,
            options,
            prometheus,
            shutdown,
        );
        Dashboard {
            sim,
            store,
            viewer,
            addr,
        }
    }
}

impl Viewer {
    pub async fn request(&self, path: &str, accept: Option<&str>) -> axum::response::Response {
        let mut req = Request::get(path);
        if let Some(a) = accept {
            req = req.header(header::ACCEPT, a);
        }
        let req = req.body(Body::empty()).expect("a request");
        self.app
            .clone()
            .oneshot(req)
            .await
            .expect("the router answers")
    }

    /// Any request: status, headers and the body as JSON (`Null` if empty
    /// or not JSON).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Body::from(body.to_string())).expect("a request");
        let resp = self
            .app
            .clone()
            .oneshot(req)
            .await
            .expect("the router answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .expect("a body");
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// GET `path`: status, headers and JSON body.
    pub async fn get(&self, path: &str) -> (StatusCode, HeaderMap, Value) {
        let resp = self.request(path, None).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{path}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, headers, body)
    }

    /// Opens a watch stream as SSE (`EventSource`) or NDJSON (scripts).
    pub async fn watch(&self, path: &str, sse: bool) -> Messages {
        let accept = sse.then_some("text/event-stream");
        let resp = self.request(path, accept).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let expected = if sse {
            "text/event-stream"
        } else {
            "application/json"
        };
        assert_eq!(content_type, expected, "{path}");
        Messages {
            body: resp.into_body().into_data_stream(),
            buf: String::new(),
            sse,
            path: path.to_string(),
        }
    }

    /// Waits (at most `PATIENCE`) until the view satisfies `ok`.
    pub async fn until(&self, what: &str, ok: impl Fn(&Snapshot) -> bool) -> Snapshot {
        let mut changes = self.view.subscribe();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let snapshot = self.view.snapshot();
            if ok(&snapshot) {
                return snapshot;
            }
            if tokio::time::timeout_at(deadline, changes.recv())
                .await
                .is_err()
            {
                panic!(
                    "gave up waiting for {what}; health: {}",
                    serde_json::to_string(&*snapshot.health).unwrap_or_default()
                );
            }
        }
    }
}

impl Dashboard {
    /// Waits until the view shows exactly the rollouts the sim holds, each
    /// as `info/` computes it from the sim's objects.
    pub async fn until_view_matches_sim(&self) -> Snapshot {
        self.until_view_matches(|_| {}).await
    }

    /// As `until_view_matches_sim`, for a dashboard that cannot see some
    /// objects: `hide` removes them from what the sim holds.
    pub async fn until_view_matches(&self, hide: impl Fn(&mut Objects)) -> Snapshot {
        let mut last = String::new();
        let found = tokio::time::timeout(
            PATIENCE,
            self.until_inner(|snap| {
                let mut objects = sim_objects(&self.store);
                hide(&mut objects);
                match view_mismatch(snap, &infos(&objects)) {
                    None => true,
                    Some(m) => {
                        last = m;
                        false
                    }
                }
            }),
        )
        .await;
        found.unwrap_or_else(|_| {
            panic!(
                "the view never matched the sim: {last}; health: {}",
                serde_json::to_string(&*self.view.snapshot().health).unwrap_or_default()
            )
        })
    }

    async fn until_inner(&self, mut ok: impl FnMut(&Snapshot) -> bool) -> Snapshot {
        let mut changes = self.view.subscribe();
        loop {
            let snapshot = self.view.snapshot();
            if ok(&snapshot) {
                return snapshot;
            }
            let _ = changes.recv().await;
            // One check for all that is queued: a check reads the whole
            // sim, and a relist publishes thousands of changes.
            while !matches!(
                changes.try_recv(),
                Err(tokio::sync::broadcast::error::TryRecvError::Empty
                    | tokio::sync::broadcast::error::TryRecvError::Closed)
            ) {}
        }
    }

    /// RolloutInfo of every rollout the sim holds, from its objects.
    pub fn sim_infos(&self) -> Vec<(RolloutKey, RolloutInfo)> {
        infos(&sim_objects(&self.store))
    }
}

/// RolloutInfo of every rollout in `objects`.
pub fn infos(objects: &Objects) -> Vec<(RolloutKey, RolloutInfo)> {
    let mut infos: Vec<(RolloutKey, RolloutInfo)> = objects
        .rollouts
        .iter()
        .map(|ro| (RolloutKey::of(&ro.metadata), objects.info_of(ro)))
        .collect();
    infos.sort_by(|a, b| a.0.cmp(&b.0));
    infos
}

/// Where the view differs from `expected`, if it does.
pub fn view_mismatch(snap: &Snapshot, expected: &[(RolloutKey, RolloutInfo)]) -> Option<String> {
    let shown: Vec<&RolloutKey> = snap.rollouts.keys().collect();
    let want: Vec<&RolloutKey> = expected.iter().map(|(k, _)| k).collect();
    if shown != want {
        return Some(format!("shown {shown:?}, sim has {want:?}"));
    }
    expected.iter().find_map(|(key, info)| {
        let entry = snap.rollouts.get(key)?;
        let shown = entry.info(key);
        (shown != *info).then(|| {
            let (a, b) = (
                serde_json::to_value(&shown).unwrap_or_default(),
                serde_json::to_value(info).unwrap_or_default(),
            );
            format!("{key} differs: {}", first_difference("", &a, &b))
        })
    })
}

/// Where two JSON values first differ: its path, shown and wanted.
fn first_difference(path: &str, shown: &Value, want: &Value) -> String {
    match (shown, want) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter()
                .find(|k| a.get(*k) != b.get(*k))
                .map(|k| {
                    let none = Value::Null;
                    first_difference(
                        &format!("{path}.{k}"),
                        a.get(k).unwrap_or(&none),
                        b.get(k).unwrap_or(&none),
                    )
                })
                .unwrap_or_default()
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find(|(_, (x, y))| x != y)
            .map(|(i, (x, y))| first_difference(&format!("{path}[{i}]"), x, y))
            .unwrap_or_default(),
        _ => format!("{path} is {shown}, the cluster says {want}"),
    }
}

/// Every object in the sim, read as the dashboard's model.
pub fn sim_objects(store: &Store) -> Objects {
    let mut objects = Objects::default();
    for plural in [
        "rollouts",
        "replicasets",
        "pods",
        "analysisruns",
        "experiments",
        "virtualservices",
        "destinationrules",
        "deployments",
        "ingresses",
        "httproutes",
        "grpcroutes",
        "tcproutes",
        "tlsroutes",
    ] {
        let list = store
            .list(rt(plural), &Filter::default(), None, None)
            .expect("the sim lists");
        for item in list.items {
            // Objects the dashboard cannot read are not compared.
            let _ = objects.try_add(&item);
        }
    }
    objects
        .rollouts
        .sort_by_key(|r| RolloutKey::of(&r.metadata));
    objects
}

/// A watch stream's messages, one JSON value each.
pub struct Messages {
    body: BodyDataStream,
    buf: String,
    sse: bool,
    path: String,
}

impl Messages {
    /// The next message, or `None` if none comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(m) = self.take_message() {
                return Some(m);
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => return None,
                Ok(None) => return None,
                Ok(Some(Err(e))) => panic!("{}: stream failed: {e}", self.path),
                Ok(Some(Ok(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
            }
        }
    }

    pub async fn next(&mut self) -> Value {
        match self.next_within(PATIENCE).await {
            Some(m) => m,
            None => panic!("{}: no message within {PATIENCE:?}", self.path),
        }
    }

    /// Reads messages until one satisfies `ok`; returns it.
    pub async fn until(&mut self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(m) if ok(&m) => return m,
                Some(_) => {}
                None => panic!("{}: no message with {what} within {PATIENCE:?}", self.path),
            }
        }
    }

    fn take_message(&mut self) -> Option<Value> {
        loop {
            let (frame, rest) = if self.sse {
                let end = self.buf.find("\n\n")?;
                (self.buf[..end].to_string(), self.buf[end + 2..].to_string())
            } else {
                let end = self.buf.find('\n')?;
                (self.buf[..end].to_string(), self.buf[end + 1..].to_string())
            };
            self.buf = rest;
            let data: String = if self.sse {
                // Comment lines (keep-alives) start with ':'.
                frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                frame
            };
            if data.trim().is_empty() {
                continue;
            }
            return Some(
                serde_json::from_str(&data).unwrap_or_else(|e| {
                    panic!("{}: a message is not JSON ({e}): {data}", self.path)
                }),
            );
        }
    }
}
