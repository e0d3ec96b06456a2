//! Scenarios the simulated cluster plays.

use serde_json::Value;

use crate::model::parse_yaml_documents;

use super::manifests::{LoadReport, load_objects};
use super::store::Store;

/// The seed release (`manifest-gen`), carried in the binary.
pub const SEED_MANIFESTS: &str = include_str!("scenarios/manifest-gen.yaml");

/// The image the seed's canary moves to.
pub const SEED_CANARY_IMAGE: &str = "anantvaid4/manifest-generator-api:v2";

/// Loads the seed release's objects.
pub fn load_seed(store: &Store) -> LoadReport {
    let mut report = LoadReport::default();
    match parse_yaml_documents(SEED_MANIFESTS) {
        Ok(docs) => load_objects(store, docs, &mut report),
        Err(e) => report.skipped.push(format!("embedded seed manifests: {e}")),
    }
    report
}

/// A merge patch that sets the image of the rollout's first container.
pub fn set_image_patch(image: &str) -> Value {
    serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": "manifest-gen", "image": image, "ports": [{"containerPort": 8080}],
         "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}
    ]}}}})
}
