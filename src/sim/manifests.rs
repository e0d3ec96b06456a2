//! Loads Kubernetes manifests into the simulated cluster as-is (uid,
//! ownerReferences, timestamps and status kept), so a dump of a real cluster
//! (`kubectl get -o yaml`) can be inspected offline.

use super::json::text;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::parse_yaml_documents;

use super::resources;
use super::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        #[source]
        source: crate::model::DocumentError,
    },
}

/// What a load did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub loaded: usize,
    /// `kind (apiVersion)` of documents of kinds the simulator does not serve,
    /// and objects refused by the store, with the reason.
    pub skipped: Vec<String>,
}

/// Every `.yaml`, `.yml` and `.json` file directly in `dir` (or `dir` itself
/// when it is a file), in name order.
pub fn load_path(store: &Store, path: &Path) -> Result<LoadReport, ManifestError> {
    let files = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|source| ManifestError::Read {
                path: path.display().to_string(),
                source,
            })?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
            })
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut report = LoadReport::default();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| ManifestError::Read {
            path: file.display().to_string(),
            source,
        })?;
        let docs = parse_yaml_documents(&text).map_err(|source| ManifestError::Parse {
            path: file.display().to_string(),
            source,
        })?;
        load_objects(store, docs, &mut report);
    }
    Ok(report)
}

/// Loads already-parsed objects (the embedded scenarios use this).
pub fn load_objects(store: &Store, docs: Vec<Value>, report: &mut LoadReport) {
    for doc in docs {
        let api_version = text(&doc, "/apiVersion");
        let kind = text(&doc, "/kind");
        let Some(rt) = resources::by_kind(&api_version, &kind) else {
            report.skipped.push(format!(
                "{kind} ({api_version}): not served by the simulator"
            ));
            continue;
        };
        let ns = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_string();
        match store.create(rt, &ns, doc, true) {
            Ok(_) => report.loaded += 1,
            Err(e) => report.skipped.push(format!("{kind} ({api_version}): {e}")),
        }
    }
}
