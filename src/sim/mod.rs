//! The simulated cluster (demo, tests, benchmarks). The dashboard never
//! reaches into this module: it talks to it over HTTP through kube-rs,
//! exactly as it talks to a real cluster.

mod analysis;
pub mod apiserver;
mod bluegreen;
mod canary;
pub mod clock;
pub mod command;
mod conditions;
pub mod control;
pub mod controller;
mod dataplane;
mod experiment;
pub mod faults;
mod istio;
pub mod json;
pub mod kubeconfig;
pub mod manifests;
pub mod mesh;
mod phase;
pub mod rbac;
pub mod resources;
mod restart;
pub mod reviews;
pub mod routers;
mod routes;
pub mod scale;
pub mod scenario;
pub mod selectors;
mod services;
pub mod store;
pub mod tls;
pub mod traffic;
pub mod users;
