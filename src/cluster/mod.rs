//! All talk with the Kubernetes API.

pub mod client;
