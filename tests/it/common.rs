//! Test helpers: load real objects from `tests/fixtures/` into a
//! namespace-like set and compute RolloutInfo from them.

use std::path::{Path, PathBuf};

use rollouts_dashboard::info::{PodRecord, RolloutInfo, RolloutObjects, rollout_info};
use rollouts_dashboard::model::{
    AnalysisRun, Deployment, DestinationRule, Experiment, GatewayRoute, Ingress, Pod, ReplicaSet,
    Rollout, RouteKind, VirtualService, parse_yaml_documents,
};
use serde::Deserialize;
use serde_json::Value;

/// `tests/fixtures/<rel>`: real objects kept with the tests (see its NOTICE).
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

#[derive(Clone, Default)]
pub struct Objects {
    pub rollouts: Vec<Rollout>,
    pub replica_sets: Vec<ReplicaSet>,
    pub pods: Vec<Pod>,
    pub analysis_runs: Vec<AnalysisRun>,
    pub experiments: Vec<Experiment>,
    pub virtual_services: Vec<VirtualService>,
    pub destination_rules: Vec<DestinationRule>,
    pub deployments: Vec<Deployment>,
    pub ingresses: Vec<Ingress>,
    pub routes: Vec<GatewayRoute>,
}

impl Objects {
    /// Every YAML file of a folder, sorted by file name.
    pub fn load_dir(dir: &Path) -> Objects {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        let mut objs = Objects::default();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for v in parse_yaml_documents(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()))
            {
                objs.add(v);
            }
        }
        objs
    }

    pub fn load_file(path: &Path) -> Objects {
        let mut objs = Objects::default();
        for v in parse_yaml_documents(&std::fs::read_to_string(path).unwrap()).unwrap() {
            objs.add(v);
        }
        objs
    }

    /// Adds an object of a kind the dashboard reads; panics on one that does
    /// not deserialise (fixtures are valid).
    pub fn add(&mut self, v: Value) {
        if let Err(e) = self.try_add(&v) {
            panic!("{e}: {v}");
        }
    }

    /// Adds an object, or returns the deserialisation error. Kinds the
    /// dashboard does not read are ignored.
    pub fn try_add(&mut self, v: &Value) -> Result<(), serde_json::Error> {
        fn push<T: serde::de::DeserializeOwned>(
            list: &mut Vec<T>,
            v: &Value,
        ) -> Result<(), serde_json::Error> {
            list.push(T::deserialize(v)?);
            Ok(())
        }
        match v.get("kind").and_then(Value::as_str).unwrap_or_default() {
            "Rollout" => push(&mut self.rollouts, v),
            "ReplicaSet" => push(&mut self.replica_sets, v),
            "Pod" => push(&mut self.pods, v),
            "AnalysisRun" => push(&mut self.analysis_runs, v),
            "Experiment" => push(&mut self.experiments, v),
            "VirtualService" => push(&mut self.virtual_services, v),
            "DestinationRule" => push(&mut self.destination_rules, v),
            "Deployment" => push(&mut self.deployments, v),
            "Ingress" => push(&mut self.ingresses, v),
            kind => match RouteKind::ALL.into_iter().find(|k| k.kind() == kind) {
                Some(route_kind) => {
                    let mut route = GatewayRoute::deserialize(v)?;
                    route.route_kind = route_kind;
                    self.routes.push(route);
                    Ok(())
                }
                None => Ok(()),
            },
        }
    }

    pub fn rollout(&self, namespace: &str, name: &str) -> &Rollout {
        self.rollouts
            .iter()
            .find(|r| {
                r.metadata.name.as_deref() == Some(name)
                    && r.metadata.namespace.as_deref().unwrap_or("default") == namespace
            })
            .unwrap_or_else(|| panic!("no rollout {namespace}/{name}"))
    }

    pub fn info_of(&self, ro: &Rollout) -> RolloutInfo {
        let rs: Vec<&ReplicaSet> = self.replica_sets.iter().collect();
        let pods: Vec<PodRecord> = self.pods.iter().map(PodRecord::of).collect();
        let pods: Vec<&PodRecord> = pods.iter().collect();
        let runs: Vec<&AnalysisRun> = self.analysis_runs.iter().collect();
        let exps: Vec<&Experiment> = self.experiments.iter().collect();
        let vss: Vec<&VirtualService> = self.virtual_services.iter().collect();
        let drs: Vec<&DestinationRule> = self.destination_rules.iter().collect();
        let deps: Vec<&Deployment> = self.deployments.iter().collect();
        let ingresses: Vec<&Ingress> = self.ingresses.iter().collect();
        let routes: Vec<&GatewayRoute> = self.routes.iter().collect();
        rollout_info(RolloutObjects {
            rollout: ro,
            replica_sets: &rs,
            pods: &pods,
            analysis_runs: &runs,
            experiments: &exps,
            virtual_services: &vss,
            destination_rules: &drs,
            ingresses: &ingresses,
            routes: &routes,
            deployments: &deps,
        })
    }

    pub fn info(&self, namespace: &str, name: &str) -> RolloutInfo {
        self.info_of(self.rollout(namespace, name))
    }
}

/// `image (tag1, tag2)` lines like `kubectl argo rollouts get rollout`:
/// images of ReplicaSets with replicas > 0, tags merged and sorted, lines
/// sorted by image (reference §2.11).
pub fn image_lines(info: &RolloutInfo) -> Vec<String> {
    let mut tags: std::collections::BTreeMap<String, std::collections::BTreeSet<&str>> =
        Default::default();
    for rs in info.replica_sets.iter().filter(|r| r.replicas > 0) {
        for img in &rs.images {
            let t = tags.entry(img.clone()).or_default();
            for (flag, name) in [
                (rs.canary, "canary"),
                (rs.stable, "stable"),
                (rs.active, "active"),
                (rs.preview, "preview"),
                (rs.ping, "ping"),
                (rs.pong, "pong"),
            ] {
                if flag {
                    t.insert(name);
                }
            }
        }
    }
    tags.into_iter()
        .map(|(img, t)| format!("{img} ({})", t.into_iter().collect::<Vec<_>>().join(", ")))
        .collect()
}

/// `namespace/name` of every rollout in an `/info` list answer.
pub fn rollout_names(list: &Value) -> Vec<String> {
    list["rollouts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{}/{}",
                r["objectMeta"]["namespace"].as_str().unwrap_or_default(),
                r["objectMeta"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// A one-replica canary `namespace/name` (container `app`, `image`), as a
/// person would apply it.
pub fn canary_rollout(namespace: &str, name: &str, image: &str) -> Value {
    serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": 1, "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
                 "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": image}]}}}
    })
}
