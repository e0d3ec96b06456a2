//! `serve`'s part for several clusters: each cluster's own view, client,
//! reviews and router, made at start for the `--context`s given and, with
//! `--argocd-cluster-secrets`, whenever Argo CD's cluster Secrets add,
//! change or remove one (its watches stop with it).

use std::collections::HashMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::cli::{AuthMode, WebArgs};
use crate::cluster::access::AccessReviews;
use crate::cluster::act::Actor;
use crate::cluster::argocd::ArgoCluster;
use crate::cluster::client::{ConfigSource, Connection, NamedConnection, Scope, cluster_name};
use crate::cluster::hub::BROADCAST_CAPACITY;
use crate::cluster::live;
use crate::serve::{ServeError, cluster_label, scope_label};
use crate::web::AppState;
use crate::web::clusters::{ClusterEntry, Clusters};
use crate::web::router::router;
use crate::web::view::clusters::ClusterLink;

/// Every cluster given at start, each with its router under
/// `{base}clusters/{name}/`; the first is `main`'s (its pages at the plain
/// URLs too).
pub fn registry(
    main: &AppState,
    clusters: &[NamedConnection],
    web: &WebArgs,
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
            entry_of(named, other_cluster(main, named, web, shutdown)?)
        };
        entries.push(entry);
    }
    main.cluster_links.set(links(&entries));
    Ok(Arc::new(Clusters::new(entries)))
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

/// Another cluster's part of the dashboard: its live view (stopped by
/// `stop`), its client, its reviews; the people, the bounds and the
/// metrics are shared. Its release history and observed traffic are not
/// kept yet.
fn other_cluster(
    main: &AppState,
    named: &NamedConnection,
    web: &WebArgs,
    stop: &CancellationToken,
) -> Result<AppState, ServeError> {
    let conn = &named.connection;
    let view = live::start_observing(conn, BROADCAST_CAPACITY, None, stop.clone())?;
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
        history: None,
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

/// Follows Argo CD's cluster Secrets in `namespace` of the first
/// cluster: each names a cluster shown after the `fixed` ones given at
/// start, made when it appears or changes, stopped when it goes.
pub fn follow_argocd(
    main: &AppState,
    registry: &Arc<Clusters>,
    fixed: usize,
    namespace: &str,
    web: &WebArgs,
    shutdown: &CancellationToken,
) -> Result<(), ServeError> {
    let client = main.actor.client();
    let mut secrets = crate::cluster::argocd_source::follow(
        client,
        namespace.to_string(),
        web.argocd_cluster_selector.clone(),
        shutdown.clone(),
    );
    let (main, registry, web, shutdown) = (
        main.clone(),
        registry.clone(),
        web.clone(),
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
                match from_secret(&main, &name, c, &web, &stop) {
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
            let mut more: Vec<&FromSecret> = shown.values().collect();
            more.sort_by(|a, b| a.entry.name.cmp(&b.entry.name));
            entries.extend(more.into_iter().map(|s| s.entry.clone()));
            main.cluster_links.set(links(&entries));
            registry.set(entries);
        }
        for s in shown.values() {
            s.stop.cancel();
        }
    });
    Ok(())
}

fn version(c: &ArgoCluster) -> String {
    format!("{}@{}", c.secret, c.version)
}

fn from_secret(
    main: &AppState,
    name: &str,
    c: &ArgoCluster,
    web: &WebArgs,
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
    Ok(entry_of(&named, other_cluster(main, &named, web, stop)?))
}
