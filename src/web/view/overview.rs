//! The overview for one person and one query: counts by status over every
//! rollout they may see, what needs a person first, a summary per
//! namespace, and one page of the rollouts the filter keeps. Read from the
//! live view's tallies and the page's own rollouts (no RolloutInfo, no card
//! is touched for a rollout off the page). Pure.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cluster::hub::{Counts, RolloutEntry, Snapshot};
use crate::info::attention::Attention;
use crate::info::words::thousands;
use crate::model::RolloutKey;

use super::filter::Filter;

/// Cards per page. Up to this many rollouts, the overview is one page of
/// cards as it always was, without the attention list and the summary.
pub const PAGE_SIZE: usize = 100;
/// Rows in the attention list; the rest are one link away.
pub const ATTENTION_SHOWN: usize = 20;
/// Namespaces in the summary; the rest are in the namespace filter.
pub const NAMESPACES_SHOWN: usize = 100;

/// The filter and the page (from 1) in the URL.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
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

/// One row of the attention list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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
    /// The overview of `snap` for someone who sees the namespaces `sees`
    /// accepts. The counts, the attention list and an unfiltered (or
    /// namespace-filtered) page come from the tallies and the page's own
    /// rollouts; only a search or a status filter visits every rollout.
    pub fn of(snap: &Snapshot, sees: impl Fn(&str) -> bool, query: &OverviewQuery) -> Overview {
        let namespaces: BTreeMap<String, Counts> = snap
            .tallies
            .namespaces
            .iter()
            .filter(|(ns, _)| sees(ns))
            .map(|(ns, c)| (ns.clone(), c.clone()))
            .collect();
        let mut counts = Counts::default();
        for c in namespaces.values() {
            counts.merge(c);
        }
        let (attention, _) = attention_of(snap, &sees);
        let filter = &query.filter;
        let (matching, page, pages, cards) =
            if filter.q.is_empty() && filter.statuses.is_empty() && !filter.attention {
                // By namespace: whole namespaces are skipped by their counts.
                let shown: Vec<(&String, usize)> = namespaces
                    .iter()
                    .filter(|(ns, _)| filter.namespace.is_empty() || **ns == filter.namespace)
                    .map(|(ns, c)| (ns, c.total))
                    .collect();
                let matching: usize = shown.iter().map(|(_, n)| n).sum();
                let (page, pages) = page_of(query.page, matching);
                let mut skip = (page - 1) * PAGE_SIZE;
                let mut cards = Vec::with_capacity(PAGE_SIZE.min(matching));
                for (ns, total) in shown {
                    if cards.len() == PAGE_SIZE {
                        break;
                    }
                    if skip >= total {
                        skip -= total;
                        continue;
                    }
                    let take = PAGE_SIZE - cards.len();
                    cards.extend(
                        snap.rollouts
                            .range(RolloutKey::new(ns.as_str(), "")..)
                            .take_while(|(k, _)| k.namespace == *ns)
                            .skip(skip)
                            .take(take)
                            .map(|(k, e)| (k.clone(), e.clone())),
                    );
                    skip = 0;
                }
                (matching, page, pages, cards)
            } else {
                let kept = || {
                    snap.rollouts
                        .iter()
                        .filter(|(k, e)| sees(&k.namespace) && filter.matches(k, &e.summary))
                };
                let matching = kept().count();
                let (page, pages) = page_of(query.page, matching);
                let cards = kept()
                    .skip((page - 1) * PAGE_SIZE)
                    .take(PAGE_SIZE)
                    .map(|(k, e)| (k.clone(), e.clone()))
                    .collect();
                (matching, page, pages, cards)
            };
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
            thousands(first as u64),
            thousands(last as u64),
            thousands(self.matching as u64)
        )
    }
}

/// The first `ATTENTION_SHOWN` rollouts that need a person (most urgent
/// first) and how many do, among those in namespaces `sees` accepts.
pub fn attention_of(snap: &Snapshot, sees: impl Fn(&str) -> bool) -> (Vec<AttentionRow>, usize) {
    let total = snap
        .tallies
        .namespaces
        .iter()
        .filter(|(ns, _)| sees(ns))
        .map(|(_, c)| c.attention)
        .sum();
    let rows = snap
        .tallies
        .attention
        .iter()
        .filter(|(_, k)| sees(&k.namespace))
        .take(ATTENTION_SHOWN)
        .map(|(why, key)| AttentionRow {
            key: key.clone(),
            why: *why,
            status: snap
                .rollouts
                .get(key)
                .map(|e| e.summary.status.clone())
                .unwrap_or_default(),
        })
        .collect();
    (rows, total)
}

/// The page shown for `asked` (from 1; past the last, the last) and how
/// many pages `matching` rollouts fill.
fn page_of(asked: usize, matching: usize) -> (usize, usize) {
    let pages = matching.div_ceil(PAGE_SIZE).max(1);
    (asked.clamp(1, pages), pages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::hub::{InfoJson, Summary, Tallies};
    use crate::info::RolloutInfo;

    fn entry(status: &str, attention: Option<Attention>) -> Arc<RolloutEntry> {
        Arc::new(RolloutEntry {
            seq: 1,
            summary: Summary {
                status: status.into(),
                attention,
                ..Summary::default()
            },
            json: InfoJson::of(&mut RolloutInfo::default()).expect("serializes"),
            error: None,
            events: Vec::new(),
            observed: None,
            card: std::sync::OnceLock::new(),
        })
    }

    fn view(n: usize) -> Snapshot {
        let rollouts: imbl::OrdMap<RolloutKey, Arc<RolloutEntry>> = (0..n)
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
            .collect();
        let mut tallies = Tallies::default();
        for (k, e) in rollouts.iter() {
            tallies.change(k, None, Some(&e.summary));
        }
        Snapshot {
            rollouts,
            tallies,
            ..Snapshot::default()
        }
    }

    #[test]
    fn pages_hold_a_hundred_in_key_order_and_count_everything() {
        let all = view(250);
        let query = |pairs: &[(&str, &str)]| OverviewQuery::from_pairs(pairs.iter().copied());
        let o = Overview::of(&all, |_| true, &query(&[("page", "3")]));
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

        let scanned = Overview::of(
            &all,
            |_| true,
            &query(&[
                ("page", "3"),
                ("status", "Healthy"),
                ("status", "Paused"),
                ("status", "Degraded"),
            ]),
        );
        let keys = |o: &Overview| o.cards.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        assert_eq!(
            keys(&scanned),
            keys(&o),
            "the counted page is the page a full visit gives"
        );
        let o = Overview::of(&all, |_| true, &query(&[("ns", "ns-2"), ("page", "1")]));
        assert_eq!(o.matching, 83);
        assert!(o.cards.iter().all(|(k, _)| k.namespace == "ns-2"));
        let o = Overview::of(&all, |_| true, &query(&[("page", "99")]));
        assert_eq!(o.page, 3, "past the last page is the last");
        let o = Overview::of(&all, |_| true, &query(&[("q", "app-0249")]));
        assert_eq!((o.matching, o.cards.len(), o.page), (1, 1, 1));
        let o = Overview::of(&all, |ns| ns == "ns-1", &query(&[]));
        assert_eq!(o.counts.total, 83, "only what the person may see");
        assert!(o.cards.iter().all(|(k, _)| k.namespace == "ns-1"));
    }

    #[test]
    fn a_small_view_is_one_page() {
        let all = view(20);
        let o = Overview::of(&all, |_| true, &OverviewQuery::default());
        assert!(!o.paged());
        assert_eq!((o.page, o.pages, o.cards.len()), (1, 1, 20));
    }
}
