//! All talk with the Kubernetes API: connect, watch, index, and the hub that
//! keeps the live view.

pub mod access;
pub mod act;
pub mod argocd;
pub mod argocd_files;
pub mod argocd_source;
pub mod backoff;
pub mod client;
pub mod crc_combine;
pub mod deflated;
pub mod entry;
pub mod health;
pub mod hub;
pub mod index;
pub mod lease;
pub mod live;
pub mod logs;
pub mod object;
pub mod observing;
pub mod stats;
pub mod tallies;
pub mod templates;
pub mod watch;
