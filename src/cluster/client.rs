//! Where the cluster is and who we are to it: kubeconfig (`--kubeconfig`,
//! `$KUBECONFIG`, `~/.kube/config`, `--context`) or in-cluster config.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read kubeconfig {path}: {source}")]
    ReadKubeconfig {
        path: String,
        #[source]
        source: KubeconfigError,
    },
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        #[source]
        source: KubeconfigError,
    },
    #[error("cannot create the Kubernetes client: {0}")]
    Client(String),
    #[error(
        "no kubeconfig found ({kubeconfig}) and not running in a cluster ({in_cluster}); pass --kubeconfig"
    )]
    NoConfig {
        kubeconfig: String,
        in_cluster: String,
    },
}

/// Where the configuration came from, for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    Kubeconfig {
        path: String,
        context: Option<String>,
    },
    InCluster,
    /// A connection the program running the dashboard made itself (`demo`
    /// and the tests reach their embedded cluster so), named as people
    /// should see it. It has nothing on disk, so neither has its history
    /// unless `--history-db` says where.
    Given(String),
}

/// Which namespaces the dashboard shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `-n a -n b`: exactly these.
    Namespaces(Vec<String>),
    /// `-A`: every namespace; an error when cluster-wide listing is forbidden.
    AllNamespaces,
    /// Neither flag: every namespace, falling back to `fallback` (with a
    /// visible notice) when cluster-wide listing is forbidden.
    AllOrDefault { fallback: String },
}

/// A resolved connection: the kube-rs config and how it was found.
#[derive(Clone)]
pub struct Connection {
    pub config: kube::Config,
    pub source: ConfigSource,
    pub scope: Scope,
}

impl Connection {
    pub fn cluster_url(&self) -> String {
        self.config.cluster_url.to_string()
    }
}

/// Where to connect and what to show, as kubectl's flags say it.
#[derive(Clone, Debug, Default)]
pub struct ConnectSettings {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// More clusters (`--context` given again): each a context of the
    /// same kubeconfig, shown apart.
    pub more_contexts: Vec<String>,
    /// `--all-contexts`: every context of the kubeconfig.
    pub all_contexts: bool,
    pub namespaces: Vec<String>,
    pub all_namespaces: bool,
}

/// One cluster of several: its name in URLs (`/clusters/{name}/`) and
/// its connection.
pub struct NamedConnection {
    pub name: String,
    pub connection: Connection,
}

impl NamedConnection {
    /// The one cluster of a dashboard, named after its context (or
    /// `in-cluster`, or `cluster`).
    pub fn of(connection: Connection) -> NamedConnection {
        let name = match &connection.source {
            ConfigSource::Kubeconfig {
                context: Some(c), ..
            } => cluster_name(c),
            ConfigSource::InCluster => "in-cluster".to_string(),
            _ => "cluster".to_string(),
        };
        NamedConnection { name, connection }
    }
}

/// A context's name as a URL path segment: lower case letters, digits and
/// `-` (an EKS context is `arn:aws:eks:…:cluster/prod`), at most 63.
pub fn cluster_name(context: &str) -> String {
    let mut name = String::new();
    for c in context.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    let name: String = name.trim_end_matches('-').chars().take(63).collect();
    if name.is_empty() {
        "cluster".to_string()
    } else {
        name
    }
}

/// Every cluster the settings name: one (as `connect_config`), or with
/// `--context` given more than once or `--all-contexts`, each context of
/// the kubeconfig, named after it (made unique).
pub async fn connect_all(args: &ConnectSettings) -> Result<Vec<NamedConnection>, ClientError> {
    let mut contexts: Vec<String> = args.context.iter().cloned().collect();
    contexts.extend(args.more_contexts.iter().cloned());
    if args.all_contexts {
        let (kc, path) = read_kubeconfig(args)?;
        contexts = kc.contexts.iter().map(|c| c.name.clone()).collect();
        if contexts.is_empty() {
            return Err(ClientError::Client(format!(
                "--all-contexts: kubeconfig {path} has no contexts"
            )));
        }
    }
    if contexts.len() <= 1 {
        return Ok(vec![NamedConnection::of(connect_config(args).await?)]);
    }
    let mut all: Vec<NamedConnection> = Vec::new();
    for context in contexts {
        let one = ConnectSettings {
            context: Some(context.clone()),
            more_contexts: Vec::new(),
            all_contexts: false,
            ..args.clone()
        };
        let connection = connect_config(&one).await?;
        let base = cluster_name(&context);
        let mut name = base.clone();
        let mut n = 2;
        while all.iter().any(|c| c.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        all.push(NamedConnection { name, connection });
    }
    Ok(all)
}

/// The kubeconfig the settings name (`--kubeconfig`, else `$KUBECONFIG`
/// or `~/.kube/config`), and where it was.
fn read_kubeconfig(args: &ConnectSettings) -> Result<(Kubeconfig, String), ClientError> {
    match &args.kubeconfig {
        Some(path) => {
            let shown = path.display().to_string();
            Kubeconfig::read_from(path)
                .map(|kc| (kc, shown.clone()))
                .map_err(|source| ClientError::ReadKubeconfig {
                    path: shown,
                    source,
                })
        }
        None => {
            let shown = std::env::var("KUBECONFIG").unwrap_or_else(|_| default_path());
            Kubeconfig::read()
                .map(|kc| (kc, shown.clone()))
                .map_err(|source| ClientError::ReadKubeconfig {
                    path: shown,
                    source,
                })
        }
    }
}

/// Resolves the connection as kubectl would: an explicit `--kubeconfig`, else
/// `$KUBECONFIG`, else `~/.kube/config`, else in-cluster config.
pub async fn connect_config(args: &ConnectSettings) -> Result<Connection, ClientError> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let (kubeconfig, path) = match &args.kubeconfig {
        Some(path) => {
            let shown = path.display().to_string();
            let kc = Kubeconfig::read_from(path).map_err(|source| ClientError::ReadKubeconfig {
                path: shown.clone(),
                source,
            })?;
            (Some(kc), shown)
        }
        None => {
            let shown = std::env::var("KUBECONFIG").unwrap_or_else(|_| default_path());
            match Kubeconfig::read() {
                Ok(kc) => (Some(kc), shown),
                // An explicit context needs a kubeconfig; otherwise try in-cluster.
                Err(source) if args.context.is_some() => {
                    return Err(ClientError::ReadKubeconfig {
                        path: shown,
                        source,
                    });
                }
                Err(e) => {
                    tracing::debug!(error = %e, "no kubeconfig, trying in-cluster config");
                    (None, shown)
                }
            }
        }
    };
    let (config, source) = match kubeconfig {
        Some(kc) => {
            let context = args.context.clone().or_else(|| kc.current_context.clone());
            let config = kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|source| ClientError::Kubeconfig {
                    path: path.clone(),
                    source,
                })?;
            (config, ConfigSource::Kubeconfig { path, context })
        }
        None => match kube::Config::incluster() {
            Ok(config) => (config, ConfigSource::InCluster),
            Err(e) => {
                return Err(ClientError::NoConfig {
                    kubeconfig: format!("looked at {path}"),
                    in_cluster: e.to_string(),
                });
            }
        },
    };
    let scope = if args.all_namespaces {
        Scope::AllNamespaces
    } else if !args.namespaces.is_empty() {
        let mut ns = args.namespaces.clone();
        ns.sort();
        ns.dedup();
        Scope::Namespaces(ns)
    } else {
        Scope::AllOrDefault {
            fallback: config.default_namespace.clone(),
        }
    };
    Ok(Connection {
        config,
        source,
        scope,
    })
}

fn default_path() -> String {
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".kube").join("config"))
        .map_or_else(|| "~/.kube/config".to_string(), |p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::cluster_name;

    #[test]
    fn a_context_is_named_for_urls() {
        assert_eq!(cluster_name("prod-eu"), "prod-eu");
        assert_eq!(
            cluster_name("arn:aws:eks:eu-west-1:123:cluster/Prod"),
            "arn-aws-eks-eu-west-1-123-cluster-prod"
        );
        assert_eq!(cluster_name("alice@kind-dev"), "alice-kind-dev");
        assert_eq!(cluster_name("///"), "cluster");
        assert_eq!(cluster_name(&"a".repeat(100)).len(), 63);
    }
}
