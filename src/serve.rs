//! `rollouts-dashboard serve`: watch the cluster the connection names and
//! serve the dashboard until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::cli::{AuthMode, WebArgs};
use crate::cluster::access::AccessReviews;
use crate::cluster::act::Actor;
use crate::cluster::client::{ClientError, ConfigSource, Connection, NamedConnection, Scope};
use crate::cluster::hub::BROADCAST_CAPACITY;
use crate::cluster::hub::{Observation, ObservedSource};
use crate::cluster::lease::{self, LeaseSettings};
use crate::cluster::live;
use crate::history::{Backend, History, StoreError};
use crate::observed::ObservedSettings;
use crate::observed::prometheus::PrometheusAccess;
use crate::observed::queries::QueryScope;
use crate::oidc::{ClaimMapping, Oidc, OidcSettings};
use crate::web::AppState;
use crate::web::auth::identity::{Auth, OidcLogin};
use crate::web::auth::limits::StreamSlots;
use crate::web::auth::session::Sealer;
use crate::web::edge::ConnectionLimits;
use crate::web::edge::hosts::AllowedHosts;
use crate::web::edge::server::{Edge, serve};
use crate::web::metrics::Metrics;
use crate::web::router::{admin_router, router_with};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Http(#[source] std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// As [`run_clusters_on`], for one cluster.
pub async fn run_on(
    listener: tokio::net::TcpListener,
    conn: &Connection,
    web: &WebArgs,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let one = NamedConnection::of(conn.clone());
    run_clusters_on(listener, &[one], web, shutdown).await
}

/// Binds `web.listen` and serves every cluster of `clusters` (the first
/// at the plain URLs, each at `/clusters/{name}/`) until `shutdown`.
pub async fn run_clusters(
    clusters: &[NamedConnection],
    web: &WebArgs,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(web.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: web.listen,
            source,
        })?;
    run_clusters_on(listener, clusters, web, shutdown).await
}

/// As [`run_clusters`], on a listener the caller bound.
pub async fn run_clusters_on(
    listener: tokio::net::TcpListener,
    clusters: &[NamedConnection],
    web: &WebArgs,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let Some(first) = clusters.first() else {
        return Err(ServeError::Config("no cluster to show".to_string()));
    };
    if (clusters.len() > 1 || web.follows_argocd()) && web.auth == AuthMode::Token {
        return Err(ServeError::Config(
            "--auth token signs people in with a token, and a token is one cluster's: it cannot show several clusters (--context given again, --all-contexts, --argocd-cluster-secrets, --argocd-cluster-dir); use --auth oidc or --auth proxy (identity checked once, rights reviewed on each cluster)".to_string(),
        ));
    }
    let conn = &first.connection;
    let addr = listener.local_addr().unwrap_or(web.listen);
    let own = web.prometheus.prometheus_cluster.as_deref();
    let observed = observed_for(conn, web, own.unwrap_or(&first.name), &shutdown)?;
    let view = live::start_observing(conn, BROADCAST_CAPACITY, observed, shutdown.clone())?;
    let view_for_metrics = view.clone();
    let auth = auth_for(conn, web, addr)?;
    let (history, history_writer) = match history_for(conn, web, view.clone(), &shutdown).await? {
        Some((history, writer)) => (Some(history), Some(writer)),
        None => (None, None),
    };
    let metrics = Arc::new(Metrics::new(view_for_metrics));
    let public_origin = match &web.public_url {
        Some(u) => Some(crate::web::auth::guard::origin_of_url(u).ok_or_else(|| {
            ServeError::Config(format!(
                "--public-url must be an http(s)://host[:port] URL, not {u:?}"
            ))
        })?),
        None => None,
    };
    let edge = Edge {
        limits: ConnectionLimits {
            max_connections: usable_connections(web.edge.max_connections as usize),
            ..web.edge.connection_limits()
        },
        hosts: AllowedHosts::for_listen(addr, web.public_url.as_deref(), &web.allowed_hosts),
        metrics: metrics.edge.clone(),
    };
    tracing::info!(
        max_connections = edge.limits.max_connections,
        header_read_timeout_s = edge.limits.header_read_timeout.as_secs_f64(),
        idle_timeout_s = edge.limits.idle_timeout.as_secs_f64(),
        write_timeout_s = edge.limits.write_timeout.as_secs_f64(),
        max_streams = web.edge.max_streams,
        hosts = %edge.hosts.describe(),
        "limits at the edge"
    );
    let state = AppState {
        view,
        default_namespace: conn.config.default_namespace.clone(),
        shutdown: shutdown.clone(),
        // With several clusters, its audit lines say which.
        actor: Actor::new(live::client(conn)?).in_cluster(
            if clusters.len() > 1 || web.follows_argocd() {
                first.name.as_str()
            } else {
                ""
            },
        ),
        read_only: web.read_only,
        base_path: crate::web::base_with_slash(&web.base_path),
        cluster_label: cluster_label(conn),
        cluster_name: first.name.clone(),
        cluster_server: conn.cluster_url(),
        cluster_links: Default::default(),
        scope_label: scope_label(&conn.scope),
        streams: Arc::new(StreamSlots::new(
            web.edge.stream_limits(),
            metrics.edge.clone(),
        )),
        log_streams: Arc::new(StreamSlots::new(
            web.edge.log_stream_limits(),
            metrics.edge.clone(),
        )),
        bulk_runs: Arc::new(crate::web::bulk_run::run_slots(metrics.edge.clone())),
        metrics,
        auth: Arc::new(auth),
        history,
        public_origin,
        templates: Default::default(),
        links: web.links.clone().into(),
        plain_json: Default::default(),
        gzip_lists: Default::default(),
    };
    if let Some(h) = &state.history {
        state.metrics.follow_history_writer(h.leading_changes());
    }
    let more = crate::serve_clusters::More {
        web: web.clone(),
        history_writer,
    };
    let registry = crate::serve_clusters::start(&state, clusters, &more, &shutdown)?;
    let app = router_with(
        state.clone(),
        &web.base_path,
        web.admin_listen.is_some(),
        registry,
    );
    let mut admin_line = String::new();
    if let Some(admin_addr) = web.admin_listen {
        let admin = tokio::net::TcpListener::bind(admin_addr)
            .await
            .map_err(|source| ServeError::Listen {
                addr: admin_addr,
                source,
            })?;
        let admin_addr = admin.local_addr().unwrap_or(admin_addr);
        admin_line = format!("  admin:      http://{admin_addr}/healthz, /readyz, /metrics\n");
        let admin_app = admin_router(state);
        let stop = shutdown.clone();
        let admin_edge = Edge {
            hosts: AllowedHosts::any(),
            ..edge.clone()
        };
        tokio::spawn(async move {
            if let Err(e) = serve(admin, admin_app, admin_edge, stop).await {
                tracing::error!(error = %e, "the admin server failed");
            }
        });
        tracing::info!(addr = %admin_addr, "admin endpoints (probes, metrics)");
    }
    let text = banner(conn, web, addr);
    if clusters.len() > 1 {
        admin_line.push_str(&format!(
            "  clusters:   {} (each at /clusters/{{name}}/; the first also at /)\n",
            clusters
                .iter()
                .map(|c| format!("{} ({})", c.name, c.connection.cluster_url()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // The admin line goes before the last line, the URL.
    match text.rsplit_once('\n') {
        Some((head, url)) => println!("{head}\n{admin_line}{url}"),
        None => println!("{text}"),
    }
    tracing::info!(%addr, base_path = %web.base_path, "serving");
    serve(listener, app, edge, shutdown)
        .await
        .map_err(ServeError::Http)
}

/// File descriptors kept for everything but people's connections: the
/// cluster's watches, Prometheus, the database, logs.
const RESERVED_FILES: usize = 64;

/// `--max-connections`, lowered to what the open-file limit allows (a
/// connection is a file): past that limit accept fails for everyone.
fn usable_connections(asked: usize) -> usize {
    let Some(limit) = open_file_limit() else {
        return asked;
    };
    let room = limit.saturating_sub(RESERVED_FILES).max(1);
    if room < asked {
        tracing::warn!(
            open_file_limit = limit,
            asked,
            max_connections = room,
            "the open-file limit allows fewer connections than --max-connections: serving at most {room} (raise it with ulimit -n)"
        );
        return room;
    }
    asked
}

/// The soft open-file limit (Linux: /proc/self/limits).
fn open_file_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// What a cluster's live view is told of observed traffic.
pub type Observed = Option<(ObservedSource, tokio::sync::mpsc::Receiver<Observation>)>;

/// `--prometheus-*`: where observed traffic comes from, asked for the
/// namespaces in scope (all when the scope is not a list) and, with
/// `--prometheus-cluster-label`, for cluster `cluster`'s series alone.
pub fn observed_for(
    conn: &Connection,
    web: &WebArgs,
    cluster: &str,
    shutdown: &CancellationToken,
) -> Result<Observed, ServeError> {
    let p = &web.prometheus;
    let Some(url) = p.prometheus_url.clone() else {
        return Ok(None);
    };
    let ca_pem = match &p.prometheus_ca_file {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            ServeError::Config(format!(
                "cannot read --prometheus-ca-file {}: {e}",
                path.display()
            ))
        })?),
        None => None,
    };
    let settings = ObservedSettings {
        access: PrometheusAccess {
            url,
            ca_pem,
            bearer_token_file: p.prometheus_bearer_token_file.clone(),
        },
        scope: QueryScope {
            pod_label: p.prometheus_pod_label.clone(),
            namespace_label: p.prometheus_namespace_label.clone(),
            window: p.prometheus_window,
            namespaces: match &conn.scope {
                Scope::Namespaces(ns) => Some(ns.clone()),
                Scope::AllNamespaces | Scope::AllOrDefault { .. } => None,
            },
            cluster: p
                .prometheus_cluster_label
                .clone()
                .map(|label| (label, cluster.to_string())),
        },
        interval: p.prometheus_interval,
        comparison: p.comparison(),
    };
    let (source, rx) =
        crate::observed::start(settings, shutdown.clone()).map_err(ServeError::Config)?;
    tracing::info!(prometheus = %source.url, window_seconds = source.window_seconds, cluster = %cluster, "observed traffic from Prometheus");
    Ok(Some((source, rx)))
}

/// `--history-db`: where the release history is kept (by default SQLite
/// under `--data-dir`; in memory for the demo's simulated cluster), and
/// with PostgreSQL the Lease that says which replica writes it.
async fn history_for(
    conn: &Connection,
    web: &WebArgs,
    view: crate::cluster::hub::LiveView,
    shutdown: &CancellationToken,
) -> Result<Option<(History, HistoryWriter)>, ServeError> {
    let h = &web.history;
    let url = match h.history_db.as_deref() {
        Some("off") => return Ok(None),
        Some(url) => url.to_string(),
        None if matches!(conn.source, ConfigSource::Given(_)) => "sqlite::memory:".to_string(),
        None => {
            let (dir, chosen) = match &h.data_dir {
                Some(d) => (d.clone(), true),
                None => (default_data_dir(), false),
            };
            match std::fs::create_dir_all(&dir) {
                Ok(()) => format!("sqlite://{}", dir.join("history.db").display()),
                // A folder someone named must work; the default may not
                // (a read-only home): then the history lives in memory.
                Err(e) if !chosen => {
                    tracing::warn!(data_dir = %dir.display(), error = %e, "cannot make the default data folder: the release history is kept in memory only (set --data-dir or --history-db)");
                    "sqlite::memory:".to_string()
                }
                Err(e) => {
                    return Err(ServeError::Config(format!(
                        "cannot make the data folder {} (--data-dir): {e}",
                        dir.display()
                    )));
                }
            }
        }
    };
    let bad = |e: StoreError| ServeError::Config(format!("--history-db: {e}"));
    let backend = crate::history::store::backend_of(&url).map_err(bad)?;
    let writer = HistoryWriter {
        backend,
        client: live::client(conn)?,
        default_namespace: conn.config.default_namespace.clone(),
    };
    let leading = writer.leading(&h.history_lease, web, shutdown);
    let demo = matches!(conn.source, ConfigSource::Given(_));
    let history = History::start(
        &url,
        h.history_retention,
        view,
        leading,
        Some(live::client(conn)?),
        h.history_pod_logs.unwrap_or(demo),
        shutdown.clone(),
    )
    .await
    .map_err(bad)?;
    tracing::info!(backend = ?history.backend(), retention_days = h.history_retention.as_secs() / 86_400, pod_logs = history.keeps_pod_logs, "release history");
    Ok(Some((history, writer)))
}

/// What decides whether this replica writes a cluster's history: with
/// SQLite (one file, one writer) always; with PostgreSQL a Lease in the
/// dashboard's own cluster, one per cluster shown, so replicas that share
/// the database, each showing some clusters, write each cluster once.
#[derive(Clone)]
pub struct HistoryWriter {
    backend: Backend,
    client: kube::Client,
    default_namespace: String,
}

impl HistoryWriter {
    /// Whether this replica writes the history under Lease `name`, as it
    /// changes, until `stop`.
    pub fn leading(
        &self,
        name: &str,
        web: &WebArgs,
        stop: &CancellationToken,
    ) -> tokio::sync::watch::Receiver<bool> {
        let h = &web.history;
        match self.backend {
            Backend::Sqlite => {
                let (tx, rx) = tokio::sync::watch::channel(true);
                let stop = stop.clone();
                tokio::spawn(async move {
                    stop.cancelled().await;
                    drop(tx);
                });
                rx
            }
            Backend::Postgres => lease::start(
                self.client.clone(),
                LeaseSettings {
                    namespace: h
                        .history_lease_namespace
                        .clone()
                        .or_else(|| {
                            std::env::var("POD_NAMESPACE")
                                .ok()
                                .filter(|n| !n.is_empty())
                        })
                        .unwrap_or_else(|| self.default_namespace.clone()),
                    name: name.to_string(),
                    identity: replica_identity(),
                    duration: std::time::Duration::from_secs(15),
                    renew_every: std::time::Duration::from_secs(5),
                },
                stop.clone(),
            ),
        }
    }
}

/// `$XDG_DATA_HOME/rollouts-dashboard`, `~/.local/share/rollouts-dashboard`,
/// or `./rollouts-dashboard-data` when neither is known.
fn default_data_dir() -> std::path::PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(xdg) = env("XDG_DATA_HOME") {
        return std::path::PathBuf::from(xdg).join("rollouts-dashboard");
    }
    if let Some(home) = env("HOME") {
        return std::path::PathBuf::from(home).join(".local/share/rollouts-dashboard");
    }
    std::path::PathBuf::from("rollouts-dashboard-data")
}

/// This replica as the Lease names its holder: the pod's name (the
/// hostname in a pod) and a random part, so a restarted pod is new.
fn replica_identity() -> String {
    use ring::rand::SecureRandom;
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "rollouts-dashboard".to_string());
    let mut bytes = [0u8; 4];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{host}-{suffix}")
}

/// How people are identified (`--auth`), checked before anything is served.
fn auth_for(conn: &Connection, web: &WebArgs, addr: SocketAddr) -> Result<Auth, ServeError> {
    if web.auth == AuthMode::Proxy && web.trusted_proxies.is_empty() {
        return Err(ServeError::Config(
            "--auth proxy needs --trusted-proxy CIDR: the addresses of the proxy that sets the identity headers (e.g. the ingress gateway's pods)".to_string(),
        ));
    }
    let refresh = std::time::Duration::from_secs(web.access_check_interval);
    let reviews = match web.auth {
        AuthMode::None => None,
        AuthMode::Proxy | AuthMode::Token | AuthMode::Oidc => {
            Some(AccessReviews::new(live::client(conn)?, refresh))
        }
    };
    let oidc = match web.auth {
        AuthMode::Oidc => Some(Arc::new(oidc_login(web)?)),
        _ => None,
    };
    let token_sealer = match web.auth {
        AuthMode::Token => Some(token_sealer(web)?),
        _ => None,
    };
    let exposed = !addr.ip().is_loopback();
    let notice = (web.auth == AuthMode::None && exposed && !web.read_only).then(|| {
        format!(
            "no authentication: whoever reaches this port acts as {}",
            identity_label(conn)
        )
    });
    if let Some(n) = &notice {
        tracing::warn!(listen = %addr, "{n}; use --auth proxy or --auth token, or --read-only");
    }
    Ok(Auth {
        mode: web.auth.into(),
        user_header: web.user_header.clone(),
        groups_header: web.groups_header.clone(),
        email_header: web.email_header.clone(),
        trusted: web.trusted_proxies.clone(),
        base_config: conn.config.clone(),
        reviews,
        oidc,
        token_sealer,
        signed_out: Default::default(),
        notice,
    })
}

/// `--auth token` seals each person's token in their cookie: with
/// `--session-key-file` (the same on every replica), else with a key made
/// at start (sign-ins then end when the dashboard restarts).
fn token_sealer(web: &WebArgs) -> Result<Sealer, ServeError> {
    let base = crate::web::base_with_slash(&web.base_path);
    let key = match &web.session_key_file {
        Some(path) => std::fs::read(path).map_err(|e| {
            ServeError::Config(format!(
                "cannot read --session-key-file {}: {e}",
                path.display()
            ))
        })?,
        None => {
            use ring::rand::SecureRandom;
            let mut key = vec![0u8; 64];
            ring::rand::SystemRandom::new()
                .fill(&mut key)
                .map_err(|_| ServeError::Config("the system has no random numbers".into()))?;
            tracing::info!(
                "--auth token: sign-ins last until this dashboard restarts (set --session-key-file to keep them, and on every replica)"
            );
            key
        }
    };
    Sealer::new(&key, &base).map_err(ServeError::Config)
}

/// `--auth oidc`'s settings, checked: an HTTPS issuer, a client id, the
/// public URL and a session key good enough to seal cookies.
fn oidc_login(web: &WebArgs) -> Result<OidcLogin, ServeError> {
    let bad = |s: String| ServeError::Config(s);
    let issuer = web
        .oidc_issuer_url
        .clone()
        .ok_or_else(|| bad("--auth oidc needs --oidc-issuer-url".into()))?;
    if !issuer.starts_with("https://") {
        return Err(bad(format!(
            "--oidc-issuer-url must be an https:// URL (as kube-apiserver requires), not {issuer:?}"
        )));
    }
    let client_id = web
        .oidc_client_id
        .clone()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("--auth oidc needs --oidc-client-id".into()))?;
    let public = web.public_url.clone().ok_or_else(|| {
        bad(
            "--auth oidc needs --public-url: the address people open (the sign-in returns there)"
                .into(),
        )
    })?;
    if !(public.starts_with("https://") || public.starts_with("http://")) {
        return Err(bad(format!(
            "--public-url must be an http(s):// URL, not {public:?}"
        )));
    }
    let key_file = web.session_key_file.clone().ok_or_else(|| {
        bad("--auth oidc needs --session-key-file: at least 32 random bytes, the same on every replica".into())
    })?;
    let key = std::fs::read(&key_file).map_err(|e| {
        bad(format!(
            "cannot read --session-key-file {}: {e}",
            key_file.display()
        ))
    })?;
    let ca_pem = match &web.oidc_ca_file {
        Some(p) => Some(
            std::fs::read(p)
                .map_err(|e| bad(format!("cannot read --oidc-ca-file {}: {e}", p.display())))?,
        ),
        None => None,
    };
    let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|l| public.starts_with(l));
    if public.starts_with("http://") && !local {
        tracing::warn!(public_url = %public, "browsers keep the session cookie (Secure) only over HTTPS or on this machine: sign-in will not stick at an http:// public URL");
    }
    let base = crate::web::base_with_slash(&web.base_path);
    let public_base = format!("{}{base}", public.trim_end_matches('/'));
    let settings = OidcSettings {
        client_id,
        client_secret: web.oidc_client_secret.clone(),
        ca_pem,
        mapping: ClaimMapping {
            issuer,
            username_claim: web.oidc_username_claim.clone(),
            username_prefix: web.oidc_username_prefix.clone(),
            groups_claim: web.oidc_groups_claim.clone(),
            groups_prefix: web.oidc_groups_prefix.clone(),
            required: web.oidc_required_claims.clone(),
        },
        scopes: web.oidc_scopes.clone(),
    };
    Ok(OidcLogin {
        oidc: Oidc::new(settings).map_err(bad)?,
        sealer: Sealer::new(&key, &base).map_err(bad)?,
        public_base,
    })
}

/// Whom the dashboard's own credentials name, for people.
fn identity_label(conn: &Connection) -> String {
    match &conn.source {
        ConfigSource::Kubeconfig {
            context: Some(c), ..
        } => format!("the kubeconfig context {c}"),
        ConfigSource::Kubeconfig { .. } => "the kubeconfig's user".to_string(),
        ConfigSource::InCluster => "this pod's ServiceAccount".to_string(),
        ConfigSource::Given(_) => "the credentials it was given".to_string(),
    }
}

/// The cluster as the page header names it.
pub fn cluster_label(conn: &Connection) -> String {
    match &conn.source {
        ConfigSource::Kubeconfig {
            context: Some(c), ..
        } => c.clone(),
        ConfigSource::Kubeconfig { .. } => conn.cluster_url(),
        ConfigSource::InCluster => "in-cluster".to_string(),
        ConfigSource::Given(name) => name.clone(),
    }
}

/// The namespaces as the page header names them.
pub fn scope_label(scope: &Scope) -> String {
    match scope {
        Scope::Namespaces(ns) => ns.join(", "),
        Scope::AllNamespaces | Scope::AllOrDefault { .. } => "all namespaces".to_string(),
    }
}

/// What a person needs to know at start: which cluster, as whom, which
/// namespaces, and the URL (the last line, which scripts may read).
pub fn banner(conn: &Connection, web: &WebArgs, addr: SocketAddr) -> String {
    let source = match &conn.source {
        ConfigSource::Kubeconfig { path, context } => format!(
            "kubeconfig {path}, context {}",
            context.as_deref().unwrap_or("(none)")
        ),
        ConfigSource::InCluster => "in-cluster service account".to_string(),
        ConfigSource::Given(name) => name.clone(),
    };
    let scope = match &conn.scope {
        Scope::Namespaces(ns) => format!("namespaces {}", ns.join(", ")),
        Scope::AllNamespaces => "all namespaces".to_string(),
        Scope::AllOrDefault { fallback } => {
            format!("all namespaces (only {fallback:?} if listing cluster-wide is forbidden)")
        }
    };
    let actions = if web.read_only {
        "off (read-only)"
    } else {
        "on"
    };
    let auth = match web.auth {
        AuthMode::None => "none (everyone acts as the dashboard)".to_string(),
        AuthMode::Proxy => format!(
            "proxy ({} from {}; actions impersonate the user)",
            web.user_header,
            web.trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        AuthMode::Token => "token (each person's Kubernetes bearer token)".to_string(),
        AuthMode::Oidc => format!(
            "oidc ({}; ID tokens verified here; actions impersonate the user)",
            web.oidc_issuer_url.as_deref().unwrap_or("no issuer")
        ),
    };
    let base = if web.base_path == "/" {
        "/".to_string()
    } else {
        format!("{}/", web.base_path)
    };
    format!(
        "rollouts-dashboard\n  cluster:    {} ({source})\n  scope:      {scope}\n  actions:    {actions}\n  auth:       {auth}\nserving at http://{addr}{base}",
        conn.cluster_url()
    )
}
