//! The rollout page: header and actions, traffic per route, the step
//! timeline, analysis, revisions, containers and events.

use crate::cluster::access::NamespaceAccess;
use crate::web::text::{LABEL_CHARS, PAGE_CHARS, clip, clip_owned, is_cut};
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::actions::{Action, verb};
use crate::cluster::hub::RolloutEntry;
use crate::info::{AnalysisRunInfo, ContainerInfo, EventInfo, RolloutInfo};
use crate::model::{AnalysisRunStatusView, MetricResult};

use super::analysis_metric::{MetricSpecView, StoppedMetric, metric_spec, stopped_words};
use super::card::{PauseView, TrafficBar, pause_view, traffic_bar};
use super::observed::ObservedView;
use super::{status_class, step_label, step_position, step_state};
use crate::info::links::{Link, LinkTemplate, revision_links, rollout_links};
use crate::info::observed::ObservedTraffic;

#[derive(Clone, Debug, PartialEq)]
pub struct DetailView {
    pub namespace: String,
    pub name: String,
    pub status: String,
    pub status_class: &'static str,
    pub message: String,
    /// The message was longer than the page shows (the whole is a link away).
    pub message_cut: bool,
    pub strategy: String,
    pub revision: i64,
    pub position: Option<String>,
    pub error: Option<String>,
    pub pod_hash: String,
    pub step_index: String,
    pub actions: Vec<ActionButton>,
    pub traffic: TrafficView,
    /// `None` without a Prometheus configured.
    pub observed: Option<ObservedView>,
    pub steps: Vec<StepRow>,
    pub runs: Vec<RunView>,
    /// Shown when the rollout has experiment steps or experiments.
    pub experiments: Option<Vec<ExperimentView>>,
    pub revisions: Vec<RevisionView>,
    /// Links out of the rollout (`--link`, its annotations).
    pub links: Vec<Link>,
    pub containers: Vec<ContainerInfo>,
    pub init_containers: Vec<ContainerInfo>,
    pub events: Vec<EventInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionButton {
    pub action: Action,
    /// The path segment: `promote`, `promote-full`, ...
    pub path: &'static str,
    pub label: &'static str,
    pub allowed: bool,
    /// Why not, or what it will do (tooltip).
    pub title: String,
    /// What exactly happens, for the confirmation.
    pub confirm: String,
    pub danger: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TrafficView {
    /// Where the split was read, as people call it (several: all).
    pub source: String,
    pub bar: Option<TrafficBar>,
    pub routes: Vec<RouteView>,
    pub desired: Option<i32>,
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteView {
    pub title: String,
    pub destinations: Vec<DestinationView>,
    pub matches_desired: bool,
    pub canary: i32,
    /// Requests sent to the canary whatever the weight (header routes).
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestinationView {
    pub label: String,
    pub role: String,
    pub weight: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRow {
    pub number: usize,
    pub label: String,
    pub state: &'static str,
    pub pause: Option<PauseView>,
    /// For the current analysis step: how its run stands.
    pub analysis: Option<String>,
    /// A plugin step's config and what its last call reported.
    pub plugin: Option<PluginView>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginView {
    /// `key: value` pairs of its config.
    pub config: String,
    /// "Successful: all checks passed".
    pub status: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExperimentView {
    pub name: String,
    pub revision: i64,
    pub status: String,
    pub status_class: &'static str,
    pub message: String,
    /// "baseline: 1 of 1 available".
    pub templates: Vec<String>,
    /// "compare: Successful".
    pub runs: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunView {
    pub name: String,
    pub revision: i64,
    pub status: String,
    pub status_class: &'static str,
    pub message: String,
    pub metrics: Vec<MetricView>,
    /// Why it stopped, in words; `None` while it runs.
    pub stopped: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetricView {
    pub name: String,
    pub phase: String,
    pub counts: String,
    pub limits: String,
    pub measurements: Vec<MeasurementView>,
    /// SVG polyline points in a 100×30 box, when values are numbers.
    pub chart: Option<String>,
    /// Where the condition's threshold lies on the chart (y), and its value.
    pub threshold: Option<(String, String)>,
    /// What it measures and how it is judged.
    pub spec: Option<MetricSpecView>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeasurementView {
    pub time: String,
    pub value: String,
    pub phase: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevisionView {
    pub revision: i64,
    pub images: Vec<String>,
    pub replica_sets: Vec<ReplicaSetView>,
    pub can_rollback: bool,
    /// `--link`s that name a revision, filled in with this one.
    pub links: Vec<Link>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaSetView {
    pub name: String,
    pub status: String,
    pub status_class: &'static str,
    pub roles: String,
    pub replicas: i32,
    pub available: i32,
    pub scale_down_deadline: String,
    pub pods: Vec<PodView>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodView {
    pub name: String,
    pub status: String,
    pub ready: String,
    pub restarts: i32,
    pub class: &'static str,
}

impl DetailView {
    /// Only the buttons this person may use: none in `--read-only`, and
    /// each as RBAC allows them to patch `rollouts/status` or `rollouts`.
    /// With the links out of the rollout and each revision: from
    /// `templates` (`--link`) and the rollout's annotations.
    pub fn with_links(mut self, templates: &[LinkTemplate], info: &RolloutInfo) -> Self {
        self.links = rollout_links(templates, info);
        for r in &mut self.revisions {
            let hash = info
                .replica_sets
                .iter()
                .find(|rs| rs.revision == r.revision)
                .map_or("", |rs| rs.pod_template_hash.as_str());
            r.links = revision_links(templates, info, r.revision, hash);
        }
        self
    }

    pub fn restricted(mut self, read_only: bool, access: NamespaceAccess) -> Self {
        for button in &mut self.actions {
            button.allowed &= !read_only && access.allows(button.action);
        }
        self
    }

    /// `info` is `entry`'s, read back from its JSON.
    pub fn of(entry: &RolloutEntry, info: &RolloutInfo) -> DetailView {
        let steps = info
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let state = step_state(info, i);
                let current = state == "current";
                StepRow {
                    number: i + 1,
                    label: clip(&step_label(s), LABEL_CHARS).into_owned(),
                    state,
                    pause: current.then(|| pause_view(info)).flatten(),
                    analysis: (current && s.analysis.is_some())
                        .then(|| step_analysis(info))
                        .flatten(),
                    plugin: s.plugin.as_deref().map(|p| plugin_view(p, info, i)),
                }
            })
            .collect();
        let mut revisions: BTreeMap<i64, RevisionView> = BTreeMap::new();
        let newest = info
            .replica_sets
            .iter()
            .map(|r| r.revision)
            .max()
            .unwrap_or(0);
        let rollback_allowed = info
            .actions
            .iter()
            .any(|a| a.action == Action::Rollback && a.allowed);
        for rs in &info.replica_sets {
            let rev = revisions
                .entry(rs.revision)
                .or_insert_with(|| RevisionView {
                    revision: rs.revision,
                    images: Vec::new(),
                    replica_sets: Vec::new(),
                    can_rollback: rollback_allowed && rs.revision < newest && rs.revision > 0,
                    links: Vec::new(),
                });
            for image in &rs.images {
                if !rev.images.contains(image) {
                    rev.images.push(image.clone());
                }
            }
            let roles: Vec<&str> = [
                (rs.stable, "stable"),
                (rs.canary, "canary"),
                (rs.active, "active"),
                (rs.preview, "preview"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, r)| *r)
            .collect();
            rev.replica_sets.push(ReplicaSetView {
                name: rs.object_meta.name.clone(),
                status: rs.status.clone(),
                status_class: status_class(&rs.status),
                roles: roles.join(", "),
                replicas: rs.replicas,
                available: rs.available,
                scale_down_deadline: rs.scale_down_deadline.clone(),
                pods: rs
                    .pods
                    .iter()
                    .map(|p| PodView {
                        name: p.object_meta.name.clone(),
                        status: p.status.clone(),
                        ready: p.ready.clone(),
                        restarts: p.restarts,
                        class: pod_class(&p.status, &p.ready),
                    })
                    .collect(),
            });
        }
        DetailView {
            links: Vec::new(),
            namespace: info.object_meta.namespace.clone(),
            name: info.object_meta.name.clone(),
            status: info.status.clone(),
            status_class: status_class(&info.status),
            message: clip(&info.message, PAGE_CHARS).into_owned(),
            message_cut: is_cut(&info.message, PAGE_CHARS),
            strategy: info.strategy.clone(),
            revision: info.revision,
            position: step_position(info),
            error: entry.error.clone(),
            pod_hash: info.pod_hash.clone(),
            step_index: info.step_index.map(|i| i.to_string()).unwrap_or_default(),
            actions: action_buttons(info),
            traffic: traffic_view(info, entry.observed.as_deref()),
            observed: entry.observed.as_deref().map(ObservedView::of),
            steps,
            runs: info.analysis_runs.iter().map(run_view).collect(),
            experiments: (!info.experiments.is_empty()
                || info.steps.iter().any(|s| s.experiment.is_some()))
            .then(|| info.experiments.iter().map(experiment_view).collect()),
            revisions: revisions.into_values().rev().collect(),
            containers: info.containers.clone(),
            init_containers: info.init_containers.clone(),
            events: entry
                .events
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    clip_owned(&mut e.message, PAGE_CHARS);
                    clip_owned(&mut e.reason, LABEL_CHARS);
                    e
                })
                .collect(),
        }
    }
}

/// "analysis running: 3/5 measurements passed" for the newest run of the
/// current revision.
fn step_analysis(info: &RolloutInfo) -> Option<String> {
    let run = info
        .analysis_runs
        .iter()
        .filter(|r| r.revision == info.revision)
        .max_by_key(|r| r.object_meta.creation_timestamp.clone())?;
    let total = run.successful + run.failed + run.inconclusive + run.error;
    Some(format!(
        "analysis {}: {}/{total} measurements passed",
        run.status.to_lowercase(),
        run.successful
    ))
}

/// Pod squares' colour: kubectl's status read as Argo's UI does.
fn pod_class(status: &str, ready: &str) -> &'static str {
    let fully_ready = ready
        .split_once('/')
        .is_some_and(|(r, t)| r == t && r != "0");
    match status {
        "Running" if !fully_ready => "pending",
        "Running" | "Completed" | "Succeeded" => "success",
        "Pending" | "Terminating" | "ContainerCreating" => "pending",
        "Failed" | "InvalidImageName" | "CrashLoopBackOff" | "Error" => "failure",
        "ImagePullBackOff" | "ErrImagePull" | "RegistryUnavailable" => "warning",
        _ => "unknown",
    }
}

fn action_buttons(info: &RolloutInfo) -> Vec<ActionButton> {
    let promote_effect = match (&info.step_index, info.steps.len()) {
        (Some(i), n) if (*i as usize) < n => {
            let target = info.steps.get(*i as usize + 1).map(step_label);
            format!(
                "Leaves step {} of {n}{}.",
                i + 1,
                target
                    .map(|t| format!("; next: {}", t.to_lowercase()))
                    .unwrap_or_else(|| "; then the rollout completes".to_string())
            )
        }
        _ if info.strategy == "BlueGreen" => {
            "Switches the active Service to the new version.".to_string()
        }
        _ => "Moves to the next step.".to_string(),
    };
    let list: [(Action, &'static str, &'static str, String, bool); 7] = [
        (Action::Promote, "promote", "Promote", promote_effect, false),
        (
            Action::PromoteFull,
            "promote-full",
            "Promote full",
            "Skips every remaining step and analysis: all traffic to the new version.".into(),
            false,
        ),
        (
            Action::Abort,
            "abort",
            "Abort",
            "Sends all traffic back to the stable version and scales the new one down.".into(),
            true,
        ),
        (
            Action::Retry,
            "retry",
            "Retry",
            "Starts the aborted update again from its first step.".into(),
            false,
        ),
        (
            Action::Restart,
            "restart",
            "Restart",
            "Replaces every pod, one at a time.".into(),
            false,
        ),
        (
            Action::Pause,
            "pause",
            "Pause",
            "Stops the rollout where it is until someone resumes it.".into(),
            false,
        ),
        (
            Action::Resume,
            "resume",
            "Resume",
            "Lets the rollout continue from where it was paused.".into(),
            false,
        ),
    ];
    list.into_iter()
        .map(|(action, path, label, effect, danger)| {
            let state = info.actions.iter().find(|s| s.action == action);
            let allowed = state.is_some_and(|s| s.allowed);
            let title = match state.and_then(|s| s.reason.clone()) {
                Some(why) if !allowed => format!("Cannot {}: {why}", verb(action)),
                _ => effect.clone(),
            };
            ActionButton {
                action,
                path,
                label,
                allowed,
                title,
                confirm: format!("{label} {}? {effect}", info.object_meta.name),
                danger,
            }
        })
        .collect()
}

fn traffic_view(info: &RolloutInfo, observed: Option<&ObservedTraffic>) -> TrafficView {
    let mut view = TrafficView {
        bar: traffic_bar(info).map(|b| b.observed(observed)),
        ..TrafficView::default()
    };
    let Some(t) = &info.traffic else {
        return view;
    };
    view.desired = Some(t.desired_canary_weight);
    view.source = if t.routers.is_empty() {
        router_name(&t.router).to_string()
    } else {
        t.routers
            .iter()
            .map(|r| router_name(r))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    for vs in &t.virtual_services {
        if !vs.found {
            view.problems.push(format!(
                "VirtualService {}/{} not found",
                vs.namespace, vs.name
            ));
        }
        if let Some(e) = &vs.error {
            view.problems.push(e.clone());
        }
        for r in &vs.routes {
            let route = if r.name.is_empty() {
                "(unnamed)".to_string()
            } else {
                r.name.clone()
            };
            view.routes.push(RouteView {
                title: format!("{} · {} route {route}", vs.name, r.protocol),
                destinations: r
                    .destinations
                    .iter()
                    .map(|d| DestinationView {
                        label: if d.subset.is_empty() {
                            d.host.clone()
                        } else {
                            format!("{} / {}", d.host, d.subset)
                        },
                        role: d.role.clone(),
                        weight: d.weight,
                    })
                    .collect(),
                matches_desired: r.matches_desired,
                canary: r.canary_weight,
                notes: vs.managed_routes.clone(),
            });
        }
    }
    for o in &t.router_objects {
        if !o.found {
            view.problems
                .push(format!("{} {}/{} not found", o.kind, o.namespace, o.name));
        }
        if let Some(e) = &o.error {
            view.problems.push(e.clone());
        }
        let router = router_name(&o.router);
        for r in &o.rules {
            view.routes.push(RouteView {
                title: format!("{router} · {} {} · {}", o.kind, o.name, r.name),
                destinations: r
                    .destinations
                    .iter()
                    .map(|d| DestinationView {
                        label: d.host.clone(),
                        role: d.role.clone(),
                        weight: d.weight,
                    })
                    .collect(),
                matches_desired: r.matches_desired,
                canary: r.canary_weight,
                notes: o.header_routes.clone(),
            });
        }
        if o.rules.is_empty() && !o.header_routes.is_empty() {
            view.problems.extend(
                o.header_routes
                    .iter()
                    .map(|h| format!("{} {}: {h}", o.kind, o.name)),
            );
        }
    }
    view
}

/// A router as people call it.
fn router_name(router: &str) -> &str {
    match router {
        "nginx" => "NGINX",
        "alb" => "AWS ALB",
        "gatewayAPI" => "Gateway API",
        "istio" => "Istio",
        other => other,
    }
}

/// A plugin step as Argo's UI shows it (its config), with the last thing
/// its calls reported.
fn plugin_view(plugin: &Value, info: &RolloutInfo, index: usize) -> PluginView {
    fn flat(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flat(&key, x, out);
                }
            }
            Value::String(s) => out.push(format!("{prefix}: {s}")),
            other => out.push(format!("{prefix}: {other}")),
        }
    }
    let mut pairs = Vec::new();
    if let Some(config) = plugin.get("config") {
        flat("", config, &mut pairs);
    }
    let status = info
        .step_plugin_statuses
        .iter()
        .rfind(|s| s.index as usize == index)
        .map(|s| match (s.phase.is_empty(), s.message.is_empty()) {
            (false, false) => format!("{}: {}", s.phase, s.message),
            (false, true) => s.phase.clone(),
            _ => s.message.clone(),
        })
        .map(|t| clip(&t, PAGE_CHARS).into_owned());
    PluginView {
        config: clip(&pairs.join(", "), PAGE_CHARS).into_owned(),
        status,
    }
}

fn experiment_view(e: &crate::info::ExperimentInfo) -> ExperimentView {
    ExperimentView {
        name: e.object_meta.name.clone(),
        revision: e.revision,
        status: e.status.clone(),
        status_class: analysis_class(&e.status),
        message: clip(&e.message, PAGE_CHARS).into_owned(),
        templates: e
            .replica_sets
            .iter()
            .map(|rs| {
                let name = if rs.template.is_empty() {
                    &rs.object_meta.name
                } else {
                    &rs.template
                };
                format!("{name}: {} of {} available", rs.available, rs.replicas)
            })
            .collect(),
        runs: e
            .analysis_runs
            .iter()
            .map(|r| format!("{}: {}", r.object_meta.name, r.status))
            .collect(),
    }
}

fn analysis_class(status: &str) -> &'static str {
    match status {
        "Successful" => "healthy",
        "Running" | "Pending" | "" => "progressing",
        "Inconclusive" => "paused",
        _ => "degraded",
    }
}

fn run_view(run: &AnalysisRunInfo) -> RunView {
    let status_json = run
        .spec_and_status
        .as_ref()
        .and_then(|s| s.status.clone())
        .unwrap_or(Value::Null);
    let status = AnalysisRunStatusView::deserialize(&status_json).unwrap_or_default();
    let limits: BTreeMap<&str, (i32, i32)> = run
        .metrics
        .iter()
        .map(|m| (m.name.as_str(), (m.failure_limit, m.inconclusive_limit)))
        .collect();
    let spec = run.spec_and_status.as_ref().and_then(|s| s.spec.as_ref());
    let results = status.metric_results.unwrap_or_default();
    let metrics = results
        .iter()
        .map(|m| {
            let name = m.name.as_deref().unwrap_or_default();
            let resolved = status_json
                .pointer("/metricResults")
                .and_then(Value::as_array)
                .and_then(|rs| rs.iter().find(|r| r["name"] == name))
                .and_then(|r| r.pointer("/metadata/ResolvedPrometheusQuery"))
                .and_then(Value::as_str);
            metric_view(m, &limits, metric_spec(spec, name, resolved))
        })
        .collect();
    let stopped_metrics: Vec<StoppedMetric<'_>> = results
        .iter()
        .map(|m| {
            let name = m.name.as_deref().unwrap_or_default();
            let (failure_limit, inconclusive_limit) = limits.get(name).copied().unwrap_or((0, 0));
            StoppedMetric {
                name,
                phase: m.phase.as_deref().unwrap_or_default(),
                successful: m.successful.unwrap_or(0),
                failed: m.failed.unwrap_or(0),
                inconclusive: m.inconclusive.unwrap_or(0),
                errors: m.error.unwrap_or(0),
                failure_limit,
                inconclusive_limit,
            }
        })
        .collect();
    let message = status.message.as_deref().unwrap_or_default();
    RunView {
        name: run.object_meta.name.clone(),
        revision: run.revision,
        status: run.status.clone(),
        status_class: analysis_class(&run.status),
        message: clip(message, PAGE_CHARS).into_owned(),
        stopped: stopped_words(&run.status, message, &stopped_metrics),
        metrics,
    }
}

fn metric_view(
    m: &MetricResult,
    limits: &BTreeMap<&str, (i32, i32)>,
    spec: Option<MetricSpecView>,
) -> MetricView {
    let name = m.name.clone().unwrap_or_default();
    let (failure_limit, inconclusive_limit) = limits.get(name.as_str()).copied().unwrap_or((0, 0));
    let measurements: Vec<MeasurementView> = m
        .measurements
        .iter()
        .flatten()
        .map(|x| MeasurementView {
            time: x
                .finished_at
                .as_ref()
                .or(x.started_at.as_ref())
                .map(|t| t.0.strftime("%H:%M:%S").to_string())
                .unwrap_or_default(),
            value: clip(x.value.as_deref().unwrap_or_default(), LABEL_CHARS).into_owned(),
            phase: x.phase.clone().unwrap_or_default(),
        })
        .collect();
    let values: Vec<f64> = measurements
        .iter()
        .filter_map(|x| x.value.trim_matches(['[', ']']).parse().ok())
        .collect();
    let threshold = spec.as_ref().and_then(|s| s.threshold);
    MetricView {
        phase: m.phase.clone().unwrap_or_default(),
        counts: format!(
            "{} passed, {} failed, {} inconclusive, {} errors",
            m.successful.unwrap_or(0),
            m.failed.unwrap_or(0),
            m.inconclusive.unwrap_or(0),
            m.error.unwrap_or(0)
        ),
        limits: format!(
            "fails after {} failed, pauses after {} inconclusive",
            failure_limit + 1,
            inconclusive_limit + 1
        ),
        chart: (values.len() >= 2 && values.len() == measurements.len())
            .then(|| chart(&values, threshold).0),
        threshold: (values.len() >= 2 && values.len() == measurements.len())
            .then(|| chart(&values, threshold).1)
            .flatten()
            .zip(threshold)
            .map(|(y, t)| (y, format!("{t}"))),
        spec,
        measurements,
        name,
    }
}

/// Points of a polyline in a 100×30 box, and the y of `threshold` in it
/// (the scale then reaches it too).
fn chart(values: &[f64], threshold: Option<f64>) -> (String, Option<String>) {
    let (lo, hi) = values
        .iter()
        .chain(threshold.as_ref())
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let step = 100.0 / (values.len() - 1) as f64;
    let y = |v: f64| format!("{:.1}", 28.0 - (v - lo) / span * 26.0);
    let points = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{}", i as f64 * step, y(*v)))
        .collect::<Vec<_>>()
        .join(" ");
    (points, threshold.map(y))
}
