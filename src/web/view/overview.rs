//! The overview for one person and one query: counts by status over every
//! rollout they may see, what needs a person first, a summary per
//! namespace, and one page of the rollouts the filter keeps. One pass over
//! the live view's summaries (no RolloutInfo, no card is touched for a
//! rollout off the page), so it costs the same for 20 rollouts or 5,000.
//! Pure.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cluster::hub::{RolloutEntry, Summary};
use crate::info::attention::Attention;
use crate::model::RolloutKey;

use super::filter::{Filter, STATUSES};

/// Cards per page. Up to this many rollouts, the overview is one page of
/// cards as it always was, without the attention list and the summary.
pub const PAGE_SIZE: usize = 100;
/// Rows in the attention list; the rest are one link away.
pub const ATTENTION_SHOWN: usize = 20;
/// Namespaces in the summary; the rest are in the namespace filter.
pub const NAMESPACES_SHOWN: usize = 100;

/// The filter and the page (from 1) in the URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OverviewQuery {
    pub filter: Filter,
    pub page: usize,
}

impl OverviewQuery {
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)> + Clone) -> Self {
        let page = pairs
            .clone()
            .into_iter()
            .find(|(k, _)| *k == "page")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        OverviewQuery {
            filter: Filter::from_pairs(pairs),
            page,
        }
    }
}

/// Rollouts by status, and how many need a person.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub attention: usize,
    /// Indexed like `STATUSES`; other statuses are only in `total`.
    pub by_status: [usize; STATUSES.len()],
}

impl Counts {
    pub fn add(&mut self, summary: &Summary) {
        self.total += 1;
        self.attention += usize::from(summary.attention.is_some());
        if let Some(i) = STATUSES.iter().position(|s| *s == summary.status) {
            self.by_status[i] += 1;
        }
    }

    pub fn remove(&mut self, summary: &Summary) {
        self.total = self.total.saturating_sub(1);
        self.attention = self
            .attention
            .saturating_sub(usize::from(summary.attention.is_some()));
        if let Some(i) = STATUSES.iter().position(|s| *s == summary.status) {
            self.by_status[i] = self.by_status[i].saturating_sub(1);
        }
    }

    pub fn of(&self, status: &str) -> usize {
        STATUSES
            .iter()
            .position(|s| *s == status)
            .map_or(0, |i| self.by_status[i])
    }
}

/// One row of the attention list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttentionRow {
    pub key: RolloutKey,
    pub why: Attention,
    pub status: String,
}

/// One page of rollouts.
pub struct Overview {
    pub counts: Counts,
    /// Every namespace with rollouts the person may see, by name.
    pub namespaces: BTreeMap<String, Counts>,
    /// The most urgent first (then by namespace and name), at most
    /// `ATTENTION_SHOWN`.
    pub attention: Vec<AttentionRow>,
    /// How many rollouts the filter keeps.
    pub matching: usize,
    /// The page shown (from 1; past the last, the last).
    pub page: usize,
    pub pages: usize,
    /// The rollouts on this page, by namespace and name.
    pub cards: Vec<(RolloutKey, Arc<RolloutEntry>)>,
}

impl Overview {
    /// `rollouts` in key order; `sees` whether the person may see a
    /// namespace.
    pub fn of<'a>(
        rollouts: impl Iterator<Item = (&'a RolloutKey, &'a Arc<RolloutEntry>)> + Clone,
        sees: impl Fn(&str) -> bool,
        query: &OverviewQuery,
    ) -> Overview {
        let mut counts = Counts::default();
        let mut namespaces: BTreeMap<String, Counts> = BTreeMap::new();
        let mut attention: Vec<AttentionRow> = Vec::new();
        let mut matching = 0;
        for (key, entry) in rollouts.clone().filter(|(k, _)| sees(&k.namespace)) {
            let summary = &entry.summary;
            counts.add(summary);
            match namespaces.get_mut(&key.namespace) {
                Some(c) => c.add(summary),
                None => {
                    let mut c = Counts::default();
                    c.add(summary);
                    namespaces.insert(key.namespace.clone(), c);
                }
            }
            if let Some(why) = summary.attention {
                attention.push(AttentionRow {
                    key: key.clone(),
                    why,
                    status: summary.status.clone(),
                });
            }
            matching += usize::from(query.filter.matches(key, summary));
        }
        attention.sort_by(|a, b| (a.why, &a.key).cmp(&(b.why, &b.key)));
        attention.truncate(ATTENTION_SHOWN);
        let pages = matching.div_ceil(PAGE_SIZE).max(1);
        let page = query.page.clamp(1, pages);
        let cards = rollouts
            .filter(|(k, e)| sees(&k.namespace) && query.filter.matches(k, &e.summary))
            .skip((page - 1) * PAGE_SIZE)
            .take(PAGE_SIZE)
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        Overview {
            counts,
            namespaces,
            attention,
            matching,
            page,
            pages,
            cards,
        }
    }

    /// More rollouts than one page holds: the attention list and the
    /// namespace summary come first.
    pub fn paged(&self) -> bool {
        self.counts.total > PAGE_SIZE
    }

    /// "101–200 of 5,000".
    pub fn range_text(&self) -> String {
        if self.matching == 0 {
            return "0 rollouts".to_string();
        }
        let first = (self.page - 1) * PAGE_SIZE + 1;
        let last = (first + self.cards.len()).saturating_sub(1);
        format!(
            "{}–{} of {}",
            thousands(first),
            thousands(last),
            thousands(self.matching)
        )
    }
}

/// `5000` → `5,000`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::hub::InfoJson;
    use crate::info::RolloutInfo;

    fn entry(status: &str, attention: Option<Attention>) -> Arc<RolloutEntry> {
        Arc::new(RolloutEntry {
            seq: 1,
            summary: Summary {
                status: status.into(),
                attention,
                ..Summary::default()
            },
            json: InfoJson::of(&RolloutInfo::default()).expect("serializes"),
            error: None,
            events: Vec::new(),
            card: Arc::from(""),
        })
    }

    fn view(n: usize) -> imbl::OrdMap<RolloutKey, Arc<RolloutEntry>> {
        (0..n)
            .map(|i| {
                let (status, why) = match i % 4 {
                    0 => ("Degraded", Some(Attention::Degraded)),
                    1 => ("Paused", Some(Attention::WaitingForPromotion)),
                    _ => ("Healthy", None),
                };
                (
                    RolloutKey::new(format!("ns-{}", i % 3), format!("app-{i:04}")),
                    entry(status, why),
                )
            })
            .collect()
    }

    #[test]
    fn pages_hold_a_hundred_in_key_order_and_count_everything() {
        let all = view(250);
        let query = |pairs: &[(&str, &str)]| OverviewQuery::from_pairs(pairs.iter().copied());
        let o = Overview::of(all.iter(), |_| true, &query(&[("page", "3")]));
        assert!(o.paged());
        assert_eq!((o.page, o.pages, o.matching), (3, 3, 250));
        assert_eq!(o.cards.len(), 50);
        assert_eq!(o.range_text(), "201–250 of 250");
        let keys: Vec<&RolloutKey> = o.cards.iter().map(|(k, _)| k).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(o.counts.of("Healthy"), 124);
        assert_eq!(o.counts.attention, 126);
        assert_eq!(o.namespaces.len(), 3);
        assert_eq!(o.attention.len(), ATTENTION_SHOWN);
        assert!(
            o.attention.iter().all(|r| r.why == Attention::Degraded),
            "the most urgent first"
        );

        let o = Overview::of(all.iter(), |_| true, &query(&[("page", "99")]));
        assert_eq!(o.page, 3, "past the last page is the last");
        let o = Overview::of(all.iter(), |_| true, &query(&[("q", "app-0249")]));
        assert_eq!((o.matching, o.cards.len(), o.page), (1, 1, 1));
        let o = Overview::of(all.iter(), |ns| ns == "ns-1", &query(&[]));
        assert_eq!(o.counts.total, 83, "only what the person may see");
        assert!(o.cards.iter().all(|(k, _)| k.namespace == "ns-1"));
    }

    #[test]
    fn a_small_view_is_one_page() {
        let all = view(20);
        let o = Overview::of(all.iter(), |_| true, &OverviewQuery::default());
        assert!(!o.paged());
        assert_eq!((o.page, o.pages, o.cards.len()), (1, 1, 20));
    }

    #[test]
    fn numbers_have_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(5000), "5,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
