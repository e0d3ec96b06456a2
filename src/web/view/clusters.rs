//! Several clusters, as the pages show them. Pure.

/// A link to a cluster's pages, for the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterLink {
    pub name: String,
    pub href: String,
}
