//! The simulated cluster (demo, tests, benchmarks). The dashboard never
//! reaches into this module: it talks to it over HTTP through kube-rs,
//! exactly as it talks to a real cluster.

pub mod apiserver;
pub mod clock;
pub mod command;
pub mod controller;
pub mod json;
pub mod kubeconfig;
pub mod logs;
pub mod manifests;
pub mod mesh;
pub mod node_metrics;
pub mod pod_traffic;
pub mod resources;
pub mod scale;
pub mod scenario;
pub mod store;
