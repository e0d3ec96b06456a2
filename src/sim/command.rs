//! `rollouts-dashboard sim`: serve a simulated cluster and write a
//! kubeconfig that points at it.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::cli::SimArgs;
use crate::model::parse_yaml_documents;

use super::apiserver::ApiServer;
use super::clock::SimClock;
use super::kubeconfig::kubeconfig_yaml;
use super::manifests::{LoadReport, load_objects, load_path};
use super::store::Store;

/// The seed release, carried in the binary.
const SEED_MANIFESTS: &str = include_str!("scenarios/manifest-gen.yaml");

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
    #[error("{0}")]
    Unsupported(String),
}

/// Loads the objects, serves them until `shutdown`, and returns once the
/// server has stopped.
pub async fn run(args: &SimArgs, shutdown: CancellationToken) -> Result<(), SimError> {
    if args.scale.is_some() {
        return Err(SimError::Unsupported(
            "--scale needs the simulated controller, which is not built yet".into(),
        ));
    }
    let store = Arc::new(Store::new(Arc::new(SimClock::default())));
    let mut report = LoadReport::default();
    if args.scenario.manifests.is_empty() {
        if args.scenario.scenario != "seed" {
            return Err(SimError::Unsupported(format!(
                "unknown scenario {:?} (known: seed)",
                args.scenario.scenario
            )));
        }
        let docs = parse_yaml_documents(SEED_MANIFESTS)
            .map_err(|e| SimError::Unsupported(format!("embedded seed manifests: {e}")))?;
        load_objects(&store, docs, &mut report);
    }
    for dir in &args.scenario.manifests {
        let r = load_path(&store, dir)?;
        report.loaded += r.loaded;
        report.skipped.extend(r.skipped);
    }
    for skipped in &report.skipped {
        tracing::warn!(object = %skipped, "manifest not loaded");
    }
    if !args.scenario.no_controller {
        tracing::warn!(
            "the simulated Argo Rollouts controller is not built yet: objects are served as loaded"
        );
    }

    let server = ApiServer::new(store, shutdown.clone());
    let (addr, task) = server
        .serve(args.listen)
        .await
        .map_err(|source| SimError::Listen {
            addr: args.listen,
            source,
        })?;
    if let Some(path) = &args.kubeconfig_out {
        // Write then rename, so a reader never sees half a file.
        let tmp = path.with_extension("tmp");
        let shown = path.display().to_string();
        std::fs::write(&tmp, kubeconfig_yaml(addr, "default"))
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|source| SimError::Kubeconfig {
                path: shown,
                source,
            })?;
    }
    println!(
        "simulated cluster at http://{addr} ({} objects){}",
        report.loaded,
        args.kubeconfig_out
            .as_ref()
            .map(|p| format!("; kubeconfig: {}", p.display()))
            .unwrap_or_default()
    );
    let _ = task.await;
    Ok(())
}
