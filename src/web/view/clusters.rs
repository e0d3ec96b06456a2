//! Several clusters, as the pages show them: a row per cluster, what needs
//! a person across all of them, a search's matches across them. Pure.

use crate::cluster::tallies::Counts;

use super::overview::AttentionRow;
use super::{status_class, status_counts};

/// A link to a cluster's pages, for the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterLink {
    pub name: String,
    pub href: String,
}

/// The links every page's header shows, shared by every cluster's pages
/// and replaced when clusters come or go (none for one cluster).
#[derive(Clone, Debug, Default)]
pub struct ClusterLinks(std::sync::Arc<std::sync::RwLock<std::sync::Arc<[ClusterLink]>>>);

impl ClusterLinks {
    pub fn get(&self) -> std::sync::Arc<[ClusterLink]> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// With fewer than two clusters there is nothing to switch between.
    pub fn set(&self, links: Vec<ClusterLink>) {
        let links: std::sync::Arc<[ClusterLink]> = if links.len() < 2 {
            std::sync::Arc::new([])
        } else {
            links.into()
        };
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = links;
    }
}

/// One cluster on the overview of several.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterRow {
    pub name: String,
    /// Its pages: `{base}clusters/{name}/`.
    pub href: String,
    /// `live`, `failing` or `syncing`.
    pub state: &'static str,
    pub message: String,
    pub total: usize,
    pub attention: usize,
    /// (status, CSS class, how many), every status.
    pub statuses: Vec<(&'static str, &'static str, usize)>,
    /// Its namespaces the person sees: (name, rollouts, needing attention),
    /// at most `NAMESPACES_PER_CLUSTER`.
    pub namespaces: Vec<(String, usize, usize)>,
    /// Namespaces left out of that list.
    pub namespaces_more: usize,
}

/// Namespaces listed under a cluster's row; the rest are in its overview.
pub const NAMESPACES_PER_CLUSTER: usize = 30;

impl ClusterRow {
    pub fn of(
        link: &ClusterLink,
        state: &'static str,
        message: String,
        counts: &Counts,
    ) -> ClusterRow {
        ClusterRow {
            namespaces: Vec::new(),
            namespaces_more: 0,
            name: link.name.clone(),
            href: link.href.clone(),
            state,
            message,
            total: counts.total,
            attention: counts.attention,
            statuses: status_counts(counts),
        }
    }
}

impl ClusterRow {
    /// With its namespaces (by name) and their counts.
    pub fn with_namespaces<'a>(
        mut self,
        namespaces: impl Iterator<Item = (&'a String, &'a Counts)>,
    ) -> ClusterRow {
        let mut total = 0;
        for (ns, c) in namespaces {
            total += 1;
            if self.namespaces.len() < NAMESPACES_PER_CLUSTER {
                self.namespaces.push((ns.clone(), c.total, c.attention));
            }
        }
        self.namespaces_more = total - self.namespaces.len();
        self
    }
}

/// A rollout of some cluster, in a list across clusters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetRow {
    pub cluster: String,
    /// Its page: `{base}clusters/{cluster}/rollouts/{ns}/{name}`.
    pub href: String,
    pub namespace: String,
    pub name: String,
    pub status: String,
    pub status_class: &'static str,
    /// Why it needs a person (the attention list), or empty.
    pub why: String,
}

impl FleetRow {
    pub fn of(
        cluster: &ClusterLink,
        namespace: &str,
        name: &str,
        status: &str,
        why: &str,
    ) -> FleetRow {
        FleetRow {
            cluster: cluster.name.clone(),
            href: format!("{}rollouts/{namespace}/{name}", cluster.href),
            namespace: namespace.to_string(),
            name: name.to_string(),
            status: status.to_string(),
            status_class: status_class(status),
            why: why.to_string(),
        }
    }
}

/// What needs a person in every cluster, the most urgent first (then by
/// cluster, namespace and name), at most `limit`.
pub fn merge_attention(
    per_cluster: &[(ClusterLink, Vec<AttentionRow>)],
    limit: usize,
) -> Vec<FleetRow> {
    let mut all: Vec<(&ClusterLink, &AttentionRow)> = per_cluster
        .iter()
        .flat_map(|(c, rows)| rows.iter().map(move |r| (c, r)))
        .collect();
    all.sort_by(|(ca, a), (cb, b)| (a.why, &ca.name, &a.key).cmp(&(b.why, &cb.name, &b.key)));
    all.into_iter()
        .take(limit)
        .map(|(c, r)| FleetRow::of(c, &r.key.namespace, &r.key.name, &r.status, r.why.text()))
        .collect()
}

/// A search's `cluster:NAME` term, and the search without it: the
/// overview of several clusters sends a search for one cluster there.
pub fn cluster_term(q: &str) -> (Option<String>, String) {
    let mut cluster = None;
    let mut rest = Vec::new();
    for term in q.split(',') {
        match term.trim().strip_prefix("cluster:") {
            Some(name) if !name.trim().is_empty() => cluster = Some(name.trim().to_string()),
            _ if term.trim().is_empty() => {}
            _ => rest.push(term.trim()),
        }
    }
    (cluster, rest.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::attention::Attention;
    use crate::model::RolloutKey;

    fn link(name: &str) -> ClusterLink {
        ClusterLink {
            name: name.to_string(),
            href: format!("/clusters/{name}/"),
        }
    }

    fn row(ns: &str, name: &str, why: Attention) -> AttentionRow {
        AttentionRow {
            key: RolloutKey::new(ns, name),
            why,
            status: "Paused".to_string(),
        }
    }

    #[test]
    fn the_most_urgent_come_first_whatever_their_cluster() {
        let per = vec![
            (
                link("a"),
                vec![row("x", "waits", Attention::WaitingForPromotion)],
            ),
            (
                link("b"),
                vec![
                    row("y", "broken", Attention::Degraded),
                    row("x", "waits", Attention::WaitingForPromotion),
                ],
            ),
        ];
        let merged = merge_attention(&per, 10);
        let order: Vec<(&str, &str)> = merged
            .iter()
            .map(|r| (r.cluster.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(order, vec![("b", "broken"), ("a", "waits"), ("b", "waits")]);
        assert_eq!(merged[0].href, "/clusters/b/rollouts/y/broken");
        assert_eq!(merge_attention(&per, 2).len(), 2);
    }

    #[test]
    fn a_search_names_its_cluster() {
        assert_eq!(
            cluster_term("web, cluster:prod-eu"),
            (Some("prod-eu".to_string()), "web".to_string())
        );
        assert_eq!(cluster_term("web"), (None, "web".to_string()));
        assert_eq!(cluster_term("cluster:"), (None, "cluster:".to_string()));
    }
}
