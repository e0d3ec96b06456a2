//! Scenarios the simulated cluster plays.

use serde_json::Value;

use crate::model::parse_yaml_documents;

use super::manifests::{LoadReport, load_objects};
use super::store::Store;

/// The seed release (`manifest-gen`), carried in the binary.
/// The namespace of the seed release, where the demo opens.
pub const DEFAULT_NAMESPACE: &str = "manifest-gen";

pub const SEED_MANIFESTS: &str = include_str!("scenarios/manifest-gen.yaml");
/// Its companions: a blue-green, a canary that cannot pull its image, and a
/// canary whose analysis fails.
pub const SHOWCASE_MANIFESTS: &str = include_str!("scenarios/showcase.yaml");
/// One rollout per router besides Istio: NGINX, ALB, Gateway API.
pub const ROUTERS_MANIFESTS: &str = include_str!("scenarios/routers.yaml");
/// A rollout with the other canary steps: header and mirror routes, an
/// experiment, a step plugin.
pub const STEPS_MANIFESTS: &str = include_str!("scenarios/steps.yaml");

/// The image the seed's canary moves to.
pub const SEED_CANARY_IMAGE: &str = "anantvaid4/manifest-generator-api:v2";

/// The new versions the seed scenario rolls out once v1 runs everywhere:
/// (namespace, rollout, container, image).
pub const SEED_UPDATES: [(&str, &str, &str, &str); 8] = [
    (
        "manifest-gen",
        "manifest-gen",
        "manifest-gen",
        SEED_CANARY_IMAGE,
    ),
    (
        "shop",
        "checkout",
        "checkout",
        "ghcr.io/example/checkout:1.5.0",
    ),
    (
        "shop",
        "recommendations",
        "recommendations",
        "ghcr.io/example/recommendations:does-not-exist",
    ),
    ("shop", "search", "search", "ghcr.io/example/search:3.2.0"),
    (
        "nginx-demo",
        "storefront",
        "storefront",
        "ghcr.io/example/storefront:2.4.0",
    ),
    (
        "alb-demo",
        "payments",
        "payments",
        "ghcr.io/example/payments:4.1.0",
    ),
    (
        "gateway-demo",
        "catalog",
        "catalog",
        "ghcr.io/example/catalog:1.9.0",
    ),
    (
        "istio-demo",
        "reviews",
        "reviews",
        "ghcr.io/example/reviews:2.1.0",
    ),
];

/// Loads the seed release and its companions.
pub fn load_seed(store: &Store) -> LoadReport {
    let mut report = LoadReport::default();
    for (what, text) in [
        ("seed", SEED_MANIFESTS),
        ("showcase", SHOWCASE_MANIFESTS),
        ("routers", ROUTERS_MANIFESTS),
        ("steps", STEPS_MANIFESTS),
    ] {
        match parse_yaml_documents(text) {
            Ok(docs) => load_objects(store, docs, &mut report),
            Err(e) => report
                .skipped
                .push(format!("embedded {what} manifests: {e}")),
        }
    }
    report
}

/// Sets the image of one container of a rollout's template, keeping the
/// rest of the container as it is.
pub fn set_image(rollout: &mut Value, container: &str, image: &str) {
    if let Some(containers) = rollout
        .pointer_mut("/spec/template/spec/containers")
        .and_then(Value::as_array_mut)
    {
        for c in containers
            .iter_mut()
            .filter(|c| c.get("name").and_then(Value::as_str) == Some(container))
        {
            c["image"] = Value::String(image.to_string());
        }
    }
}
