//! One rollout as the live view holds it: what the overview filters and
//! counts by, its Argo-compatible JSON serialized and deflated once per
//! change, its card once rendered, and its recent events. RolloutInfo
//! itself is not kept: its JSON deflated is about a tenth of its size in
//! memory, every JSON answer is then bytes copied or inflated, and a
//! rollout's page reads the RolloutInfo back from it when asked.

use std::sync::{Arc, OnceLock};

use serde::Serialize;

use super::deflated::{Deflated, Inflate};
use crate::info::attention::{Attention, attention};
use crate::info::observed::ObservedTraffic;
use crate::info::{AnalysisRunInfo, EventInfo, ExperimentInfo, RolloutInfo};

/// One rollout as shown.
#[derive(Debug, PartialEq)]
pub struct RolloutEntry {
    /// The sequence number of the change that produced this entry.
    pub seq: u64,
    pub summary: Summary,
    pub json: InfoJson,
    /// Set when the Rollout object itself could not be read; the info then
    /// carries just its name and the error.
    pub error: Option<String>,
    pub events: Vec<EventInfo>,
    /// What each revision receives, per Prometheus; `None` when no
    /// Prometheus is configured.
    pub observed: Option<Arc<ObservedTraffic>>,
    /// The rollout's overview card, rendered when first shown (by the web
    /// layer), once per change for everyone who sees it. Not before: most
    /// of 5,000 cards are never looked at, and kept they were 11 MB.
    pub card: OnceLock<Arc<str>>,
}

/// What the overview filters, counts and lists by, without the info.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub status: String,
    pub message: String,
    pub attention: Option<Attention>,
    /// The attention its info alone calls for (without observed traffic).
    pub info_attention: Option<Attention>,
    /// `key=value` pairs joined by `;` (neither can be in a label key or
    /// value): one allocation instead of a map per rollout.
    pub labels: String,
}

impl Summary {
    pub fn of(info: &RolloutInfo) -> Summary {
        let attention = attention(info);
        Summary {
            status: info.status.clone(),
            message: info.message.clone(),
            attention,
            info_attention: attention,
            labels: info
                .object_meta
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(";"),
        }
    }
}

impl Summary {
    /// With what observed traffic calls for: the more urgent of the two.
    pub fn with_observed(mut self, observed: Option<Attention>) -> Summary {
        self.attention = match (self.info_attention, observed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self
    }
}

/// A RolloutInfo as JSON: the list form Argo's list and watch send (no
/// analysis runs or experiments), and those two lists apart, so the full
/// form is the list form with them spliced in.
///
/// The list form is kept deflated only (`cluster::deflated`): the gzip list
/// is then a concatenation, and a plain answer inflates it back (a few
/// microseconds a rollout). Kept plain as well, 20,000 rollouts' JSON was
/// 59 MB of the dashboard's 238 MB; deflated it is about a quarter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoJson {
    list: Deflated,
    /// `"experiments":[…],"analysisRuns":[…]` (either may be absent), or
    /// empty when the rollout has neither.
    runs: Box<str>,
}

/// A rollout's kept JSON that does not read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadBack {
    #[error(transparent)]
    Inflate(#[from] Inflate),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Runs<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    experiments: &'a [ExperimentInfo],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    analysis_runs: &'a [AnalysisRunInfo],
}

impl InfoJson {
    /// Both forms of `info`. Its runs and experiments are lent out while
    /// the list form is written (and put back): a copy of the whole info
    /// on every rebuild was the alternative.
    pub fn of(info: &mut RolloutInfo) -> Result<InfoJson, serde_json::Error> {
        let experiments = std::mem::take(&mut info.experiments);
        let analysis_runs = std::mem::take(&mut info.analysis_runs);
        let list = serde_json::to_vec(&*info);
        let runs = serde_json::to_string(&Runs {
            experiments: &experiments,
            analysis_runs: &analysis_runs,
        });
        info.experiments = experiments;
        info.analysis_runs = analysis_runs;
        let (list, runs) = (list?, runs?);
        // `{…}` without its braces.
        let runs = runs
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
            .unwrap_or_default();
        Ok(InfoJson {
            list: Deflated::of(&list),
            runs: runs.into(),
        })
    }

    /// As Argo's list and watch send it.
    pub fn list(&self) -> Result<String, Inflate> {
        self.list.text()
    }

    /// The list form, deflated.
    pub fn deflated(&self) -> &Deflated {
        &self.list
    }

    /// As Argo's single-rollout answer sends it.
    pub fn full(&self) -> Result<String, Inflate> {
        let list = self.list()?;
        Ok(match list.strip_suffix('}') {
            Some(open) if !self.runs.is_empty() => format!("{open},{}}}", self.runs),
            _ => list,
        })
    }

    /// The RolloutInfo back, for a page that shows it.
    pub fn info(&self) -> Result<RolloutInfo, ReadBack> {
        Ok(serde_json::from_str(&self.full()?)?)
    }
}

impl RolloutEntry {
    /// The info back from its JSON. It was made by this program from a
    /// RolloutInfo, so it always reads; should it not, the page shows the
    /// rollout's name and why.
    pub fn info(&self, key: &crate::model::RolloutKey) -> RolloutInfo {
        self.json.info().unwrap_or_else(|e| {
            tracing::error!(error = %e, rollout = %key, "cannot read back a rollout's info");
            let mut info = RolloutInfo::default();
            info.object_meta.namespace = key.namespace.clone();
            info.object_meta.name = key.name.clone();
            info.status = "Unknown".into();
            info.message = format!("This rollout could not be shown: {e}");
            info
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::{AnalysisRunInfo, InfoMeta};

    #[test]
    fn the_full_form_is_the_list_form_with_the_runs_and_reads_back_whole() {
        let mut info = RolloutInfo {
            object_meta: InfoMeta {
                name: "web".into(),
                namespace: "shop".into(),
                ..InfoMeta::default()
            },
            status: "Paused".into(),
            ..RolloutInfo::default()
        };
        let json = InfoJson::of(&mut info).expect("serializes");
        assert_eq!(
            json.full().expect("inflates"),
            json.list().expect("inflates"),
            "nothing to splice in"
        );
        assert_eq!(json.info().expect("reads back"), info);
        info.analysis_runs.push(AnalysisRunInfo {
            status: "Failed".into(),
            revision: 2,
            ..AnalysisRunInfo::default()
        });
        let json = InfoJson::of(&mut info).expect("serializes");
        assert!(!json.list().expect("inflates").contains("analysisRuns"));
        let full: serde_json::Value =
            serde_json::from_str(&json.full().expect("inflates")).expect("valid JSON");
        assert_eq!(full["analysisRuns"][0]["status"], "Failed");
        assert_eq!(json.info().expect("reads back"), info);
    }
}
