//! `rollouts-dashboard demo`: a simulated cluster on an ephemeral loopback
//! port and the dashboard connected to it through kube-rs over HTTP, exactly
//! as to a real cluster, in one process.

use tokio_util::sync::CancellationToken;

use crate::cli::DemoArgs;
use crate::cluster::client::{ConfigSource, Connection, NamedConnection, Scope};
use crate::serve::{self, ServeError};
use crate::sim::command::SimError;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the simulated cluster: {0}")]
    Sim(#[from] SimError),
    #[error("the simulated cluster's URL: {0}")]
    Url(String),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// Rollouts in each simulated cluster after the first.
const ROLLOUTS_PER_OTHER_CLUSTER: usize = 24;

pub async fn run(args: &DemoArgs, shutdown: CancellationToken) -> Result<(), DemoError> {
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let sim =
        crate::sim::command::start(&args.scenario, None, None, loopback, shutdown.clone()).await?;
    tracing::info!(api = %sim.addr, objects = sim.objects, "simulated cluster started");
    if let Some(path) = &args.prometheus_config_out {
        crate::sim::command::write_prometheus_config(path, sim.addr, false)?;
        println!(
            "Prometheus scrape configuration for the simulated mesh: {}",
            path.display()
        );
    }
    let mut clusters = vec![NamedConnection {
        name: if args.clusters > 1 { "demo-1" } else { "demo" }.to_string(),
        connection: connection(sim.addr, "simulated cluster (demo)")?,
    }];
    let mut sims = vec![sim];
    for i in 2..=args.clusters {
        let other = crate::sim::command::start(
            &args.scenario,
            Some(ROLLOUTS_PER_OTHER_CLUSTER),
            None,
            loopback,
            shutdown.clone(),
        )
        .await?;
        clusters.push(NamedConnection {
            name: format!("demo-{i}"),
            connection: connection(other.addr, &format!("simulated cluster {i} (demo)"))?,
        });
        sims.push(other);
    }
    serve::run_clusters(&clusters, &args.web, shutdown).await?;
    for sim in sims {
        let _ = sim.task.await;
    }
    Ok(())
}

/// The dashboard's connection to a simulated cluster at `addr`.
fn connection(addr: std::net::SocketAddr, label: &str) -> Result<Connection, DemoError> {
    let url = format!("http://{addr}")
        .parse()
        .map_err(|e: axum::http::uri::InvalidUri| DemoError::Url(e.to_string()))?;
    let mut config = kube::Config::new(url);
    config.default_namespace = crate::sim::scenario::DEFAULT_NAMESPACE.to_string();
    Ok(Connection {
        config,
        source: ConfigSource::Given(label.to_string()),
        scope: Scope::AllNamespaces,
    })
}
