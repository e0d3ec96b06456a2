//! rollouts-dashboard: watch and steer Argo Rollouts progressive delivery.
//!
//! The layers follow one direction of data (see DESIGN.md): `model` (objects as
//! read) → `info` (pure view model) → `web`; `actions` decides purely what a
//! person may do and (later) the exact patches; `cluster` is the only place
//! that talks to Kubernetes.

pub mod actions;
pub mod cli;
pub mod cluster;
pub mod demo;
pub mod info;
pub mod model;
pub mod oidc;
pub mod serve;
pub mod sim;
pub mod telemetry;
pub mod web;
