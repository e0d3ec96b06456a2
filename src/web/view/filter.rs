//! The overview's filters, kept in the URL query so a view can be shared:
//! `q` (search, as Argo's UI: comma-separated terms, any may match; `!`
//! negates a name term; `"..."` is exact; `key:value` matches a label),
//! `status` (any of the chosen), `attention`, `ns`.

use crate::cluster::hub::Summary;
use crate::model::RolloutKey;

/// The longest search kept (characters).
const MAX_QUERY: usize = 256;

pub use crate::cluster::hub::STATUSES;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    pub q: String,
    pub statuses: Vec<String>,
    pub attention: bool,
    pub namespace: String,
}

impl Filter {
    /// From `key=value` pairs of the query.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Filter {
        let mut f = Filter::default();
        for (k, v) in pairs {
            match k {
                // Bounded: a search is a few words, never a megabyte to
                // match against every rollout on every change.
                "q" => f.q = v.chars().take(MAX_QUERY).collect(),
                "status" => {
                    for s in v.split(',').map(str::trim) {
                        // Each at most once: a repeated parameter cannot
                        // grow the list.
                        if STATUSES.contains(&s) && !f.has_status(s) {
                            f.statuses.push(s.to_string());
                        }
                    }
                }
                "attention" => f.attention = matches!(v, "1" | "true" | "on"),
                "ns" => f.namespace = v.chars().take(MAX_QUERY).collect(),
                _ => {}
            }
        }
        f
    }

    pub fn matches(&self, key: &RolloutKey, summary: &Summary) -> bool {
        (self.namespace.is_empty() || key.namespace == self.namespace)
            && (!self.attention || summary.attention.is_some())
            && (self.statuses.is_empty() || self.statuses.contains(&summary.status))
            && search_matches(&self.q, &key.name, &summary.labels)
    }

    /// Whether anything narrows the view.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// The query string that gives this filter (and `page`, when past the
    /// first), without the `?`.
    pub fn query(&self, page: usize) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if !self.q.is_empty() {
            q.append_pair("q", &self.q);
        }
        for s in &self.statuses {
            q.append_pair("status", s);
        }
        if self.attention {
            q.append_pair("attention", "1");
        }
        if !self.namespace.is_empty() {
            q.append_pair("ns", &self.namespace);
        }
        if page > 1 {
            q.append_pair("page", &page.to_string());
        }
        q.finish()
    }

    pub fn has_status(&self, status: &str) -> bool {
        self.statuses.iter().any(|s| s == status)
    }
}

/// Argo's UI search: any term may match.
/// Called for every rollout a search visits: it allocates nothing.
pub fn search_matches(q: &str, name: &str, labels: &str) -> bool {
    let mut terms = q
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .peekable();
    terms.peek().is_none() || terms.any(|t| term_matches(t, name, labels))
}

fn unquote(s: &str) -> (&str, bool) {
    match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => (inner, true),
        None => (s, false),
    }
}

fn term_matches(term: &str, name: &str, labels: &str) -> bool {
    if let Some((key, value)) = term.split_once(':') {
        let (value, exact) = unquote(value.trim());
        let key = key.trim();
        return labels
            .split(';')
            .filter_map(|l| l.split_once('='))
            .any(|(k, v)| k == key && if exact { v == value } else { v.contains(value) });
    }
    let (negate, term) = match term.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, term),
    };
    let (term, exact) = unquote(term);
    let hit = if exact {
        name == term
    } else {
        name.contains(term)
    };
    hit != negate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_follows_argos_semantics() {
        let labels = "app=checkout;team=payments";
        assert!(search_matches("", "checkout", labels));
        assert!(search_matches("check", "checkout", labels));
        assert!(!search_matches("\"check\"", "checkout", labels));
        assert!(search_matches("\"checkout\"", "checkout", labels));
        assert!(!search_matches("!check", "checkout", labels));
        assert!(search_matches("!search", "checkout", labels));
        assert!(
            search_matches("nope, check", "checkout", labels),
            "any term"
        );
        assert!(search_matches("team:pay", "x", labels));
        assert!(!search_matches("team:\"pay\"", "x", labels));
        assert!(search_matches("team:\"payments\"", "x", labels));
        assert!(!search_matches("app:search", "x", labels));
    }

    #[test]
    fn filters_come_from_the_query() {
        let f = Filter::from_pairs([("q", "gen"), ("status", "Paused,Bogus"), ("attention", "1")]);
        assert_eq!(f.q, "gen");
        assert_eq!(f.statuses, ["Paused"]);
        assert!(f.attention);
    }
}
