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
    Demo(DemoArgs),
    /// Serve a simulated Kubernetes cluster with an Argo Rollouts controller
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
    /// The kubeconfig context to use (default: its current-context)
    #[arg(long, env = "ROLLOUTS_DASHBOARD_CONTEXT", value_name = "NAME", value_parser = non_empty)]
    pub context: Option<String>,
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
    /// Log line format: text for people, json for log collectors
    #[arg(
        long,
        env = "ROLLOUTS_DASHBOARD_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
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
    /// Write a kubeconfig that points at the simulated cluster to PATH
    #[arg(long, env = "ROLLOUTS_DASHBOARD_KUBECONFIG_OUT", value_name = "PATH")]
    pub kubeconfig_out: Option<PathBuf>,
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty".to_string())
    } else {
        Ok(s.to_string())
    }
}

/// A namespace is a DNS-1123 label: lowercase alphanumerics and '-', at most
/// 63 characters, starting and ending with an alphanumeric.
pub fn namespace_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a namespace name (lowercase letters, digits and '-', at most 63)"
        ))
    }
}

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
