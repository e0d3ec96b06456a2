//! Counts the overview shows, kept as the live view changes: rollouts by
//! status per namespace, and which need a person, most urgent first. The
//! hub updates them with each change (O(log N)); a page then reads them
//! instead of visiting every rollout (at 5,000 rollouts a visit of each
//! was most of an overview's cost).

use crate::info::attention::Attention;
use crate::info::{DEGRADED, HEALTHY, PAUSED, PROGRESSING};
use crate::model::RolloutKey;

use super::entry::Summary;

/// The statuses counted (and offered as filters), in the order shown.
pub const STATUSES: [&str; 4] = [PROGRESSING, PAUSED, DEGRADED, HEALTHY];

/// Rollouts by status, and how many need a person.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
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

    /// Adds another namespace's counts.
    pub fn merge(&mut self, other: &Counts) {
        self.total += other.total;
        self.attention += other.attention;
        for (mine, theirs) in self.by_status.iter_mut().zip(other.by_status) {
            *mine += theirs;
        }
    }

    pub fn of(&self, status: &str) -> usize {
        STATUSES
            .iter()
            .position(|s| *s == status)
            .map_or(0, |i| self.by_status[i])
    }
}

/// The counts of the whole live view. Cheap to clone (persistent maps).
#[derive(Clone, Debug, Default)]
pub struct Tallies {
    pub namespaces: imbl::OrdMap<String, Counts>,
    /// Rollouts that need a person, most urgent first, then by key.
    pub attention: imbl::OrdSet<(Attention, RolloutKey)>,
}

impl Tallies {
    /// `key` was `before` and is `after` (`None`: absent).
    pub fn change(&mut self, key: &RolloutKey, before: Option<&Summary>, after: Option<&Summary>) {
        if let Some(s) = before {
            if let Some(c) = self.namespaces.get_mut(&key.namespace) {
                c.remove(s);
                if c.total == 0 {
                    self.namespaces.remove(&key.namespace);
                }
            }
            if let Some(why) = s.attention {
                self.attention.remove(&(why, key.clone()));
            }
        }
        if let Some(s) = after {
            self.namespaces
                .entry(key.namespace.clone())
                .or_default()
                .add(s);
            if let Some(why) = s.attention {
                self.attention.insert((why, key.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(status: &str, attention: Option<Attention>) -> Summary {
        Summary {
            status: status.into(),
            attention,
            ..Summary::default()
        }
    }

    #[test]
    fn changes_move_a_rollout_between_counts_and_out_of_the_attention_list() {
        let mut t = Tallies::default();
        let key = RolloutKey::new("shop", "web");
        let paused = summary("Paused", Some(Attention::WaitingForPromotion));
        let healthy = summary("Healthy", None);
        t.change(&key, None, Some(&paused));
        assert_eq!(t.namespaces["shop"].of("Paused"), 1);
        assert_eq!(t.attention.len(), 1);
        t.change(&key, Some(&paused), Some(&healthy));
        assert_eq!(t.namespaces["shop"].of("Paused"), 0);
        assert_eq!(t.namespaces["shop"].of("Healthy"), 1);
        assert!(t.attention.is_empty());
        t.change(&key, Some(&healthy), None);
        assert!(t.namespaces.is_empty(), "an empty namespace is dropped");
    }
}
