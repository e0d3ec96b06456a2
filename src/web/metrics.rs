//! `/metrics` in Prometheus text format: HTTP request durations by route,
//! open streams, actions by action and result (recorded as they happen), and
//! from the live view at each scrape: watch events and errors per kind,
//! seconds since each kind last synced, rollouts by phase.

use std::collections::BTreeMap;
use std::sync::Arc;
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
    history_writer: Gauge,
    pub edge: EdgeMetrics,
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
        let history_writer = Gauge::default();
        registry.register(
            "history_writer",
            "1 while this replica writes the release history (holds the Lease, or SQLite)",
            history_writer.clone(),
        );
        let edge = EdgeMetrics::default();
        edge.register(&mut registry);
        registry.register_collector(Box::new(LiveCollector { view }));
        Metrics {
            registry,
            actions,
            requests,
            streams,
            overview_feeds,
            history_writer,
            edge,
        }
    }

    /// Follows whether this replica writes the history, until it stops.
    pub fn follow_history_writer(&self, mut leading: tokio::sync::watch::Receiver<bool>) {
        let gauge = self.history_writer.clone();
        tokio::spawn(async move {
            loop {
                gauge.set(i64::from(*leading.borrow_and_update()));
                if leading.changed().await.is_err() {
                    gauge.set(0);
                    return;
                }
            }
        });
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

/// Reads the live view at each scrape.
#[derive(Debug)]
struct LiveCollector {
    view: LiveView,
}

impl std::fmt::Debug for LiveView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveView")
    }
}

impl Collector for LiveCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.view.stats();
        let snapshot = self.view.snapshot();
        let kind_label = |k: Kind| vec![("kind".to_string(), k.as_str().to_string())];

        let c = ConstCounter::new(0u64);
        let mut family = encoder.encode_descriptor(
            "watch_events",
            "Objects added, changed or deleted as the watches delivered them",
            None,
            c.metric_type(),
        )?;
        for k in Kind::ALL {
            let labels = kind_label(k);
            ConstCounter::new(stats.events(k)).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "watch_errors",
            "Failed lists and watches",
            None,
            c.metric_type(),
        )?;
        for k in Kind::ALL {
            let labels = kind_label(k);
            ConstCounter::new(stats.errors(k)).encode(family.encode_family(&labels)?)?;
        }

        let g = ConstGauge::new(0.0f64);
        let mut family = encoder.encode_descriptor(
            "seconds_since_sync",
            "Seconds since each watch last heard from the API: an object, a bookmark, a list or an established watch (absent: never). A quiet, healthy watch hears at least a bookmark or a new watch every few minutes",
            None,
            g.metric_type(),
        )?;
        let now = jiff::Timestamp::now();
        for (id, t) in stats.last_heard() {
            let secs = now.duration_since(t).as_secs_f64().max(0.0);
            let labels = vec![
                ("kind".to_string(), id.kind.as_str().to_string()),
                (
                    "namespace".to_string(),
                    id.namespace.clone().unwrap_or_default(),
                ),
            ];
            ConstGauge::new(secs).encode(family.encode_family(&labels)?)?;
        }

        if let Some(t) = &snapshot.health.history {
            let kept = ConstGauge::new(i64::try_from(t.kept).unwrap_or(i64::MAX));
            kept.encode(encoder.encode_descriptor(
                "history_kept_changes",
                "Changes kept in memory while the history's database fails, to write when it returns",
                None,
                kept.metric_type(),
            )?)?;
            let lost = ConstGauge::new(i64::try_from(t.lost).unwrap_or(i64::MAX));
            lost.encode(encoder.encode_descriptor(
                "history_lost_changes",
                "Changes that could not be kept during this outage of the history's database (shown as a gap)",
                None,
                lost.metric_type(),
            )?)?;
        }
        let failing = ConstGauge::new(i64::from(snapshot.health.history.is_some()));
        failing.encode(encoder.encode_descriptor(
            "history_store_failing",
            "1 while the history's database cannot be written or read",
            None,
            failing.metric_type(),
        )?)?;

        let mut phases: BTreeMap<String, i64> = BTreeMap::new();
        for entry in snapshot.rollouts.values() {
            *phases.entry(entry.summary.status.clone()).or_default() += 1;
        }
        let mut family = encoder.encode_descriptor(
            "rollouts",
            "Rollouts shown, by status",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for (phase, n) in phases {
            let labels = vec![("status".to_string(), phase)];
            ConstGauge::new(n).encode(family.encode_family(&labels)?)?;
        }
        let ready = ConstGauge::new(i64::from(snapshot.health.ready()));
        ready.encode(encoder.encode_descriptor(
            "ready",
            "1 once the first lists are in (as /readyz)",
            None,
            ready.metric_type(),
        )?)?;
        Ok(())
    }
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
