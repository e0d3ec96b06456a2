//! rollouts-dashboard: watch and steer Argo Rollouts progressive delivery.
//!
//! The layers import one way (docs/architecture.md draws them):
//! `model` (objects as read) ← `info` (pure view model, incl. which actions
//! apply) ← `actions` (pure: the exact patches) ← `cluster` (all talk with
//! Kubernetes), `observed` (all talk with Prometheus; its answers go to the
//! hub) and `oidc` (all talk with the identity provider), with `net` their
//! HTTP client ← `web` (HTTP) ← `serve`/`demo`/`main`, which alone know the
//! command line. `sim` is a simulated cluster the dashboard reaches only
//! over HTTP, behind the default feature `sim`: nothing else compiles
//! against it.

pub mod actions;
pub mod cli;
pub mod cluster;
#[cfg(feature = "sim")]
pub mod demo;
pub mod history;
pub mod info;
pub mod model;
pub mod net;
pub mod observed;
pub mod oidc;
pub mod serve;
pub mod serve_clusters;
#[cfg(feature = "sim")]
pub mod sim;
pub mod telemetry;
pub mod web;
