//! The overview's filters, kept in the URL query so a view can be shared:
//! `q` (search, as Argo's UI: comma-separated terms, any may match; `!`
//! negates a name term; `"..."` is exact; `key:value` matches a label),
//! `status` (any of the chosen), `attention`, `ns`.

use super::card::CardView;

pub const STATUSES: [&str; 4] = ["Progressing", "Paused", "Degraded", "Healthy"];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
                "q" => f.q = v.to_string(),
                "status" => f.statuses.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| STATUSES.contains(s))
                        .map(str::to_string),
                ),
                "attention" => f.attention = matches!(v, "1" | "true" | "on"),
                "ns" => f.namespace = v.to_string(),
                _ => {}
            }
        }
        f
    }

    pub fn matches(&self, card: &CardView) -> bool {
        (self.namespace.is_empty() || card.namespace == self.namespace)
            && (!self.attention || card.attention)
            && (self.statuses.is_empty() || self.statuses.contains(&card.status))
            && search_matches(&self.q, &card.name, &card.labels)
    }

    pub fn has_status(&self, status: &str) -> bool {
        self.statuses.iter().any(|s| s == status)
    }
}

/// Argo's UI search: any term may match.
pub fn search_matches(q: &str, name: &str, labels: &str) -> bool {
    let terms: Vec<&str> = q
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    terms.is_empty() || terms.iter().any(|t| term_matches(t, name, labels))
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
