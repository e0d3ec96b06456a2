//! The connection banner: live, starting, or stale since when and why; and
//! what the overview says when it has nothing to show.

use crate::cluster::health::{Health, HistoryTrouble, Problem, ScopeState, WatchState};
use crate::cluster::object::Kind;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BannerView {
    /// `live`, `starting` or `stale`.
    pub state: &'static str,
    pub headline: String,
    /// Watches that are not live and why.
    pub problems: Vec<String>,
    pub notice: Option<String>,
    pub malformed: Vec<String>,
}

const ESSENTIAL: [Kind; 3] = [Kind::Rollout, Kind::ReplicaSet, Kind::Pod];

/// The namespaces `h` names objects or watches in: a person is shown only
/// those they may list rollouts in.
pub fn namespaces_named(h: &Health) -> std::collections::BTreeSet<String> {
    h.watches
        .iter()
        .filter_map(|w| w.namespace.clone())
        .chain(h.malformed.iter().map(|m| m.namespace.clone()))
        .filter(|n| !n.is_empty())
        .collect()
}

impl BannerView {
    /// The banner for everyone (`--auth none`).
    pub fn of(h: &Health) -> BannerView {
        BannerView::for_viewer(h, &|_| true)
    }

    /// The banner for a person who may list rollouts where `sees` says:
    /// watches and malformed objects of other namespaces are left out.
    pub fn for_viewer(h: &Health, sees: &dyn Fn(&str) -> bool) -> BannerView {
        let shown = |ns: Option<&str>| ns.is_none_or(|n| n.is_empty() || sees(n));
        let mut problems: Vec<String> = h
            .problems()
            .filter(|w| shown(w.namespace.as_deref()))
            .map(|w| {
                let scope = w
                    .namespace
                    .as_deref()
                    .map(|n| format!(" in {n}"))
                    .unwrap_or_default();
                let since = w.since.strftime("%H:%M:%S UTC");
                format!(
                    "{}s{scope}: {} (since {since})",
                    w.kind,
                    w.error.as_deref().unwrap_or("failing")
                )
            })
            .collect();
        if let Some(t) = &h.history {
            problems.push(history_problem(t));
        }
        let stale = h
            .watches
            .iter()
            .filter(|w| ESSENTIAL.contains(&w.kind) && w.state == WatchState::Failing)
            .min_by_key(|w| w.since);
        let (state, headline) = if let Some(w) = stale {
            (
                "stale",
                format!(
                    "Not live: data as of {}",
                    w.last_success
                        .map(|t| t.strftime("%H:%M:%S UTC").to_string())
                        .unwrap_or_else(|| "never".to_string())
                ),
            )
        } else if !h.ready() {
            let why = match &h.scope {
                ScopeState::Resolving { error: Some(e) } => format!("Connecting: {e}"),
                _ => "Loading the rollouts…".to_string(),
            };
            ("starting", why)
        } else {
            ("live", "Live".to_string())
        };
        let notice = match &h.scope {
            ScopeState::Namespaces { notice, .. } => notice.clone(),
            _ => None,
        };
        BannerView {
            state,
            headline,
            problems,
            notice,
            malformed: h
                .malformed
                .iter()
                .filter(|m| shown(Some(&m.namespace)))
                .map(|m| format!("{} {}/{}: {}", m.kind, m.namespace, m.name, m.error))
                .collect(),
        }
    }
}

/// The banner's line while the history's database fails.
fn history_problem(t: &HistoryTrouble) -> String {
    let lost = match t.lost {
        0 => String::new(),
        1 => "; 1 change could not be kept (the history will show a gap)".to_string(),
        n => format!("; {n} changes could not be kept (the history will show a gap)"),
    };
    format!(
        "Release history: its database fails (since {}): {}; {} {} kept to write when it returns{lost}",
        t.since.strftime("%H:%M:%S UTC"),
        crate::web::text::clip(&t.error, crate::web::text::LABEL_CHARS),
        t.kept,
        if t.kept == 1 { "change" } else { "changes" },
    )
}

/// What the overview says instead of cards, when it has none to show.
pub fn empty_state(h: &Health, shown: usize, total: usize) -> Option<String> {
    if shown > 0 {
        return None;
    }
    if let Some(w) = h.failure(Kind::Rollout, None) {
        let error = w.error.clone().unwrap_or_default();
        return Some(match w.problem {
            Some(Problem::NotInstalled) => format!(
                "Argo Rollouts is not installed in this cluster (no rollouts.argoproj.io API). Install it, then reload: {error}"
            ),
            Some(Problem::Forbidden) => format!(
                "You may not list rollouts here: grant `list` and `watch` on `rollouts.argoproj.io` to this dashboard's identity. The API said: {error}"
            ),
            Some(Problem::Unreachable) => {
                format!("The Kubernetes API cannot be reached: {error}")
            }
            _ => format!("The Kubernetes API fails: {error}"),
        });
    }
    if !h.ready() {
        return Some("Loading the rollouts…".to_string());
    }
    Some(if total == 0 {
        "No rollouts in the namespaces shown. Create one with `kubectl apply -f rollout.yaml`, or widen the scope with -A or -n.".to_string()
    } else {
        "No rollout matches these filters.".to_string()
    })
}
