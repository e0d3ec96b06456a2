//! Starts the live view: a kube client, the scope (falling back to the
//! current namespace when cluster-wide listing is forbidden), one watcher per
//! kind, Istio kinds once discovery finds them, Deployments once a rollout
//! needs them, and the hub that turns it all into RolloutInfo.

use std::time::Duration;

use kube::Client;
use kube::api::{Api, ListParams};
use kube::core::ApiResource;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::model::Rollout;

use super::client::{ClientError, Connection, Scope};
use super::health::{Problem, ScopeState, WatchId};
use super::hub::{BROADCAST_CAPACITY, Hub, LiveView, Observation, ObservedSource};
use super::index::Wants;
use super::object::Kind;
use super::watch::{WatchEvent, WatchMsg, describe_client_error, spawn_kind};

/// Every call made outside a watch gives up after this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a missing Istio API is looked for again.
const DISCOVERY_EVERY: Duration = Duration::from_secs(60);
/// Kinds watched from the start (Istio and Deployments come later).
const BASE_KINDS: [Kind; 6] = [
    Kind::Rollout,
    Kind::ReplicaSet,
    Kind::Pod,
    Kind::AnalysisRun,
    Kind::Experiment,
    Kind::Event,
];
const ISTIO_GROUP: &str = "networking.istio.io";

/// Builds the kube client for `conn`. kube-rs' own retry of 429/503 is
/// turned off: it can hide an outage for minutes, and the watchers retry
/// with backoff anyway while the banner says what is wrong.
pub fn client(conn: &Connection) -> Result<Client, ClientError> {
    let mut config = conn.config.clone();
    config.default_retry = false;
    Client::try_from(config).map_err(|e| ClientError::Client(e.to_string()))
}

/// Starts watching; the view fills in as the lists arrive.
pub fn start(conn: &Connection, shutdown: CancellationToken) -> Result<LiveView, ClientError> {
    start_with(conn, BROADCAST_CAPACITY, shutdown)
}

/// As [`start`], with how many changes a subscriber may fall behind before
/// it is resynced (tests make it small to exercise the resync).
pub fn start_with(
    conn: &Connection,
    broadcast_capacity: usize,
    shutdown: CancellationToken,
) -> Result<LiveView, ClientError> {
    start_observing(conn, broadcast_capacity, None, shutdown)
}

/// As [`start_with`], with observed traffic from `observed` (where it
/// comes from, and the answers as they come).
pub fn start_observing(
    conn: &Connection,
    broadcast_capacity: usize,
    observed: Option<(ObservedSource, mpsc::Receiver<Observation>)>,
    shutdown: CancellationToken,
) -> Result<LiveView, ClientError> {
    let client = client(conn)?;
    let (tx, rx) = mpsc::channel(1024);
    let (scope_tx, scope_rx) = watch::channel(ScopeState::default());
    let (wants_tx, wants_rx) = watch::channel(Wants::default());
    let (mut hub, view) = Hub::new(wants_tx, broadcast_capacity);
    let observations = observed.map(|(source, rx)| {
        hub.observe_from(source);
        rx
    });
    tokio::spawn(hub.run(rx, scope_rx, observations, shutdown.clone()));
    tokio::spawn(start_watches(
        client,
        conn.scope.clone(),
        tx,
        scope_tx,
        wants_rx,
        shutdown,
    ));
    Ok(view)
}

async fn start_watches(
    client: Client,
    scope: Scope,
    tx: mpsc::Sender<WatchMsg>,
    scope_tx: watch::Sender<ScopeState>,
    mut wants: watch::Receiver<Wants>,
    shutdown: CancellationToken,
) {
    let Some((namespaces, state)) = resolve_scope(&client, &scope, &scope_tx, &shutdown).await
    else {
        return;
    };
    if let ScopeState::Namespaces {
        notice: Some(n), ..
    } = &state
    {
        tracing::warn!(notice = %n, "narrowed the namespaces shown");
    }
    scope_tx.send_replace(state);
    let namespaces = namespaces.as_deref();
    for kind in BASE_KINDS {
        spawn_kind(&client, kind, namespaces, None, &tx, &shutdown);
    }
    tokio::spawn(watch_discovered(
        client.clone(),
        namespaces.map(<[String]>::to_vec),
        &ISTIO,
        tx.clone(),
        shutdown.clone(),
    ));
    // Optional kinds start once some rollout needs them, and then run on.
    let mut started = Wants::default();
    loop {
        let now = *wants.borrow_and_update();
        if now.deployments && !started.deployments {
            spawn_kind(&client, Kind::Deployment, namespaces, None, &tx, &shutdown);
        }
        if now.ingresses && !started.ingresses {
            spawn_kind(&client, Kind::Ingress, namespaces, None, &tx, &shutdown);
        }
        if now.routes && !started.routes {
            tokio::spawn(watch_discovered(
                client.clone(),
                namespaces.map(<[String]>::to_vec),
                &GATEWAY_API,
                tx.clone(),
                shutdown.clone(),
            ));
        }
        started = started.or(now);
        if started.deployments && started.ingresses && started.routes {
            return;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = wants.changed() => if changed.is_err() { return },
        }
    }
}

/// Which namespaces to watch (`None`: all). With neither `-n` nor `-A`, a
/// forbidden cluster-wide list falls back to the current namespace, with a
/// notice; until the API answers, it keeps asking with backoff.
async fn resolve_scope(
    client: &Client,
    scope: &Scope,
    scope_tx: &watch::Sender<ScopeState>,
    shutdown: &CancellationToken,
) -> Option<(Option<Vec<String>>, ScopeState)> {
    let fallback = match scope {
        Scope::AllNamespaces => return Some((None, ScopeState::All)),
        Scope::Namespaces(ns) => {
            let state = ScopeState::Namespaces {
                namespaces: ns.clone(),
                notice: None,
            };
            return Some((Some(ns.clone()), state));
        }
        Scope::AllOrDefault { fallback } => fallback,
    };
    let api: Api<Rollout> = Api::all(client.clone());
    let mut backoff = super::backoff::Backoff::new();
    loop {
        let params = ListParams::default().limit(1);
        let probe = tokio::time::timeout(CALL_TIMEOUT, api.list_metadata(&params));
        let error = match probe.await {
            Ok(Ok(_)) => return Some((None, ScopeState::All)),
            Ok(Err(kube::Error::Api(s))) if s.code == 403 => {
                let state = ScopeState::Namespaces {
                    namespaces: vec![fallback.clone()],
                    notice: Some(format!(
                        "Showing only namespace {fallback:?}: listing rollouts in all namespaces is forbidden ({}). Pass -n to choose namespaces.",
                        s.message
                    )),
                };
                return Some((Some(vec![fallback.clone()]), state));
            }
            // Not installed everywhere is still "all namespaces": the
            // Rollout watcher then reports the missing CRD.
            Ok(Err(kube::Error::Api(s))) if s.code == 404 => {
                return Some((None, ScopeState::All));
            }
            Ok(Err(e)) => describe_client_error(&e).1,
            Err(_) => format!("the API server did not answer within {CALL_TIMEOUT:?}"),
        };
        tracing::warn!(error = %error, "cannot tell which namespaces to show yet; retrying");
        scope_tx.send_replace(ScopeState::Resolving { error: Some(error) });
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(backoff.step()) => {}
        }
    }
}

/// Watches VirtualServices and DestinationRules once the API serves them,
/// in the version discovery prefers; looks again every minute until then.
/// An API group the cluster may or may not serve, and the kinds watched
/// from it (in the version it prefers).
struct DiscoveredGroup {
    group: &'static str,
    /// Said when the group or a kind is not served.
    product: &'static str,
    kinds: &'static [(Kind, &'static str)],
    /// Whether a kind not served is shown as a problem (Istio's are; the
    /// Gateway API's experimental kinds are often absent, and a rollout
    /// naming one says "not found" itself).
    report_missing: bool,
}

const ISTIO: DiscoveredGroup = DiscoveredGroup {
    group: ISTIO_GROUP,
    product: "Istio",
    kinds: &[
        (Kind::VirtualService, "VirtualService"),
        (Kind::DestinationRule, "DestinationRule"),
    ],
    report_missing: true,
};

const GATEWAY_API: DiscoveredGroup = DiscoveredGroup {
    group: crate::model::GATEWAY_GROUP,
    product: "Gateway API",
    kinds: &[
        (Kind::HttpRoute, "HTTPRoute"),
        (Kind::GrpcRoute, "GRPCRoute"),
        (Kind::TcpRoute, "TCPRoute"),
        (Kind::TlsRoute, "TLSRoute"),
    ],
    report_missing: false,
};

/// `kind` in the group's preferred version, or else in the newest other
/// version serving it (Gateway API: TCPRoute and TLSRoute are served in
/// v1alpha2 only, while the group prefers v1).
fn served_kind(group: &kube::discovery::ApiGroup, kind: &str) -> Option<ApiResource> {
    if let Some((ar, _)) = group.recommended_kind(kind) {
        return Some(ar);
    }
    group.versions().find_map(|v| {
        group
            .versioned_resources(v)
            .into_iter()
            .find(|(ar, _)| ar.kind == kind)
            .map(|(ar, _)| ar)
    })
}

/// Watches `group`'s kinds once discovery finds them, looking again every
/// minute for those not served yet.
async fn watch_discovered(
    client: Client,
    namespaces: Option<Vec<String>>,
    group: &'static DiscoveredGroup,
    tx: mpsc::Sender<WatchMsg>,
    shutdown: CancellationToken,
) {
    let mut started = vec![false; group.kinds.len()];
    let ids = |kind: Kind| -> Vec<WatchId> {
        match &namespaces {
            None => vec![WatchId {
                kind,
                namespace: None,
            }],
            Some(list) => list
                .iter()
                .map(|n| WatchId {
                    kind,
                    namespace: Some(n.clone()),
                })
                .collect(),
        }
    };
    loop {
        let none = || group.kinds.iter().map(|_| None).collect::<Vec<_>>();
        let found: Result<Vec<Option<ApiResource>>, (Problem, String)> =
            match tokio::time::timeout(CALL_TIMEOUT, kube::discovery::group(&client, group.group))
                .await
            {
                Ok(Ok(g)) => Ok(group
                    .kinds
                    .iter()
                    .map(|(_, k)| served_kind(&g, k))
                    .collect()),
                Ok(Err(kube::Error::Api(s))) if s.code == 404 => Ok(none()),
                Ok(Err(kube::Error::Discovery(_))) => Ok(none()),
                Ok(Err(e)) => Err(describe_client_error(&e)),
                Err(_) => Err((
                    Problem::Unreachable,
                    format!("discovery did not answer within {CALL_TIMEOUT:?}"),
                )),
            };
        for (i, (kind, name)) in group.kinds.iter().enumerate() {
            if started[i] {
                continue;
            }
            let event = match &found {
                Ok(resources) => match resources.get(i).cloned().flatten() {
                    Some(ar) => {
                        spawn_kind(
                            &client,
                            *kind,
                            namespaces.as_deref(),
                            Some(&ar),
                            &tx,
                            &shutdown,
                        );
                        started[i] = true;
                        continue;
                    }
                    None if !group.report_missing => {
                        tracing::debug!(
                            kind = name,
                            "{} kind not served by this cluster",
                            group.product
                        );
                        continue;
                    }
                    None => (
                        Problem::NotInstalled,
                        format!(
                            "{} {name}s are not served by this cluster (CRD not installed)",
                            group.product
                        ),
                    ),
                },
                Err(e) => e.clone(),
            };
            for id in ids(*kind) {
                let (problem, error) = event.clone();
                let msg = WatchMsg {
                    id,
                    event: WatchEvent::Failed { problem, error },
                };
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
        }
        if started.iter().all(|s| *s) {
            return;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(DISCOVERY_EVERY) => {}
        }
    }
}
