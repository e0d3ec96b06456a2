//! `rollouts-dashboard sim`: serve a simulated cluster and write a
//! kubeconfig that points at it.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::cli::{ScenarioArgs, SimArgs};

use super::apiserver::ApiServer;
use super::apiserver::users::Users;
use super::clock::SimClock;
use super::controller::{Controller, ControllerConfig};
use super::kubeconfig::kubeconfig_yaml;
use super::manifests::{LoadReport, load_path};
use super::scenario::{SEED_UPDATES, set_image};
use super::store::{Store, Subresource};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Manifest(#[from] super::manifests::ManifestError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the Prometheus configuration {path}: {source}")]
    PrometheusConfig {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Users(#[from] super::apiserver::users::UsersError),
}

/// A simulated cluster that is up and serving.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub objects: usize,
    pub server: ApiServer,
    /// Ends when the server has stopped (after `shutdown`).
    pub task: tokio::task::JoinHandle<()>,
}

/// Loads the scenario (or `scale` generated rollouts), starts the API server
/// on `listen` and the controller (or the churn at scale), until `shutdown`.
/// With `users`, requests must authenticate and RBAC applies.
pub async fn start(
    scenario: &ScenarioArgs,
    scale: Option<usize>,
    users: Option<Users>,
    listen: std::net::SocketAddr,
    shutdown: CancellationToken,
) -> Result<Running, SimError> {
    let store = Arc::new(Store::new(Arc::new(SimClock::default())));
    let mut report = LoadReport::default();
    if let Some(n) = scale {
        report.loaded = super::scale::generate(&store, n);
    } else if scenario.manifests.is_empty() {
        if scenario.scenario != "seed" {
            return Err(SimError::Unsupported(format!(
                "unknown scenario {:?} (known: seed)",
                scenario.scenario
            )));
        }
        report = super::scenario::load_seed(&store);
    }
    for dir in &scenario.manifests {
        let r = load_path(&store, dir)?;
        report.loaded += r.loaded;
        report.skipped.extend(r.skipped);
    }
    for skipped in &report.skipped {
        tracing::warn!(object = %skipped, "manifest not loaded");
    }
    // At --scale the churn replaces the controller (see sim/scale.rs).
    let controller = (!scenario.no_controller && scale.is_none()).then(|| {
        let controller = Controller::new(store.clone(), ControllerConfig::default());
        if scenario.manifests.is_empty() {
            start_seed_canary(&store, &controller);
        }
        controller
    });

    let mut server = ApiServer::new(store, shutdown.clone());
    if let Some(users) = users {
        // Credentials travel only over TLS (kubectl sends none otherwise).
        server = server.with_users(users).with_tls();
    }
    let (addr, task) = server
        .serve(listen)
        .await
        .map_err(|source| SimError::Listen {
            addr: listen,
            source,
        })?;
    if let Some(controller) = controller {
        tokio::spawn(controller.run(shutdown.clone()));
    }
    if let Some(n) = scale.filter(|_| !scenario.no_controller) {
        tokio::spawn(super::scale::churn(
            server.store.clone(),
            n,
            std::time::Duration::from_millis(10),
            shutdown.clone(),
        ));
    }
    Ok(Running {
        addr,
        objects: report.loaded,
        server,
        task,
    })
}

/// `rollouts-dashboard sim`: serves until `shutdown`, and returns once the
/// server has stopped.
pub async fn run(args: &SimArgs, shutdown: CancellationToken) -> Result<(), SimError> {
    let scale = args.scale.map(|n| n as usize);
    let users = args.users.as_deref().map(Users::load).transpose()?;
    let logins: Vec<(String, String)> = users
        .iter()
        .flat_map(|u| u.ordered.iter())
        .map(|(token, user)| (user.name.clone(), token.clone()))
        .collect();
    let running = start(&args.scenario, scale, users, args.listen, shutdown).await?;
    let addr = running.addr;
    if let Some(path) = &args.kubeconfig_out {
        // Write then rename, so a reader never sees half a file.
        let tmp = path.with_extension("tmp");
        let shown = path.display().to_string();
        std::fs::write(
            &tmp,
            kubeconfig_yaml(addr, "default", &logins, running.server.tls()),
        )
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| SimError::Kubeconfig {
            path: shown,
            source,
        })?;
    }
    if let Some(path) = &args.prometheus_config_out {
        write_prometheus_config(path, addr, running.server.tls())?;
    }
    let scheme = if running.server.tls() {
        "https"
    } else {
        "http"
    };
    println!(
        "simulated cluster at {scheme}://{addr} ({} objects){}",
        running.objects,
        args.kubeconfig_out
            .as_ref()
            .map(|p| format!("; kubeconfig: {}", p.display()))
            .unwrap_or_default()
    );
    let _ = running.task.await;
    Ok(())
}

/// Writes a Prometheus scrape configuration for the simulated mesh at
/// `addr` to `path`.
pub fn write_prometheus_config(
    path: &std::path::Path,
    addr: std::net::SocketAddr,
    tls: bool,
) -> Result<(), SimError> {
    std::fs::write(path, super::mesh::scrape_config(addr, tls)).map_err(|source| {
        SimError::PrometheusConfig {
            path: path.display().to_string(),
            source,
        }
    })
}

/// The seed scenario: v1 of every rollout is already running when the demo
/// opens (first rollouts fast-forwarded); then the new versions start: the
/// seed canary waits at its indefinite pause, the blue-green waits for
/// promotion, and a canary cannot pull its image.
fn start_seed_canary(store: &Store, controller: &Controller) {
    controller.settle(50);
    store
        .clock
        .advance(ControllerConfig::default().pod_ready_after);
    controller.settle(50);
    let Some(rt) = super::resources::find("argoproj.io", "v1alpha1", "rollouts") else {
        return;
    };
    for (ns, name, container, image) in SEED_UPDATES {
        let started = store.patch(rt, ns, name, Subresource::Main, |o| {
            set_image(o, container, image);
            Ok(())
        });
        if let Err(e) = started {
            tracing::warn!(rollout = name, error = %e, "seed scenario: could not start the update");
        }
    }
}
