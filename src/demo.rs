//! `rollouts-dashboard demo`: a simulated cluster on an ephemeral loopback
//! port and the dashboard connected to it through kube-rs over HTTP, exactly
//! as to a real cluster, in one process.

use tokio_util::sync::CancellationToken;

use crate::cli::DemoArgs;
use crate::cluster::client::{ConfigSource, Connection, Scope};
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

pub async fn run(args: &DemoArgs, shutdown: CancellationToken) -> Result<(), DemoError> {
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let sim =
        crate::sim::command::start(&args.scenario, None, None, loopback, shutdown.clone()).await?;
    let url = format!("http://{}", sim.addr)
        .parse()
        .map_err(|e: axum::http::uri::InvalidUri| DemoError::Url(e.to_string()))?;
    let mut config = kube::Config::new(url);
    config.default_namespace = crate::sim::scenario::DEFAULT_NAMESPACE.to_string();
    let conn = Connection {
        config,
        source: ConfigSource::Given("simulated cluster (demo)".to_string()),
        scope: Scope::AllNamespaces,
    };
    tracing::info!(api = %sim.addr, objects = sim.objects, "simulated cluster started");
    if let Some(path) = &args.prometheus_config_out {
        crate::sim::command::write_prometheus_config(path, sim.addr, false)?;
        println!(
            "Prometheus scrape configuration for the simulated mesh: {}",
            path.display()
        );
    }
    serve::run(&conn, &args.web, shutdown).await?;
    let _ = sim.task.await;
    Ok(())
}
