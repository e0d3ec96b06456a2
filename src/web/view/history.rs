//! The release history as shown: per revision its outcome, duration, who
//! promoted or aborted, and a timeline (one bar per step, actions as
//! markers) laid out here for the SVG template; the Releases page's rows
//! and figures; the JSON of both APIs.

use serde::Serialize;

use super::kept_logs::{KeptOnEntry, KeptSummaryJson};
use crate::history::facts::{EventKind, Outcome};
use crate::history::figures::RolloutFigures;
use crate::history::records::{EventRecord, Gap, ReleaseRow, RevisionRecord, StepRecord};
use crate::web::text::{PAGE_CHARS, clip};

pub use crate::web::text::rfc3339;

/// A duration as people read it: 45s, 2m 05s, 1h 03m, 3d 4h.
pub fn duration_words(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

/// How long a revision took, or has taken so far; `None` when it ended
/// before it was recorded.
fn took(outcome: Outcome, started: i64, ended: Option<i64>, now: i64) -> Option<String> {
    match (outcome, ended) {
        (Outcome::InProgress, _) => Some(format!("{} so far", duration_words(now - started))),
        (_, Some(e)) => Some(duration_words(e - started)),
        (_, None) => None,
    }
}

fn outcome_words(o: Outcome) -> &'static str {
    match o {
        Outcome::InProgress => "in progress",
        Outcome::Promoted => "promoted",
        Outcome::Aborted => "aborted",
        Outcome::Degraded => "degraded",
        Outcome::Superseded => "superseded",
    }
}

// ---- JSON ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryJson {
    pub revisions: Vec<RevisionJson>,
    /// Times the history could not be written, oldest first.
    pub gaps: Vec<GapJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionJson {
    revision: String,
    pod_template_hash: String,
    images: Vec<String>,
    started_at: String,
    ended_at: Option<String>,
    outcome: &'static str,
    steps: Vec<StepJson>,
    events: Vec<EventJson>,
    /// What its pods' logs left when it was aborted or degraded (for those
    /// who may read logs; the lines at `…/history/{revision}/logs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    kept_logs: Option<KeptSummaryJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StepJson {
    index: i64,
    description: String,
    entered_at: String,
    left_at: Option<String>,
    /// Beyond the shape: which try after aborts, and the traffic.
    attempt: i64,
    weight: Option<i64>,
    observed_percent: Option<f64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventJson {
    at: String,
    kind: EventKind,
    by: Option<String>,
    /// `controller`, `dashboard` or `outside`.
    via: String,
    message: String,
}

impl RevisionJson {
    pub fn of(r: &RevisionRecord) -> RevisionJson {
        RevisionJson {
            revision: r.revision.to_string(),
            pod_template_hash: r.pod_template_hash.clone(),
            images: r.images.clone(),
            started_at: rfc3339(r.started_at),
            ended_at: r.ended_at.map(rfc3339),
            outcome: r.outcome.as_str(),
            steps: r
                .steps
                .iter()
                .map(|s| StepJson {
                    index: s.index,
                    description: s.description.clone(),
                    entered_at: rfc3339(s.entered_at),
                    left_at: s.left_at.map(rfc3339),
                    attempt: s.attempt,
                    weight: s.weight,
                    observed_percent: s.observed_percent,
                })
                .collect(),
            events: r
                .events
                .iter()
                .map(|e| EventJson {
                    at: rfc3339(e.at),
                    kind: e.kind,
                    by: e.by.clone(),
                    via: e.via.clone(),
                    message: clip(&e.message, PAGE_CHARS).into_owned(),
                })
                .collect(),
            kept_logs: None,
        }
    }

    pub fn with_kept_logs(mut self, kept: Option<KeptSummaryJson>) -> RevisionJson {
        self.kept_logs = kept;
        self
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleasesJson {
    pub since: String,
    pub releases: Vec<ReleaseJson>,
    pub rollouts: Vec<FiguresJson>,
    pub gaps: Vec<GapJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseJson {
    namespace: String,
    name: String,
    revision: String,
    pod_template_hash: String,
    images: Vec<String>,
    started_at: String,
    ended_at: Option<String>,
    outcome: &'static str,
    promoted_by: Option<String>,
    aborted_by: Option<String>,
}

impl ReleaseJson {
    pub fn of(r: &ReleaseRow) -> ReleaseJson {
        ReleaseJson {
            namespace: r.key.namespace.clone(),
            name: r.key.name.clone(),
            revision: r.revision.to_string(),
            pod_template_hash: r.pod_template_hash.clone(),
            images: r.images.clone(),
            started_at: rfc3339(r.started_at),
            ended_at: r.ended_at.map(rfc3339),
            outcome: r.outcome.as_str(),
            promoted_by: r.promoted_by.clone(),
            aborted_by: r.aborted_by.clone(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FiguresJson {
    namespace: String,
    name: String,
    releases: usize,
    releases_per_week: f64,
    median_seconds_to_promoted: Option<i64>,
    aborted_share: f64,
    median_seconds_to_recover: Option<i64>,
}

impl FiguresJson {
    pub fn of(f: &RolloutFigures) -> FiguresJson {
        FiguresJson {
            namespace: f.key.namespace.clone(),
            name: f.key.name.clone(),
            releases: f.releases,
            releases_per_week: (f.per_week * 100.0).round() / 100.0,
            median_seconds_to_promoted: f.median_to_promoted.map(|m| m / 1000),
            aborted_share: (f.aborted_share * 1000.0).round() / 1000.0,
            median_seconds_to_recover: f.median_to_recover.map(|m| m / 1000),
        }
    }
}

// ---- the History panel ----

/// The panel on a rollout's page.
pub struct HistoryView {
    /// `None` when no history is kept (`--history-db off`).
    pub revisions: Option<Vec<RevisionView>>,
    pub error: Option<String>,
    /// Times the history could not be written, in words, oldest first.
    pub gaps: Vec<GapView>,
}

/// A gap as the History panel and the Releases page show it.
pub struct GapView {
    /// Changes in it are missing (else it was only late).
    pub lost: bool,
    pub sentence: String,
}

impl GapView {
    pub fn of(g: &Gap) -> GapView {
        let when = |ms: i64| {
            jiff::Timestamp::from_millisecond(ms)
                .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default()
        };
        let mut sentence = g.sentence(&when(g.from), &when(g.to));
        if let Some(k) = &g.key {
            sentence = format!("{}/{}: {sentence}", k.namespace, k.name);
        }
        GapView {
            lost: g.lost,
            sentence,
        }
    }
}

/// A gap as the JSON API gives it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GapJson {
    /// `namespace/name`, absent for the database as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    rollout: Option<String>,
    from: String,
    to: String,
    lost: bool,
    reason: String,
}

impl GapJson {
    pub fn of(g: &Gap) -> GapJson {
        GapJson {
            rollout: g
                .key
                .as_ref()
                .map(|k| format!("{}/{}", k.namespace, k.name)),
            from: rfc3339(g.from),
            to: rfc3339(g.to),
            lost: g.lost,
            reason: clip(&g.reason, PAGE_CHARS).into_owned(),
        }
    }
}

pub struct RevisionView {
    pub revision: i64,
    pub outcome: &'static str,
    pub outcome_words: &'static str,
    pub started: String,
    pub duration: String,
    pub images: String,
    pub promoted_by: Option<String>,
    pub aborted_by: Option<String>,
    pub steps: Vec<StepView>,
    pub events: Vec<EventView>,
    pub timeline: Timeline,
    /// The newest revision is open; older ones fold.
    pub open: bool,
    /// The last lines its pods left when it was aborted or degraded.
    pub kept: Option<KeptOnEntry>,
    /// What it changed from the revision before it, from the templates the
    /// history kept.
    pub changed: Option<String>,
}

pub struct StepView {
    pub number: i64,
    pub attempt: i64,
    pub description: String,
    pub entered: String,
    pub duration: String,
    pub traffic: String,
}

pub struct EventView {
    pub at: String,
    pub kind: &'static str,
    pub who: String,
    pub message: String,
}

/// An SVG timeline laid out in a 600-wide view box.
pub struct Timeline {
    pub height: i64,
    pub label: String,
    pub bars: Vec<Bar>,
    pub markers: Vec<Marker>,
    pub axis_y: i64,
}

pub struct Bar {
    pub y: i64,
    pub x: i64,
    pub width: i64,
    pub label: String,
    pub text: String,
    pub text_x: i64,
    pub open: bool,
}

pub struct Marker {
    pub x: i64,
    pub kind: &'static str,
    pub title: String,
}

const LABELS: i64 = 190;
const PLOT: i64 = 300;
const ROW: i64 = 22;

impl HistoryView {
    pub fn off() -> HistoryView {
        HistoryView {
            revisions: None,
            error: None,
            gaps: Vec::new(),
        }
    }

    pub fn failed(e: String) -> HistoryView {
        HistoryView {
            revisions: Some(Vec::new()),
            error: Some(e),
            gaps: Vec::new(),
        }
    }

    /// `kept`: what each revision kept of its pods' logs, by revision.
    pub fn of(
        records: &[RevisionRecord],
        gaps: &[Gap],
        now: i64,
        mut kept: Vec<(i64, KeptOnEntry)>,
    ) -> HistoryView {
        HistoryView {
            revisions: Some(
                records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let mut view = RevisionView::of(r, now, i == 0);
                        if let Some(at) = kept.iter().position(|(rev, _)| *rev == r.revision) {
                            view.kept = Some(kept.swap_remove(at).1);
                        }
                        view
                    })
                    .collect(),
            ),
            error: None,
            gaps: gaps.iter().map(GapView::of).collect(),
        }
    }
}

impl RevisionView {
    fn of(r: &RevisionRecord, now: i64, open: bool) -> RevisionView {
        let end = r.ended_at.unwrap_or(now);
        let who = |kinds: &[EventKind]| {
            r.events
                .iter()
                .rev()
                .find(|e| kinds.contains(&e.kind))
                .map(EventRecord::who)
        };
        RevisionView {
            revision: r.revision,
            outcome: r.outcome.as_str(),
            outcome_words: outcome_words(r.outcome),
            started: rfc3339(r.started_at),
            duration: took(r.outcome, r.started_at, r.ended_at, now)
                .unwrap_or_else(|| "ended before it was recorded".to_string()),
            images: r.images.join(", "),
            promoted_by: who(&[EventKind::Promote, EventKind::PromoteFull]),
            aborted_by: who(&[EventKind::Abort]),
            steps: r
                .steps
                .iter()
                .map(|s| StepView {
                    number: s.index + 1,
                    attempt: s.attempt + 1,
                    description: s.description.clone(),
                    entered: rfc3339(s.entered_at),
                    duration: step_duration(s, now),
                    traffic: traffic_words(s),
                })
                .collect(),
            events: r
                .events
                .iter()
                .map(|e| EventView {
                    at: rfc3339(e.at),
                    kind: e.kind.as_str(),
                    who: e.who(),
                    message: clip(&e.message, PAGE_CHARS).into_owned(),
                })
                .collect(),
            timeline: Timeline::of(r, end.max(r.started_at + 1000), now),
            open,
            kept: None,
            changed: None,
        }
    }
}

fn step_duration(s: &StepRecord, now: i64) -> String {
    match s.left_at {
        Some(l) => duration_words(l - s.entered_at),
        None => format!("{} so far", duration_words(now - s.entered_at)),
    }
}

fn traffic_words(s: &StepRecord) -> String {
    match (s.weight, s.observed_percent) {
        (Some(w), Some(o)) => format!("{w}% (observed {o:.0}%)"),
        (Some(w), None) => format!("{w}%"),
        (None, Some(o)) => format!("observed {o:.0}%"),
        (None, None) => String::new(),
    }
}

impl Timeline {
    fn of(r: &RevisionRecord, end: i64, now: i64) -> Timeline {
        let start = r
            .steps
            .iter()
            .map(|s| s.entered_at)
            .chain(r.events.iter().map(|e| e.at))
            .chain(std::iter::once(r.started_at))
            .min()
            .unwrap_or(r.started_at);
        let end = r
            .steps
            .iter()
            .map(|s| s.left_at.unwrap_or(now))
            .chain(r.events.iter().map(|e| e.at))
            .chain(std::iter::once(end))
            .max()
            .unwrap_or(end);
        let span = (end - start).max(1);
        let x = |t: i64| LABELS + ((t - start).clamp(0, span) * PLOT / span);
        let bars: Vec<Bar> = r
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let from = x(s.entered_at);
                let to = x(s.left_at.unwrap_or(now)).max(from + 2);
                let traffic = traffic_words(s);
                let duration = step_duration(s, now);
                Bar {
                    y: 18 + i as i64 * ROW,
                    x: from,
                    width: to - from,
                    label: if s.attempt > 0 {
                        format!("{}. {} (try {})", s.index + 1, s.description, s.attempt + 1)
                    } else {
                        format!("{}. {}", s.index + 1, s.description)
                    },
                    text: if traffic.is_empty() {
                        duration
                    } else {
                        format!("{duration} · {traffic}")
                    },
                    text_x: (to + 4).min(LABELS + PLOT + 4),
                    open: s.left_at.is_none(),
                }
            })
            .collect();
        let markers = r
            .events
            .iter()
            .filter(|e| e.kind != EventKind::Pause)
            .map(|e| Marker {
                x: x(e.at),
                kind: e.kind.as_str(),
                title: format!("{} · {} · {}", rfc3339(e.at), e.who(), e.message),
            })
            .collect();
        let rows = bars.len() as i64;
        Timeline {
            height: 18 + rows * ROW + 10,
            label: format!(
                "Revision {}: {} steps over {}, {}",
                r.revision,
                rows,
                duration_words(end - start),
                outcome_words(r.outcome)
            ),
            bars,
            markers,
            axis_y: 10,
        }
    }
}

// ---- the Releases page ----

pub struct FiguresView {
    pub namespace: String,
    pub name: String,
    pub releases: usize,
    pub per_week: String,
    pub to_promoted: String,
    pub aborted: String,
    pub to_recover: String,
    /// The newest release, as the list below shows it.
    pub latest: ReleaseRowView,
    /// Who ended it: who aborted an aborted one, else who promoted.
    pub latest_by: String,
}

impl FiguresView {
    pub fn of(f: &RolloutFigures, now: i64) -> FiguresView {
        let l = &f.latest;
        FiguresView {
            namespace: f.key.namespace.clone(),
            name: f.key.name.clone(),
            releases: f.releases,
            per_week: format!("{:.1}", f.per_week),
            to_promoted: f.median_to_promoted.map_or("—".into(), duration_words),
            aborted: format!("{:.0}%", f.aborted_share * 100.0),
            to_recover: f.median_to_recover.map_or("—".into(), duration_words),
            latest: ReleaseRowView::of(l, now),
            latest_by: l
                .aborted_by
                .clone()
                .filter(|_| l.outcome == Outcome::Aborted)
                .or_else(|| l.promoted_by.clone())
                .unwrap_or_default(),
        }
    }
}

/// One release as the Releases page lists it.
pub struct ReleaseRowView {
    pub namespace: String,
    pub name: String,
    pub revision: i64,
    pub started: String,
    pub outcome: &'static str,
    pub outcome_words: &'static str,
    pub took: String,
    pub who: String,
}

impl ReleaseRowView {
    pub fn of(r: &ReleaseRow, now: i64) -> ReleaseRowView {
        let who = match (&r.promoted_by, &r.aborted_by) {
            (Some(p), Some(a)) => format!("aborted by {a}, promoted by {p}"),
            (Some(p), None) => format!("promoted by {p}"),
            (None, Some(a)) => format!("aborted by {a}"),
            (None, None) => String::new(),
        };
        ReleaseRowView {
            namespace: r.key.namespace.clone(),
            name: r.key.name.clone(),
            revision: r.revision,
            started: rfc3339(r.started_at),
            outcome: r.outcome.as_str(),
            outcome_words: outcome_words(r.outcome),
            took: took(r.outcome, r.started_at, r.ended_at, now).unwrap_or_else(|| "—".to_string()),
            who,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_say_them() {
        assert_eq!(duration_words(30_000), "30s");
        assert_eq!(duration_words(125_000), "2m 05s");
        assert_eq!(duration_words(3_780_000), "1h 03m");
        assert_eq!(duration_words(3 * 86_400_000 + 4 * 3_600_000), "3d 4h");
    }

    #[test]
    fn the_timeline_puts_each_step_in_its_row_in_time_order() {
        let step = |i: i64, from: i64, to: i64| StepRecord {
            attempt: 0,
            index: i,
            description: format!("step {i}"),
            entered_at: from,
            left_at: Some(to),
            weight: Some(20),
            observed_percent: None,
        };
        let r = RevisionRecord {
            revision: 2,
            pod_template_hash: "abc".into(),
            images: vec!["app:2".into()],
            started_at: 0,
            ended_at: Some(100_000),
            outcome: Outcome::Promoted,
            steps: vec![
                step(0, 0, 10_000),
                step(1, 10_000, 70_000),
                step(2, 70_000, 100_000),
            ],
            events: vec![EventRecord {
                at: 70_000,
                kind: EventKind::Promote,
                via: "dashboard".into(),
                by: Some("alice".into()),
                message: "Promoted at step 2".into(),
            }],
        };
        let v = HistoryView::of(&[r], &[], 200_000, Vec::new());
        let rev = &v.revisions.as_ref().expect("kept")[0];
        assert_eq!(rev.promoted_by.as_deref(), Some("alice"));
        assert_eq!(rev.duration, "1m 40s");
        let t = &rev.timeline;
        assert_eq!(t.bars.len(), 3);
        assert!(t.bars[0].x < t.bars[1].x && t.bars[1].x < t.bars[2].x);
        assert!(
            t.bars[1].width > t.bars[0].width,
            "60 s is longer than 10 s"
        );
        assert_eq!(t.bars[1].text, "1m 00s · 20%");
        assert_eq!(
            t.markers[0].x, t.bars[2].x,
            "the promote is where step 3 begins"
        );
        assert!(t.markers[0].title.contains("alice"));
    }
}
