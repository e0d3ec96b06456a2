//! `/metrics` in Prometheus text format: HTTP request durations by route,
//! open streams, actions by action and result (recorded as they happen), and
//! from each cluster's live view at each scrape: watch events and errors per
//! kind, seconds since each kind last synced, rollouts by phase, the
//! history's writer and health. The first cluster's series carry no
//! `cluster` label (as with one cluster), every other's `cluster="NAME"`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::cluster::hub::LiveView;
use crate::cluster::object::Kind;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

pub struct Metrics {
    registry: Registry,
    actions: Family<ActionLabels, Counter>,
    requests: Family<RouteLabels, Histogram>,
    streams: Gauge,
    overview_feeds: Gauge,
    clusters: Arc<RwLock<Vec<ClusterSource>>>,
    argocd_failing: Gauge,
    argocd_unusable: Gauge,
    pub edge: EdgeMetrics,
}

/// One cluster as each scrape reads it: its live view and whether this
/// replica writes its history.
#[derive(Clone)]
pub struct ClusterSource {
    /// Its series' `cluster` label; `""` for the dashboard's own (first)
    /// cluster, whose series carry none, as with one cluster.
    pub name: String,
    pub view: LiveView,
    pub history_writer: Option<tokio::sync::watch::Receiver<bool>>,
}

/// What the edge counts: connections open, refused at the cap, closed by
/// a timeout; streams refused at a cap or dropped for a slow reader.
#[derive(Clone, Debug, Default)]
pub struct EdgeMetrics {
    connections: Gauge,
    refused: Counter,
    closed: Family<ReasonLabels, Counter>,
    streams_refused: Family<ReasonLabels, Counter>,
    streams_dropped: Family<ReasonLabels, Counter>,
}

impl EdgeMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "open_connections",
            "HTTP connections open now (at most --max-connections)",
            self.connections.clone(),
        );
        registry.register(
            "refused_connections",
            "Connections refused because --max-connections were open",
            self.refused.clone(),
        );
        registry.register(
            "closed_connections",
            "Connections the dashboard closed, by reason: header_timeout, idle, write_timeout",
            self.closed.clone(),
        );
        registry.register(
            "refused_streams",
            "Live streams refused at a cap, by reason: per_client, total",
            self.streams_refused.clone(),
        );
        registry.register(
            "dropped_streams",
            "Live streams ended because their reader fell behind (--stream-backlog)",
            self.streams_dropped.clone(),
        );
    }

    /// Counts an open connection until the guard drops.
    pub fn open(&self) -> ConnectionGuard {
        self.connections.inc();
        ConnectionGuard(self.connections.clone())
    }

    pub fn refused(&self) {
        self.refused.inc();
    }

    pub fn closed(&self, why: super::edge::Closed) {
        self.closed
            .get_or_create(&ReasonLabels {
                reason: why.label().to_string(),
            })
            .inc();
    }

    pub fn stream_refused(&self, reason: &str) {
        self.streams_refused
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn stream_dropped(&self, reason: &str) {
        self.streams_dropped
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }
}

pub struct ConnectionGuard(Gauge);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn request_histogram() -> Histogram {
    Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0])
}

impl Metrics {
    pub fn new(view: LiveView) -> Metrics {
        let mut registry = Registry::with_prefix("rollouts_dashboard");
        let actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "actions",
            "Actions asked for, by action and result",
            actions.clone(),
        );
        let requests =
            Family::<RouteLabels, Histogram>::new_with_constructor(request_histogram as fn() -> _);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (to the first byte for streams), by route",
            requests.clone(),
        );
        let streams = Gauge::default();
        registry.register(
            "open_streams",
            "Server-Sent Event and watch streams open now",
            streams.clone(),
        );
        let overview_feeds = Gauge::default();
        registry.register(
            "overview_feeds",
            "Overview feeds open: one per distinct overview page (filter, page, rights) followed now",
            overview_feeds.clone(),
        );
        let argocd_failing = Gauge::default();
        registry.register(
            "argocd_cluster_secrets_failing",
            "1 while Argo CD's cluster Secrets cannot be read (listed or mounted): the clusters shown are as last read",
            argocd_failing.clone(),
        );
        let argocd_unusable = Gauge::default();
        registry.register(
            "argocd_cluster_secrets_unusable",
            "Argo CD cluster Secrets that name no usable cluster (the log says why)",
            argocd_unusable.clone(),
        );
        let edge = EdgeMetrics::default();
        edge.register(&mut registry);
        let clusters = Arc::new(RwLock::new(vec![ClusterSource {
            name: String::new(),
            view,
            history_writer: None,
        }]));
        registry.register_collector(Box::new(LiveCollector {
            clusters: clusters.clone(),
        }));
        Metrics {
            registry,
            actions,
            requests,
            streams,
            overview_feeds,
            clusters,
            argocd_failing,
            argocd_unusable,
            edge,
        }
    }

    /// How Argo CD's cluster Secrets read now: whether they cannot, and
    /// how many name no usable cluster.
    pub fn argocd_secrets(&self, failing: bool, unusable: usize) {
        self.argocd_failing.set(i64::from(failing));
        self.argocd_unusable
            .set(i64::try_from(unusable).unwrap_or(i64::MAX));
    }

    /// Whether this replica writes the dashboard's own cluster's history.
    pub fn follow_history_writer(&self, leading: tokio::sync::watch::Receiver<bool>) {
        if let Ok(mut clusters) = self.clusters.write()
            && let Some(first) = clusters.first_mut()
        {
            first.history_writer = Some(leading);
        }
    }

    /// The clusters after the first, as they are now (they come and go
    /// with Argo CD's Secrets).
    pub fn set_other_clusters(&self, others: Vec<ClusterSource>) {
        if let Ok(mut clusters) = self.clusters.write() {
            clusters.truncate(1);
            clusters.extend(others);
        }
    }

    pub fn action(&self, action: &str, result: &str) {
        self.actions
            .get_or_create(&ActionLabels {
                action: action.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    /// Counts an open stream until the guard is dropped.
    pub fn stream(self: &Arc<Self>) -> StreamGuard {
        self.streams.inc();
        StreamGuard(self.clone())
    }

    /// Counts an overview feed as open until the guard goes.
    pub fn overview_feed(self: &Arc<Self>) -> FeedGuard {
        self.overview_feeds.inc();
        FeedGuard(self.clone())
    }

    pub fn overview_feeds_open(&self) -> i64 {
        self.overview_feeds.get()
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        out
    }
}

pub struct StreamGuard(Arc<Metrics>);

pub struct FeedGuard(Arc<Metrics>);

impl Drop for FeedGuard {
    fn drop(&mut self) {
        self.0.overview_feeds.dec();
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.streams.dec();
    }
}

/// Reads each cluster's live view at each scrape.
struct LiveCollector {
    clusters: Arc<RwLock<Vec<ClusterSource>>>,
}

impl std::fmt::Debug for LiveCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveCollector")
    }
}

impl std::fmt::Debug for LiveView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveView")
    }
}

type Labels = Vec<(String, String)>;

/// One cluster's part of a scrape.
struct Scraped {
    /// `cluster="…"`, or nothing for the first cluster.
    labels: Labels,
    view: LiveView,
    snapshot: crate::cluster::hub::Snapshot,
    writer: Option<bool>,
}

impl Scraped {
    fn of(c: &ClusterSource) -> Scraped {
        Scraped {
            labels: if c.name.is_empty() {
                Vec::new()
            } else {
                vec![("cluster".to_string(), c.name.clone())]
            },
            view: c.view.clone(),
            snapshot: c.view.snapshot(),
            // A writer that stopped (shutdown) writes no more.
            writer: c
                .history_writer
                .as_ref()
                .map(|w| w.has_changed().is_ok() && *w.borrow()),
        }
    }

    /// A counter per kind of object watched.
    fn per_kind(&self, count: impl Fn(Kind) -> u64) -> Vec<(Labels, ConstCounter)> {
        Kind::ALL
            .into_iter()
            .map(|k| {
                (
                    self.with(&[("kind", k.as_str())]),
                    ConstCounter::new(count(k)),
                )
            })
            .collect()
    }

    fn with(&self, more: &[(&str, &str)]) -> Labels {
        let mut labels = self.labels.clone();
        labels.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        labels
    }
}

/// A family of gauges or counters, a series per cluster (and per what
/// `series` lists for it).
fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    (name, help): (&str, &str),
    kind: &M,
    clusters: &[Scraped],
    series: impl Fn(&Scraped) -> Vec<(Labels, M)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, kind.metric_type())?;
    for c in clusters {
        for (labels, metric) in series(c) {
            metric.encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

impl Collector for LiveCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let clusters: Vec<Scraped> = match self.clusters.read() {
            Ok(c) => c.iter().map(Scraped::of).collect(),
            Err(_) => return Ok(()),
        };
        let e = &mut encoder;
        let counter = ConstCounter::new(0u64);
        family(
            e,
            (
                "watch_events",
                "Objects added, changed or deleted as the watches delivered them",
            ),
            &counter,
            &clusters,
            |c| c.per_kind(|k| c.view.stats().events(k)),
        )?;
        family(
            e,
            ("watch_errors", "Failed lists and watches"),
            &counter,
            &clusters,
            |c| c.per_kind(|k| c.view.stats().errors(k)),
        )?;
        let now = jiff::Timestamp::now();
        family(
            e,
            (
                "seconds_since_sync",
                "Seconds since each watch last heard from the API: an object, a bookmark, a list or an established watch (absent: never). A quiet, healthy watch hears at least a bookmark or a new watch every few minutes",
            ),
            &ConstGauge::new(0.0f64),
            &clusters,
            |c| {
                c.view
                    .stats()
                    .last_heard()
                    .into_iter()
                    .map(|(id, t)| {
                        let secs = now.duration_since(t).as_secs_f64().max(0.0);
                        let namespace = id.namespace.clone().unwrap_or_default();
                        let labels =
                            c.with(&[("kind", id.kind.as_str()), ("namespace", &namespace)]);
                        (labels, ConstGauge::new(secs))
                    })
                    .collect()
            },
        )?;
        history_families(e, &clusters)?;
        let gauge = ConstGauge::new(0i64);
        family(
            e,
            ("rollouts", "Rollouts shown, by status"),
            &gauge,
            &clusters,
            |c| {
                let mut phases: BTreeMap<&str, i64> = BTreeMap::new();
                for entry in c.snapshot.rollouts.values() {
                    *phases.entry(entry.summary.status.as_str()).or_default() += 1;
                }
                phases
                    .into_iter()
                    .map(|(phase, n)| (c.with(&[("status", phase)]), ConstGauge::new(n)))
                    .collect()
            },
        )?;
        family(
            e,
            ("ready", "1 once the first lists are in (as /readyz)"),
            &gauge,
            &clusters,
            |c| {
                vec![(
                    c.with(&[]),
                    ConstGauge::new(i64::from(c.snapshot.health.ready())),
                )]
            },
        )
    }
}

/// Whether each cluster's history is written here, and how its database
/// fares.
fn history_families(
    e: &mut DescriptorEncoder,
    clusters: &[Scraped],
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(0i64);
    let count = |n: u64| ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX));
    family(
        e,
        (
            "history_writer",
            "1 while this replica writes the release history (holds the Lease, or SQLite)",
        ),
        &gauge,
        clusters,
        // The first cluster's series is there even without a history.
        |c| match c.writer {
            Some(w) => vec![(c.with(&[]), ConstGauge::new(i64::from(w)))],
            None if c.labels.is_empty() => vec![(c.with(&[]), ConstGauge::new(0))],
            None => Vec::new(),
        },
    )?;
    type Of = fn(&crate::cluster::health::HistoryTrouble) -> u64;
    let outage: [(&str, &str, Of); 2] = [
        (
            "history_kept_changes",
            "Changes kept in memory while the history's database fails, to write when it returns",
            |t| t.kept as u64,
        ),
        (
            "history_lost_changes",
            "Changes that could not be kept during this outage of the history's database (shown as a gap)",
            |t| t.lost,
        ),
    ];
    for (name, help, of) in outage {
        family(e, (name, help), &gauge, clusters, |c| {
            let trouble = c.snapshot.health.history.iter();
            trouble.map(|t| (c.with(&[]), count(of(t)))).collect()
        })?;
    }
    family(
        e,
        (
            "history_store_failing",
            "1 while the history's database cannot be written or read",
        ),
        &gauge,
        clusters,
        |c| {
            let failing = i64::from(c.snapshot.health.history.is_some());
            vec![(c.with(&[]), ConstGauge::new(failing))]
        },
    )
}

/// `GET /metrics`.
pub async fn metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    let mut r = metrics.encode().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

/// Times each request by its route (the pattern, not the path, so names
/// do not become labels).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let started = Instant::now();
    let res = next.run(req).await;
    metrics
        .requests
        .get_or_create(&RouteLabels { method, route })
        .observe(started.elapsed().as_secs_f64());
    res
}
