//! Command-line interface. kubectl's conventions for connection flags; every
//! flag can also be set from an environment variable
//! `ROLLOUTS_DASHBOARD_<FLAG>` (flags win over the environment).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "rollouts-dashboard",
    version,
    about = "Watch and steer Argo Rollouts progressive delivery live in the browser",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// `serve` is the default subcommand: its flags work without naming it.
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard for the cluster in your kubeconfig (the default)
    Serve(ServeArgs),
    /// Run a simulated cluster and the dashboard on it, in one process
    #[cfg(feature = "sim")]
    Demo(DemoArgs),
    /// Serve a simulated Kubernetes cluster with an Argo Rollouts controller
    #[cfg(feature = "sim")]
    Sim(SimArgs),
}

impl Cli {
    /// The subcommand to run, `serve` when none was named.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }
}

/// How to reach the cluster, as kubectl does.
#[derive(Clone, Debug, Default, Args)]
pub struct ConnectArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)
    #[arg(long, env = "ROLLOUTS_DASHBOARD_KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current-context); repeat for several clusters, each shown at /clusters/{name}/
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_CONTEXT",
        value_name = "NAME",
        value_delimiter = ',',
        value_parser = non_empty
    )]
    pub context: Vec<String>,
    /// Show every context of the kubeconfig, each a cluster of its own
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_ALL_CONTEXTS",
        conflicts_with = "context"
    )]
    pub all_contexts: bool,
    /// Namespace to show; repeat for several (default: all the credentials may list)
    #[arg(
        short = 'n',
        long = "namespace",
        env = "ROLLOUTS_DASHBOARD_NAMESPACE",
        value_name = "NS",
        value_delimiter = ',',
        value_parser = namespace_name
    )]
    pub namespaces: Vec<String>,
    /// Show rollouts in all namespaces
    #[arg(
        short = 'A',
        long,
        env = "ROLLOUTS_DASHBOARD_ALL_NAMESPACES",
        conflicts_with = "namespaces"
    )]
    pub all_namespaces: bool,
}

impl From<&ConnectArgs> for crate::cluster::client::ConnectSettings {
    fn from(a: &ConnectArgs) -> Self {
        crate::cluster::client::ConnectSettings {
            kubeconfig: a.kubeconfig.clone(),
            context: a.context.first().cloned(),
            more_contexts: a.context.iter().skip(1).cloned().collect(),
            all_contexts: a.all_contexts,
            namespaces: a.namespaces.clone(),
            all_namespaces: a.all_namespaces,
        }
    }
}

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub web: WebArgs,
}

/// How the dashboard serves people.
#[derive(Clone, Debug, Args)]
pub struct WebArgs {
    /// Address to listen on; 0.0.0.0:3100 to serve beyond this machine
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_LISTEN",
        value_name = "ADDR",
        default_value = "127.0.0.1:3100"
    )]
    pub listen: SocketAddr,
    /// Serve /healthz, /readyz and /metrics on this address instead (e.g. 0.0.0.0:9090 in a pod), so an ingress never exposes them
    #[arg(long, env = "ROLLOUTS_DASHBOARD_ADMIN_LISTEN", value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// URL prefix under which every page, asset, stream and API lives (e.g. /rollouts)
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_BASE_PATH",
        value_name = "PATH",
        default_value = "/",
        value_parser = base_path
    )]
    pub base_path: String,
    /// Show everything, change nothing: no action buttons, mutating requests get 403
    #[arg(long, env = "ROLLOUTS_DASHBOARD_READ_ONLY")]
    pub read_only: bool,
    /// Also show every cluster Argo CD knows: its declarative cluster Secrets in namespace NS of this cluster (usually argocd), followed, so a cluster added or removed there appears or goes without a restart
    #[arg(long, env = "ROLLOUTS_DASHBOARD_ARGOCD_CLUSTER_SECRETS", value_name = "NS", value_parser = namespace_name)]
    pub argocd_cluster_secrets: Option<String>,
    /// Also show the clusters of Argo CD's cluster Secrets mounted as files: each subfolder of DIR one Secret as a Secret volume lays it out (files name, server, config); no right to read Secrets is needed. Read again every few seconds (a rotated token is taken)
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_ARGOCD_CLUSTER_DIR",
        value_name = "DIR",
        conflicts_with = "argocd_cluster_secrets"
    )]
    pub argocd_cluster_dir: Option<PathBuf>,
    /// Of Argo CD's cluster Secrets, only those this label selector matches too (e.g. rollouts-dashboard/shard=eu): one replica per set of clusters
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_ARGOCD_CLUSTER_SELECTOR",
        value_name = "SELECTOR",
        requires = "argocd_cluster_secrets",
        value_parser = label_selector
    )]
    pub argocd_cluster_selector: Option<String>,
    /// A link out of every rollout (repeatable): NAME=URL with {namespace}, {name}, {revision} and {podTemplateHash} filled in; one naming a revision is shown per revision. Only http(s)
    #[arg(
        long = "link",
        env = "ROLLOUTS_DASHBOARD_LINKS",
        value_name = "NAME=URL",
        value_delimiter = ' ',
        value_parser = crate::info::links::parse_link
    )]
    pub links: Vec<crate::info::links::LinkTemplate>,
    /// Who the person is: none (whoever reaches the port acts as the dashboard), proxy (identity headers from a trusted authenticating proxy; actions impersonate that user), token (the person's own Kubernetes bearer token), oidc (ID tokens from an OpenID provider, verified here; actions impersonate that user)
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_AUTH",
        value_enum,
        default_value_t = AuthMode::None
    )]
    pub auth: AuthMode,
    /// --auth proxy: the header naming the user (only this one is read; X-Auth-Request-User for oauth2-proxy)
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_USER_HEADER",
        value_name = "NAME",
        default_value = "X-Forwarded-User"
    )]
    pub user_header: String,
    /// --auth proxy: the header listing the user's groups, comma-separated; the proxy must set or strip it (empty: no groups from headers)
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_GROUPS_HEADER",
        value_name = "NAME",
        default_value = "X-Forwarded-Groups"
    )]
    pub groups_header: String,
    /// --auth proxy: the header with the user's email
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_EMAIL_HEADER",
        value_name = "NAME",
        default_value = "X-Forwarded-Email"
    )]
    pub email_header: String,
    /// --auth proxy: identity headers are believed only from these sources (CIDR, repeatable), e.g. the ingress gateway's pod range
    #[arg(
        long = "trusted-proxy",
        env = "ROLLOUTS_DASHBOARD_TRUSTED_PROXY",
        value_name = "CIDR",
        value_delimiter = ',',
        value_parser = cidr
    )]
    pub trusted_proxies: Vec<Cidr>,
    /// --auth oidc: the issuer (HTTPS); its discovery document and keys are fetched from it
    #[arg(long, env = "ROLLOUTS_DASHBOARD_OIDC_ISSUER_URL", value_name = "URL")]
    pub oidc_issuer_url: Option<String>,
    /// --auth oidc: this dashboard's client id, the audience its ID tokens must name
    #[arg(long, env = "ROLLOUTS_DASHBOARD_OIDC_CLIENT_ID", value_name = "ID")]
    pub oidc_client_id: Option<String>,
    /// --auth oidc: the client secret, for the browser sign-in (better from the environment)
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_OIDC_CLIENT_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub oidc_client_secret: Option<String>,
    /// --auth oidc: PEM certificates to trust for the issuer, beside the system's
    #[arg(long, env = "ROLLOUTS_DASHBOARD_OIDC_CA_FILE", value_name = "PATH")]
    pub oidc_ca_file: Option<PathBuf>,
    /// --auth oidc: the claim naming the user, as kube-apiserver's flag
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_OIDC_USERNAME_CLAIM",
        value_name = "CLAIM",
        default_value = "sub"
    )]
    pub oidc_username_claim: String,
    /// --auth oidc: prefix for usernames (default: the issuer URL and '#' unless the claim is email; '-' for none)
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_OIDC_USERNAME_PREFIX",
        value_name = "PREFIX"
    )]
    pub oidc_username_prefix: Option<String>,
    /// --auth oidc: the claim listing the user's groups
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_OIDC_GROUPS_CLAIM",
        value_name = "CLAIM"
    )]
    pub oidc_groups_claim: Option<String>,
    /// --auth oidc: prefix for every group
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_OIDC_GROUPS_PREFIX",
        value_name = "PREFIX",
        default_value = ""
    )]
    pub oidc_groups_prefix: String,
    /// --auth oidc: a claim the ID token must carry with this exact value (repeatable)
    #[arg(
        long = "oidc-required-claim",
        env = "ROLLOUTS_DASHBOARD_OIDC_REQUIRED_CLAIM",
        value_name = "KEY=VALUE",
        value_delimiter = ',',
        value_parser = key_value
    )]
    pub oidc_required_claims: Vec<(String, String)>,
    /// --auth oidc: the scopes the browser sign-in asks for
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_OIDC_SCOPES",
        value_name = "SCOPES",
        value_delimiter = ',',
        default_value = "openid,email,profile"
    )]
    pub oidc_scopes: Vec<String>,
    /// The address people open (e.g. https://rollouts.example.com): its host is served and actions must come from its origin (so a proxy that rewrites Host works); --auth oidc makes the sign-in's redirect URI from it
    #[arg(long, env = "ROLLOUTS_DASHBOARD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// A host name this dashboard answers to (repeatable). Loopback names always work; on a loopback listen nothing else does but these and --public-url's host; on other listens every name does until one is given here
    #[arg(
        long = "allowed-host",
        env = "ROLLOUTS_DASHBOARD_ALLOWED_HOST",
        value_name = "NAME",
        value_delimiter = ',',
        value_parser = non_empty
    )]
    pub allowed_hosts: Vec<String>,
    /// --auth oidc and token: a file of at least 32 random bytes that seals session cookies; the same file on every replica
    #[arg(long, env = "ROLLOUTS_DASHBOARD_SESSION_KEY_FILE", value_name = "PATH")]
    pub session_key_file: Option<PathBuf>,
    /// How often a person's rights (and token) are asked again; open live views end within this when access is withdrawn
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_ACCESS_CHECK_INTERVAL",
        value_name = "SECONDS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub access_check_interval: u64,
    #[command(flatten)]
    pub edge: EdgeArgs,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Log line format: text for people, json for log collectors
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

/// Bounds that hold for every connection and stream, before anyone signs in.
#[derive(Clone, Debug, Args)]
pub struct EdgeArgs {
    /// Connections held at once (lowered to what the open-file limit allows); beyond, new ones get 503 and are closed
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_MAX_CONNECTIONS",
        value_name = "N",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub max_connections: u32,
    /// A request's head must arrive within this after its first byte, and its body within this after its head
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_HEADER_READ_TIMEOUT",
        value_name = "DURATION",
        default_value = "10s",
        value_parser = seconds
    )]
    pub header_read_timeout: std::time::Duration,
    /// A connection with no request in flight is closed after this
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_IDLE_TIMEOUT",
        value_name = "DURATION",
        default_value = "60s",
        value_parser = seconds
    )]
    pub idle_timeout: std::time::Duration,
    /// A response or live stream whose reader takes nothing for this long is dropped
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_WRITE_TIMEOUT",
        value_name = "DURATION",
        default_value = "30s",
        value_parser = seconds
    )]
    pub write_timeout: std::time::Duration,
    /// The largest request head (URL, headers, cookies) in bytes; larger ones get 431
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_MAX_HEADER_BYTES",
        value_name = "BYTES",
        default_value_t = 32 * 1024,
        value_parser = clap::value_parser!(u32).range(8192..=1_048_576)
    )]
    pub max_header_bytes: u32,
    /// Live views (page streams and API watches) open at once, in all
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_MAX_STREAMS",
        value_name = "N",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub max_streams: u32,
    /// Live views one signed-in person may hold; with --auth none, one client address
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_MAX_STREAMS_PER_CLIENT",
        value_name = "N",
        default_value_t = 32,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub max_streams_per_client: u32,
    /// Bytes a live view may queue for a reader that does not take them; past --write-timeout waiting for room, the view is dropped
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_STREAM_BACKLOG",
        value_name = "BYTES",
        default_value_t = 64 * 1024,
        value_parser = clap::value_parser!(u32).range(4096..=64 * 1024 * 1024)
    )]
    pub stream_backlog: u32,
    /// Pod log streams (a rollout's Logs view, followed) open at once, in all
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_MAX_LOG_STREAMS",
        value_name = "N",
        default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    pub max_log_streams: u32,
    /// Pod log streams one signed-in person may hold; with --auth none, one client address
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_MAX_LOG_STREAMS_PER_CLIENT",
        value_name = "N",
        default_value_t = 4,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    pub max_log_streams_per_client: u32,
}

impl EdgeArgs {
    pub fn connection_limits(&self) -> crate::web::edge::ConnectionLimits {
        crate::web::edge::ConnectionLimits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            write_timeout: self.write_timeout,
            max_connections: self.max_connections as usize,
            max_header_bytes: self.max_header_bytes as usize,
        }
    }

    pub fn stream_limits(&self) -> crate::web::auth::limits::StreamLimits {
        crate::web::auth::limits::StreamLimits {
            per_client: self.max_streams_per_client as usize,
            total: self.max_streams as usize,
            backlog_bytes: self.stream_backlog as usize,
            wait: self.write_timeout,
            what: crate::web::auth::limits::StreamKind::LiveViews,
        }
    }

    /// Followed pod logs: fewer, each with room for bursts of lines.
    pub fn log_stream_limits(&self) -> crate::web::auth::limits::StreamLimits {
        crate::web::auth::limits::StreamLimits {
            per_client: self.max_log_streams_per_client as usize,
            total: self.max_log_streams as usize,
            backlog_bytes: (self.stream_backlog as usize).max(256 * 1024),
            wait: self.write_timeout,
            what: crate::web::auth::limits::StreamKind::PodLogs,
        }
    }
}

/// Observed traffic from Prometheus (Istio's standard metrics).
#[derive(Clone, Debug, Args)]
pub struct PrometheusArgs {
    /// Prometheus (or Thanos, Mimir: its query API's base URL) that scrapes Istio's metrics; shows each revision's observed share, success rate and latency
    #[arg(long, env = "ROLLOUTS_DASHBOARD_PROMETHEUS_URL", value_name = "URL")]
    pub prometheus_url: Option<String>,
    /// Extra CA certificates (PEM) to trust for --prometheus-url
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_PROMETHEUS_CA_FILE",
        value_name = "PATH"
    )]
    pub prometheus_ca_file: Option<PathBuf>,
    /// A file holding a bearer token for --prometheus-url (read again at every refresh)
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_PROMETHEUS_BEARER_TOKEN_FILE",
        value_name = "PATH"
    )]
    pub prometheus_bearer_token_file: Option<PathBuf>,
    /// The window rates are taken over, e.g. 1m or 30s
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_PROMETHEUS_WINDOW",
        value_name = "DURATION",
        default_value = "1m",
        value_parser = seconds
    )]
    pub prometheus_window: std::time::Duration,
    /// How often Prometheus is asked (one query per metric for every rollout)
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_PROMETHEUS_INTERVAL",
        value_name = "DURATION",
        default_value = "15s",
        value_parser = seconds
    )]
    pub prometheus_interval: std::time::Duration,
    /// The label Prometheus's scrape puts the pod name in
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_PROMETHEUS_POD_LABEL",
        value_name = "LABEL",
        default_value = "pod"
    )]
    pub prometheus_pod_label: String,
    /// The label Prometheus's scrape puts the namespace in
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_PROMETHEUS_NAMESPACE_LABEL",
        value_name = "LABEL",
        default_value = "namespace"
    )]
    pub prometheus_namespace_label: String,
    /// With several clusters in one Prometheus (Thanos, Mimir): the label that tells them apart, e.g. cluster. Each cluster shown is then asked for its own series (LABEL="its name"), the clusters after the first too; without it, --prometheus-url serves the first cluster only
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_PROMETHEUS_CLUSTER_LABEL",
        value_name = "LABEL"
    )]
    pub prometheus_cluster_label: Option<String>,
    /// The dashboard's own (first) cluster's value of --prometheus-cluster-label (default: its name, as in the dashboard's URLs)
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_PROMETHEUS_CLUSTER",
        value_name = "VALUE",
        requires = "prometheus_cluster_label"
    )]
    pub prometheus_cluster: Option<String>,
    /// How sure a difference between canary and stable must be to count (0.5–0.9999)
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_COMPARISON_CONFIDENCE",
        value_name = "P",
        default_value = "0.98",
        value_parser = confidence
    )]
    pub comparison_confidence: f64,
    /// Requests each of canary and stable must have answered over the window to be judged
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_COMPARISON_MIN_REQUESTS",
        value_name = "N",
        default_value = "100"
    )]
    pub comparison_min_requests: u32,
    /// A difference that counts as none, per metric (repeatable): success-rate=POINTS, latency-p50=PERCENT, latency-p99=PERCENT, cpu=PERCENT, memory=PERCENT, restarts=PER-POD. Default: success-rate=0.5, latency-p50=10, latency-p99=10, cpu=20, memory=20, restarts=1
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_COMPARISON_TOLERANCE",
        value_name = "METRIC=VALUE",
        value_delimiter = ',',
        value_parser = tolerance
    )]
    pub comparison_tolerance: Vec<(String, f64)>,
}

impl PrometheusArgs {
    /// The comparison's settings these flags give.
    pub fn comparison(&self) -> crate::info::comparison::ComparisonSettings {
        let mut s = crate::info::comparison::ComparisonSettings {
            confidence: self.comparison_confidence,
            min_requests: f64::from(self.comparison_min_requests),
            ..Default::default()
        };
        for (metric, value) in &self.comparison_tolerance {
            match metric.as_str() {
                "success-rate" => s.success_points = *value,
                "latency-p50" => s.p50_percent = *value,
                "latency-p99" => s.p99_percent = *value,
                "cpu" => s.cpu_percent = *value,
                "memory" => s.memory_percent = *value,
                _ => s.restarts_per_pod = *value,
            }
        }
        s
    }
}

fn confidence(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.5..=0.9999).contains(&p) => Ok(p),
        _ => Err(format!(
            "{s:?} is not a confidence between 0.5 and 0.9999 (e.g. 0.98)"
        )),
    }
}

/// The metrics a tolerance can be set for.
const TOLERANCES: [&str; 6] = [
    "success-rate",
    "latency-p50",
    "latency-p99",
    "cpu",
    "memory",
    "restarts",
];

fn tolerance(s: &str) -> Result<(String, f64), String> {
    let (metric, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not METRIC=VALUE"))?;
    let metric = metric.trim();
    if !TOLERANCES.contains(&metric) {
        return Err(format!("{metric:?} is none of {}", TOLERANCES.join(", ")));
    }
    match value.trim().parse::<f64>() {
        Ok(v) if (0.0..=1000.0).contains(&v) => Ok((metric.to_string(), v)),
        _ => Err(format!("{value:?} is not a tolerance between 0 and 1000")),
    }
}

/// The release history's database.
#[derive(Clone, Debug, Args)]
pub struct HistoryArgs {
    /// Where the release history is kept: sqlite://PATH, sqlite::memory:, postgres://USER:PASSWORD@HOST/DB (several replicas), or off. Default: sqlite under --data-dir (demo: in memory)
    #[arg(long, env = "ROLLOUTS_DASHBOARD_HISTORY_DB", value_name = "URL")]
    pub history_db: Option<String>,
    /// A folder for the dashboard's files (the SQLite history). Default: $XDG_DATA_HOME/rollouts-dashboard or ~/.local/share/rollouts-dashboard
    #[arg(long, env = "ROLLOUTS_DASHBOARD_DATA_DIR", value_name = "PATH")]
    pub data_dir: Option<PathBuf>,
    /// How long revisions are kept after they end, e.g. 90d, 720h
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_HISTORY_RETENTION",
        value_name = "DURATION",
        default_value = "90d",
        value_parser = retention
    )]
    pub history_retention: std::time::Duration,
    /// Keep the last lines (200, at most 64 KiB) of each pod of a canary that is aborted or degrades, with its release; read with the dashboard's own account, which then needs pods/log (the chart's historyPodLogs). Default: false (demo: true)
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_HISTORY_POD_LOGS",
        value_name = "BOOL",
        action = clap::ArgAction::Set
    )]
    pub history_pod_logs: Option<bool>,
    /// With PostgreSQL, only the holder of this Lease (coordination.k8s.io/v1) writes the history
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_HISTORY_LEASE",
        value_name = "NAME",
        default_value = "rollouts-dashboard-history"
    )]
    pub history_lease: String,
    /// The Lease's namespace. Default: the pod's (POD_NAMESPACE), else the connection's default namespace
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_HISTORY_LEASE_NAMESPACE",
        value_name = "NS"
    )]
    pub history_lease_namespace: Option<String>,
}

/// A retention such as `90d`, `36h` or `30m`: a number of days, or a
/// duration; at least a minute.
fn retention(s: &str) -> Result<std::time::Duration, String> {
    let secs = match s.strip_suffix('d') {
        Some(days) => days
            .parse::<u64>()
            .ok()
            .and_then(|d| d.checked_mul(86_400))
            .map(|s| s as f64),
        None => crate::info::parse_go_duration(s).map(|d| d.as_secs_f64()),
    }
    .ok_or_else(|| format!("{s:?} is not a retention such as 90d, 720h or 30m"))?;
    if !(60.0..=(3650.0 * 86_400.0)).contains(&secs) {
        return Err(format!("{s:?} must be between 1m and 3650d"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A duration such as `90s`, `1m` or `1h30m`, of at least one second.
fn seconds(s: &str) -> Result<std::time::Duration, String> {
    let d = crate::info::parse_go_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration such as 30s, 1m or 1h30m"))?;
    let secs = d.as_secs_f64();
    if !(1.0..=86_400.0).contains(&secs) || secs.is_nan() {
        return Err(format!("{s:?} must be between 1s and 24h"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

impl WebArgs {
    /// Whether clusters come from Argo CD's Secrets (listed or mounted).
    pub fn follows_argocd(&self) -> bool {
        self.argocd_cluster_secrets.is_some() || self.argocd_cluster_dir.is_some()
    }

    /// Every flag at its default (and the environment's values), for code
    /// that sets a few and takes the rest.
    pub fn defaults() -> WebArgs {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            web: WebArgs,
        }
        Only::parse_from(["rollouts-dashboard"]).web
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    None,
    Proxy,
    Token,
    Oidc,
}

impl From<AuthMode> for crate::web::auth::identity::AuthMode {
    fn from(m: AuthMode) -> Self {
        use crate::web::auth::identity::AuthMode as W;
        match m {
            AuthMode::None => W::None,
            AuthMode::Proxy => W::Proxy,
            AuthMode::Token => W::Token,
            AuthMode::Oidc => W::Oidc,
        }
    }
}

pub use crate::web::auth::identity::Cidr;

/// `10.0.0.0/8`, or one address (a /32 or /128).
pub fn cidr(s: &str) -> Result<Cidr, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<ipnet::IpNet>() {
        return Ok(Cidr(net));
    }
    s.parse::<std::net::IpAddr>()
        .map(|ip| Cidr(ipnet::IpNet::from(ip)))
        .map_err(|_| format!("{s:?} is not an address range such as 10.0.0.0/8"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// What the simulated cluster plays.
#[derive(Clone, Debug, Args)]
pub struct ScenarioArgs {
    /// Scenario to play: seed (the manifest-gen canary release and friends)
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_SCENARIO",
        value_name = "NAME",
        default_value = "seed"
    )]
    pub scenario: String,
    /// Load every YAML document in DIR as-is (repeatable), e.g. a dump of a real cluster
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_MANIFESTS",
        value_name = "DIR",
        value_delimiter = ','
    )]
    pub manifests: Vec<PathBuf>,
    /// Freeze the objects: run no simulated controller
    #[arg(long, env = "ROLLOUTS_DASHBOARD_NO_CONTROLLER")]
    pub no_controller: bool,
}

#[derive(Clone, Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    #[command(flatten)]
    pub web: WebArgs,
    /// Write a Prometheus scrape configuration for the simulated mesh's request metrics and its node's cAdvisor and kube-state-metrics series to PATH (start Prometheus with it, and pass --prometheus-url)
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_PROMETHEUS_CONFIG_OUT",
        value_name = "PATH"
    )]
    pub prometheus_config_out: Option<PathBuf>,
    /// Simulate N clusters (1 to 10): the seed's release in the first, varied releases that keep moving in the others, each shown at /clusters/demo-{i}/
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_DEMO_CLUSTERS",
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u8).range(1..=10)
    )]
    pub clusters: u8,
}

#[derive(Clone, Debug, Args)]
pub struct SimArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Address the simulated API server listens on
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_SIM_LISTEN",
        value_name = "ADDR",
        default_value = "127.0.0.1:6443"
    )]
    pub listen: SocketAddr,
    /// Generate N canary rollouts across 10 namespaces that change state continuously
    #[arg(long, env = "ROLLOUTS_DASHBOARD_SCALE", value_name = "N")]
    pub scale: Option<u32>,
    /// Write a kubeconfig that points at the simulated cluster to PATH (with --users: a context per user, the first current)
    #[arg(long, env = "ROLLOUTS_DASHBOARD_KUBECONFIG_OUT", value_name = "PATH")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Require bearer tokens from this file (kube-apiserver's token file: token,user,uid,"groups") and enforce the RBAC objects loaded with --manifests
    #[arg(long, env = "ROLLOUTS_DASHBOARD_SIM_USERS", value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Write a Prometheus scrape configuration for the simulated mesh's request metrics (/sim/v1/istio/metrics) and its node's cAdvisor and kube-state-metrics series (/sim/v1/node/metrics) to PATH
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_PROMETHEUS_CONFIG_OUT",
        value_name = "PATH"
    )]
    pub prometheus_config_out: Option<PathBuf>,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// A label selector of `key=value`, `key!=value`, `key` and `!key` terms
/// joined by commas.
fn label_selector(s: &str) -> Result<String, String> {
    let ok = !s.trim().is_empty()
        && s.len() <= 256
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-=!,".contains(c));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a label selector (key=value, key!=value, key or !key, joined by commas)"
        ))
    }
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty".to_string())
    } else {
        Ok(s.to_string())
    }
}

pub use crate::model::namespace_name;

/// Normalises a URL prefix to `/` or `/a/b` (leading slash, no trailing one).
pub fn base_path(s: &str) -> Result<String, String> {
    let trimmed = s.trim();
    if !trimmed.starts_with('/') {
        return Err(format!("{s:?} must start with '/'"));
    }
    if trimmed.contains(['?', '#', ' ', '\\']) {
        return Err(format!("{s:?} must be a plain path (no '?', '#', spaces)"));
    }
    let segments: Vec<&str> = trimmed.split('/').filter(|p| !p.is_empty()).collect();
    if segments.iter().any(|p| *p == "." || *p == "..") {
        return Err(format!("{s:?} must not contain '.' or '..' segments"));
    }
    if segments.is_empty() {
        Ok("/".to_string())
    } else {
        Ok(format!("/{}", segments.join("/")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_ranges() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let net = cidr("10.1.0.0/16").unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(
            net.contains(ip("::ffff:10.1.0.9")),
            "IPv4 on a dual-stack socket"
        );
        assert!(cidr("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(!cidr("127.0.0.1").unwrap().contains(ip("127.0.0.2")));
        assert!(cidr("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(cidr("::/0").unwrap().contains(ip("fe80::1")));
        assert!(cidr("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(!cidr("fd00::/8").unwrap().contains(ip("10.0.0.1")));
        assert!(cidr("10.0.0.0/33").is_err());
        assert!(cidr("ten/8").is_err());
    }
}
