//! PURE: per-rollout figures over a window of releases: how often, how
//! long to fully promoted, how many aborted, how long to recover.

use std::collections::BTreeMap;

use super::facts::Outcome;
use super::records::ReleaseRow;
use crate::model::RolloutKey;

const WEEK_MS: f64 = 7.0 * 24.0 * 3600.0 * 1000.0;

#[derive(Clone, Debug, PartialEq)]
pub struct RolloutFigures {
    pub key: RolloutKey,
    pub releases: usize,
    pub per_week: f64,
    /// Median time from a new revision to fully promoted (ms).
    pub median_to_promoted: Option<i64>,
    /// Revisions aborted at least once, of all in the window (0..1).
    pub aborted_share: f64,
    /// Median time from an abort or a degraded revision to the next fully
    /// promoted release of the rollout (ms).
    pub median_to_recover: Option<i64>,
    /// The newest release.
    pub latest: ReleaseRow,
}

/// Figures per rollout of `rows` (newest first), over the window
/// `[since, now]` (ms).
pub fn figures(rows: &[ReleaseRow], since: i64, now: i64) -> Vec<RolloutFigures> {
    let mut by_rollout: BTreeMap<&RolloutKey, Vec<&ReleaseRow>> = BTreeMap::new();
    for r in rows {
        by_rollout.entry(&r.key).or_default().push(r);
    }
    let weeks = ((now - since).max(1) as f64 / WEEK_MS).max(1.0 / 7.0);
    by_rollout
        .into_iter()
        .filter_map(|(key, mut revs)| {
            revs.sort_by_key(|r| (r.started_at, r.revision));
            let latest = (*revs.last()?).clone();
            let to_promoted = median(
                revs.iter()
                    .filter(|r| r.outcome == Outcome::Promoted)
                    .filter_map(|r| Some(r.ended_at? - r.started_at))
                    .filter(|d| *d >= 0),
            );
            let aborted = revs
                .iter()
                .filter(|r| !r.aborts.is_empty() || r.outcome == Outcome::Aborted)
                .count();
            // A failure: each abort, or the end of a degraded revision.
            let failures: Vec<i64> = revs
                .iter()
                .flat_map(|r| {
                    let degraded = (r.outcome == Outcome::Degraded)
                        .then_some(r.ended_at)
                        .flatten();
                    let aborted_unrecorded = (r.outcome == Outcome::Aborted && r.aborts.is_empty())
                        .then_some(r.ended_at)
                        .flatten();
                    r.aborts
                        .iter()
                        .copied()
                        .chain(degraded)
                        .chain(aborted_unrecorded)
                })
                .collect();
            let promotions: Vec<i64> = revs
                .iter()
                .filter(|r| r.outcome == Outcome::Promoted)
                .filter_map(|r| r.ended_at)
                .collect();
            let to_recover = median(
                failures
                    .iter()
                    .filter_map(|f| promotions.iter().filter(|p| *p > f).min().map(|p| p - f)),
            );
            Some(RolloutFigures {
                key: key.clone(),
                releases: revs.len(),
                per_week: revs.len() as f64 / weeks,
                median_to_promoted: to_promoted,
                aborted_share: aborted as f64 / revs.len() as f64,
                median_to_recover: to_recover,
                latest,
            })
        })
        .collect()
}

fn median(values: impl Iterator<Item = i64>) -> Option<i64> {
    let mut v: Vec<i64> = values.collect();
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2
    } else {
        v[mid]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        rev: i64,
        started: i64,
        ended: Option<i64>,
        outcome: Outcome,
        aborts: &[i64],
    ) -> ReleaseRow {
        ReleaseRow {
            key: RolloutKey::new("shop", "web"),
            revision: rev,
            pod_template_hash: String::new(),
            images: Vec::new(),
            started_at: started,
            ended_at: ended,
            outcome,
            promoted_by: None,
            aborted_by: None,
            aborts: aborts.to_vec(),
        }
    }

    #[test]
    fn figures_count_medians_aborts_and_recovery() {
        let min = 60_000;
        let rows = vec![
            row(4, 100 * min, None, Outcome::InProgress, &[]),
            // Aborted at 62, retried, promoted at 70.
            row(3, 60 * min, Some(70 * min), Outcome::Promoted, &[62 * min]),
            row(2, 30 * min, Some(40 * min), Outcome::Aborted, &[40 * min]),
            row(1, 0, Some(20 * min), Outcome::Promoted, &[]),
        ];
        let f = figures(&rows, 0, 2 * 7 * 24 * 60 * min);
        assert_eq!(f.len(), 1);
        let f = &f[0];
        assert_eq!(f.releases, 4);
        assert!((f.per_week - 2.0).abs() < 1e-9, "4 releases in 2 weeks");
        // Promoted after 20 and 10 minutes.
        assert_eq!(f.median_to_promoted, Some(15 * min));
        assert!((f.aborted_share - 0.5).abs() < 1e-9);
        // Abort at 40 → promoted at 70 (30 min); abort at 62 → 70 (8 min).
        assert_eq!(f.median_to_recover, Some(19 * min));
        assert_eq!(f.latest.revision, 4);
    }

    #[test]
    fn no_promotion_means_no_median() {
        let rows = vec![row(1, 0, None, Outcome::InProgress, &[])];
        let f = figures(&rows, 0, 1000);
        assert_eq!(f[0].median_to_promoted, None);
        assert_eq!(f[0].median_to_recover, None);
    }
}
