//! `serve`'s part for several clusters: each cluster's own view, history,
//! client, reviews and router, made at start for the `--context`s given
//! and, with `--argocd-cluster-secrets` or `--argocd-cluster-dir`,
//! whenever Argo CD's cluster Secrets add, change or remove one (its
//! watches and recorder stop with it).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::cli::{AuthMode, WebArgs};
use crate::cluster::access::AccessReviews;
use crate::cluster::act::Actor;
use crate::cluster::argocd::ArgoCluster;
use crate::cluster::argocd_source::ArgoClusters;
use crate::cluster::client::{ConfigSource, Connection, NamedConnection, Scope, cluster_name};
use crate::cluster::hub::BROADCAST_CAPACITY;
use crate::cluster::live;
use crate::serve::{HistoryWriter, ServeError, cluster_label, observed_for, scope_label};
use crate::web::AppState;
use crate::web::clusters::{ClusterEntry, Clusters};
use crate::web::metrics::ClusterSource;
use crate::web::router::router;
use crate::web::view::clusters::ClusterLink;

/// What another cluster's part is made with, beside the first's state.
#[derive(Clone)]
pub struct More {
    pub web: WebArgs,
    /// Decides whether this replica writes a cluster's history (`None`:
    /// no history is kept).
    pub history_writer: Option<HistoryWriter>,
}

/// Every cluster: those given at start, and with Argo CD's Secrets those
/// they name, as they come and go.
pub fn start(
    main: &AppState,
    clusters: &[NamedConnection],
    more: &More,
    shutdown: &CancellationToken,
) -> Result<Arc<Clusters>, ServeError> {
    let registry = registry(main, clusters, more, shutdown)?;
    if let Some(secrets) = argocd_secrets(main, &more.web, shutdown) {
        follow_argocd(main, &registry, clusters.len(), secrets, more, shutdown);
    }
    Ok(registry)
}

/// Every cluster given at start, each with its router under
/// `{base}clusters/{name}/`; the first is `main`'s (its pages at the plain
/// URLs too).
fn registry(
    main: &AppState,
    clusters: &[NamedConnection],
    more: &More,
    shutdown: &CancellationToken,
) -> Result<Arc<Clusters>, ServeError> {
    let mut entries = Vec::with_capacity(clusters.len());
    for (i, named) in clusters.iter().enumerate() {
        let entry = if i == 0 {
            let base = base_of(main, &named.name);
            let state = AppState {
                base_path: base.clone(),
                ..main.clone()
            };
            entry_of(named, state)
        } else {
            entry_of(named, other_cluster(main, named, more, shutdown)?)
        };
        entries.push(entry);
    }
    publish(main, &entries);
    Ok(Arc::new(Clusters::new(entries)))
}

/// Tells the header's links and `/metrics` which clusters are shown.
fn publish(main: &AppState, entries: &[ClusterEntry]) {
    main.cluster_links.set(links(entries));
    main.metrics.set_other_clusters(
        entries
            .iter()
            .skip(1)
            .map(|c| ClusterSource {
                name: c.name.clone(),
                view: c.state.view.clone(),
                history_writer: c.state.history.as_ref().map(|h| h.leading_changes()),
            })
            .collect(),
    );
}

fn base_of(main: &AppState, name: &str) -> String {
    format!("{}clusters/{name}/", main.base_path)
}

fn entry_of(named: &NamedConnection, state: AppState) -> ClusterEntry {
    let app = router(state.clone(), state.base_path.trim_end_matches('/'), true);
    ClusterEntry {
        name: named.name.clone(),
        server: named.connection.cluster_url(),
        state,
        app,
    }
}

fn links(entries: &[ClusterEntry]) -> Vec<ClusterLink> {
    entries
        .iter()
        .map(|c| ClusterLink {
            name: c.name.clone(),
            href: c.state.base_path.clone(),
        })
        .collect()
}

/// Another cluster's part of the dashboard: its live view, its history
/// (in the same database, under its name; both stopped by `stop`), its
/// client, its reviews, and with `--prometheus-cluster-label` its
/// observed traffic (without, `--prometheus-url` is the first cluster's
/// alone); the people, the bounds and the metrics are shared.
fn other_cluster(
    main: &AppState,
    named: &NamedConnection,
    more: &More,
    stop: &CancellationToken,
) -> Result<AppState, ServeError> {
    let (conn, web) = (&named.connection, &more.web);
    let observed = match web.prometheus.prometheus_cluster_label {
        Some(_) => observed_for(conn, web, &named.name, stop)?,
        None => None,
    };
    let view = live::start_observing(conn, BROADCAST_CAPACITY, observed, stop.clone())?;
    let history = match (&main.history, &more.history_writer) {
        (Some(first), Some(writer)) => {
            // Its own Lease: replicas sharing the database that show this
            // cluster write its history once.
            let lease = format!("{}-{}", web.history.history_lease, named.name);
            let leading = writer.leading(&lease, web, stop);
            let client = live::client(conn)?;
            Some(first.for_cluster(&named.name, view.clone(), leading, client, stop.clone()))
        }
        _ => None,
    };
    let reviews = match web.auth {
        AuthMode::None => None,
        AuthMode::Proxy | AuthMode::Token | AuthMode::Oidc => Some(AccessReviews::new(
            live::client(conn)?,
            std::time::Duration::from_secs(web.access_check_interval),
        )),
    };
    Ok(AppState {
        view,
        default_namespace: conn.config.default_namespace.clone(),
        actor: Actor::new(live::client(conn)?).in_cluster(&named.name),
        base_path: base_of(main, &named.name),
        cluster_label: cluster_label(conn),
        cluster_name: named.name.clone(),
        cluster_server: conn.cluster_url(),
        scope_label: scope_label(&conn.scope),
        auth: Arc::new(main.auth.for_cluster(conn.config.clone(), reviews)),
        history,
        templates: Default::default(),
        plain_json: Default::default(),
        gzip_lists: Default::default(),
        ..main.clone()
    })
}

/// One cluster from a Secret, as shown: its entry and what stops it.
struct FromSecret {
    /// The Secret and its version: another version is made anew.
    version: String,
    entry: ClusterEntry,
    stop: CancellationToken,
}

/// Argo CD's cluster Secrets as `web` says to find them: listed in a
/// namespace of the first cluster, or mounted in a folder; `None`: not
/// asked for.
fn argocd_secrets(
    main: &AppState,
    web: &WebArgs,
    shutdown: &CancellationToken,
) -> Option<watch::Receiver<Arc<ArgoClusters>>> {
    match (&web.argocd_cluster_secrets, &web.argocd_cluster_dir) {
        (Some(ns), _) => Some(crate::cluster::argocd_source::follow(
            main.actor.client(),
            ns.clone(),
            web.argocd_cluster_selector.clone(),
            shutdown.clone(),
        )),
        (None, Some(dir)) => Some(crate::cluster::argocd_files::follow(
            dir.clone(),
            shutdown.clone(),
        )),
        (None, None) => None,
    }
}

/// Follows Argo CD's cluster Secrets as `secrets` tells them (listed in a
/// namespace of the first cluster, or mounted): each names a cluster
/// shown after the `fixed` ones given at start, made when it appears or
/// changes, stopped when it goes.
fn follow_argocd(
    main: &AppState,
    registry: &Arc<Clusters>,
    fixed: usize,
    mut secrets: watch::Receiver<Arc<ArgoClusters>>,
    more: &More,
    shutdown: &CancellationToken,
) {
    let (main, registry, more, shutdown) = (
        main.clone(),
        registry.clone(),
        more.clone(),
        shutdown.clone(),
    );
    let fixed: Vec<ClusterEntry> = registry.current().iter().take(fixed).cloned().collect();
    tokio::spawn(async move {
        let mut shown: HashMap<String, FromSecret> = HashMap::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = secrets.changed() => if changed.is_err() { break },
            }
            let set = secrets.borrow_and_update().clone();
            registry.set_source_problem(set.failing.clone());
            main.metrics
                .argocd_secrets(set.failing.is_some(), set.errors.len());
            let mut wanted: HashMap<String, &ArgoCluster> = HashMap::new();
            for c in &set.clusters {
                let name = cluster_name(&c.name);
                if fixed.iter().any(|f| f.name == name) || wanted.contains_key(&name) {
                    tracing::warn!(cluster = %name, secret = %c.secret, "an Argo CD cluster Secret names a cluster already shown: left out");
                    continue;
                }
                wanted.insert(name, c);
            }
            shown.retain(|name, s| {
                let keep = wanted.get(name).is_some_and(|c| version(c) == s.version);
                if !keep {
                    s.stop.cancel();
                    tracing::info!(cluster = %name, "an Argo CD cluster is no longer shown (its Secret went or changed)");
                }
                keep
            });
            for (name, c) in wanted {
                if shown.contains_key(&name) {
                    continue;
                }
                let stop = shutdown.child_token();
                match from_secret(&main, &name, c, &more, &stop) {
                    Ok(entry) => {
                        tracing::info!(cluster = %name, server = %c.server, secret = %c.secret, "showing a cluster of Argo CD");
                        shown.insert(
                            name,
                            FromSecret {
                                version: version(c),
                                entry,
                                stop,
                            },
                        );
                    }
                    Err(e) => {
                        stop.cancel();
                        tracing::warn!(cluster = %name, secret = %c.secret, error = %e, "cannot show an Argo CD cluster");
                    }
                }
            }
            let mut entries = fixed.clone();
            let mut from_secrets: Vec<&FromSecret> = shown.values().collect();
            from_secrets.sort_by(|a, b| a.entry.name.cmp(&b.entry.name));
            entries.extend(from_secrets.into_iter().map(|s| s.entry.clone()));
            publish(&main, &entries);
            registry.set(entries);
        }
        for s in shown.values() {
            s.stop.cancel();
        }
    });
}

fn version(c: &ArgoCluster) -> String {
    format!("{}@{}", c.secret, c.version)
}

fn from_secret(
    main: &AppState,
    name: &str,
    c: &ArgoCluster,
    more: &More,
    stop: &CancellationToken,
) -> Result<ClusterEntry, ServeError> {
    let named = NamedConnection {
        name: name.to_string(),
        connection: Connection {
            config: c.config.clone(),
            source: ConfigSource::Given(format!(
                "Argo CD cluster {} (Secret {})",
                c.name, c.secret
            )),
            scope: Scope::AllOrDefault {
                fallback: "default".to_string(),
            },
        },
    };
    Ok(entry_of(&named, other_cluster(main, &named, more, stop)?))
}
