//! PURE: what each revision of a rollout actually receives, from request
//! metrics (Istio's `istio_requests_total` and
//! `istio_request_duration_milliseconds_bucket` as Prometheus has them),
//! its sidecars' series summed per ReplicaSet by the name their pods carry
//! (`observed::queries`), matched to revisions through the rollout's own
//! ReplicaSets, so it works whatever labels the pods carry. In Istio's
//! ambient mode there are no per-pod series: a waypoint reports per
//! destination workload and canonical revision, named as Istio names them
//! (`workload_keys`).

use std::collections::HashMap;

use serde::Serialize;

use super::attention::Attention;
use super::types::RolloutInfo;

/// Request rates of one pod over the window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodTraffic {
    pub requests_per_second: f64,
    /// Answers with a 5xx code, per second.
    pub errors_per_second: f64,
    /// Cumulative latency buckets: (upper bound in ms, requests per second
    /// at or under it); `+Inf` is `f64::INFINITY`.
    pub buckets: Vec<(f64, f64)>,
}

/// Traffic by namespace then ReplicaSet (a sidecar's pods summed by
/// Prometheus), pod, or waypoint key.
pub type PodSamples = HashMap<String, HashMap<String, PodTraffic>>;

/// Requests per second over time, keyed as `PodSamples`: (seconds since
/// the epoch, requests per second).
pub type PodHistory = HashMap<String, HashMap<String, Vec<(i64, f64)>>>;

/// One revision's pods, as the rollout's ReplicaSets say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevisionPods {
    pub revision: String,
    pub pod_template_hash: String,
    /// `stable`, `canary`, `active` or `preview`; `None` for an older
    /// revision still scaling down.
    pub role: Option<&'static str>,
    /// The ReplicaSet's name: its sidecars' traffic is summed under it.
    pub replica_set: String,
    pub pods: Vec<String>,
    /// The keys (`waypoint_key`) a waypoint may report its pods under.
    pub workloads: Vec<String>,
}

/// The key a waypoint's series is kept under beside the pod names of a
/// namespace: `:` is in no pod name.
pub fn waypoint_key(workload: &str, canonical_revision: &str) -> String {
    format!("waypoint:{workload}/{canonical_revision}")
}

/// The workload names and canonical revision Istio gives the pods of one
/// ReplicaSet of a rollout (`pkg/kube/util.go: GetWorkloadMetaFromPod`,
/// `pkg/config/labels`): the `service.istio.io/workload-name` label if
/// set; else the rollout's name, as Istio 1.22 and later trim a ReplicaSet
/// named after its `rollouts-pod-template-hash` (istio/istio#49256), or
/// the ReplicaSet's own name, as earlier Istio keeps it. The revision is
/// `service.istio.io/canonical-revision`, `app.kubernetes.io/version`,
/// `version`, or `latest`.
pub fn workload_keys(
    rollout: &str,
    replica_set: &str,
    pod_template_hash: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let label = |k: &str| labels.get(k).filter(|v| !v.is_empty());
    let revision = [
        "service.istio.io/canonical-revision",
        "app.kubernetes.io/version",
        "version",
    ]
    .iter()
    .find_map(|k| label(k))
    .map_or("latest", String::as_str);
    if let Some(name) = label("service.istio.io/workload-name") {
        return vec![waypoint_key(name, revision)];
    }
    let mut keys = vec![waypoint_key(replica_set, revision)];
    if !pod_template_hash.is_empty() && replica_set.ends_with(pod_template_hash) {
        keys.push(waypoint_key(rollout, revision));
    }
    keys
}

/// What a revision received over the window.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedRevision {
    pub revision: String,
    pub pod_template_hash: String,
    pub role: Option<&'static str>,
    /// Its part of the rollout's requests, 0..1.
    pub share: f64,
    pub requests_per_second: f64,
    /// Answers that were not 5xx, 0..1; `None` without requests.
    pub success_rate: Option<f64>,
    #[serde(rename = "latencyP50Ms")]
    pub latency_p50_ms: Option<f64>,
    #[serde(rename = "latencyP99Ms")]
    pub latency_p99_ms: Option<f64>,
    /// Set on a row that stands for several revisions: the workload (and
    /// canonical revision) a waypoint reports them all as, so their
    /// traffic cannot be told apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_workload: Option<String>,
    /// 5xx answers per second, unrounded, and the cumulative latency
    /// buckets (requests per second at or under each bound): what the
    /// comparison with stable is computed from, then dropped.
    #[serde(skip)]
    pub errors_per_second: f64,
    #[serde(skip)]
    pub buckets: Vec<(f64, f64)>,
    /// Its pods' CPU, memory and restarts (`info::usage`), likewise.
    #[serde(skip)]
    pub usage: Vec<super::usage::PodUsage>,
}

/// The canary's share at one time (for the sparkline).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SharePoint {
    /// Seconds since the epoch.
    pub at: i64,
    pub share: f64,
}

/// A rollout's observed traffic as the API and the page show it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedTraffic {
    /// The Prometheus queried.
    pub source: String,
    pub window_seconds: u64,
    /// When Prometheus last answered (RFC 3339).
    pub updated_at: Option<String>,
    /// Why there is nothing to show: unreachable, no data for these pods.
    pub error: Option<String>,
    pub revisions: Vec<ObservedRevision>,
    /// The canary's weight (%) as the router has it, for comparison.
    pub configured_canary_weight: Option<i32>,
    /// What a person should know: a share off the router's weight (once
    /// the weight has held for a window), a canary answering worse.
    pub warnings: Vec<String>,
    /// How urgent that is, for the overview's attention list.
    #[serde(skip)]
    pub attention: Option<Attention>,
    /// The canary's share, at most one point a minute, the last 30 minutes.
    pub canary_share_history: Vec<SharePoint>,
    /// The canary against stable, metric by metric (`info::comparison`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<super::comparison::Comparison>,
}

/// How far back the sparkline reaches, and one point per this many seconds.
pub const HISTORY_SECONDS: i64 = 30 * 60;
pub const HISTORY_STEP_SECONDS: i64 = 60;

/// The error shown when Prometheus has no series for any pod of a rollout.
pub const NO_DATA: &str = "Prometheus has no request metrics for this rollout's pods (no traffic through the mesh, or pods not scraped)";

/// Each ReplicaSet of `info` that has pods, with its role.
pub fn revision_pods(info: &RolloutInfo) -> Vec<RevisionPods> {
    info.replica_sets
        .iter()
        .filter(|rs| !rs.pods.is_empty())
        .map(|rs| RevisionPods {
            revision: rs.revision.to_string(),
            pod_template_hash: rs.pod_template_hash.clone(),
            role: if rs.canary {
                Some("canary")
            } else if rs.active {
                Some("active")
            } else if rs.preview {
                Some("preview")
            } else if rs.stable {
                Some("stable")
            } else {
                None
            },
            replica_set: rs.object_meta.name.clone(),
            pods: rs.pods.iter().map(|p| p.object_meta.name.clone()).collect(),
            workloads: workload_keys(
                &info.object_meta.name,
                &rs.object_meta.name,
                &rs.pod_template_hash,
                &rs.istio_labels,
            ),
        })
        .collect()
}

/// The waypoint keys more than one revision shares.
fn shared_keys(revisions: &[RevisionPods]) -> std::collections::BTreeSet<&str> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for rev in revisions {
        for key in &rev.workloads {
            *seen.entry(key.as_str()).or_default() += 1;
        }
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k)
        .collect()
}

/// Each revision's traffic: its ReplicaSet's series (the sum of its
/// sidecars') and its waypoint keys' (a revision the samples lack has
/// none; series of ReplicaSets no revision owns are ignored). `Err(NO_DATA)`
/// when not one revision of the rollout has a series; a series at zero is
/// traffic of zero.
pub fn observe(
    namespace: &str,
    revisions: &[RevisionPods],
    samples: &PodSamples,
) -> Result<Vec<ObservedRevision>, &'static str> {
    let in_namespace = samples.get(namespace);
    let series = |key: &str| in_namespace.and_then(|pods| pods.get(key));
    let shared = shared_keys(revisions);
    let mut any_series = false;
    let mut sum_of = |keys: &mut dyn Iterator<Item = &str>| {
        let mut sum = PodTraffic::default();
        let mut found = false;
        for t in keys.filter_map(series) {
            found = true;
            sum.requests_per_second += t.requests_per_second;
            sum.errors_per_second += t.errors_per_second;
            add_buckets(&mut sum.buckets, &t.buckets);
        }
        any_series |= found;
        (sum, found)
    };
    let mut sums: Vec<(PodTraffic, &RevisionPods)> = Vec::with_capacity(revisions.len());
    for rev in revisions {
        let own = rev
            .workloads
            .iter()
            .map(String::as_str)
            .filter(|k| !shared.contains(k));
        let (sum, _) = sum_of(&mut std::iter::once(rev.replica_set.as_str()).chain(own));
        sums.push((sum, rev));
    }
    // Traffic a waypoint reports for several revisions as one workload.
    let (shared_sum, shared_found) = sum_of(&mut shared.iter().copied());
    if !any_series {
        return Err(NO_DATA);
    }
    let shared_row = shared_found.then(|| {
        let of: Vec<&RevisionPods> = revisions
            .iter()
            .filter(|r| r.workloads.iter().any(|k| shared.contains(k.as_str())))
            .collect();
        let names: Vec<&str> = of.iter().map(|r| r.revision.as_str()).collect();
        let workload = shared
            .iter()
            .next()
            .and_then(|k| k.strip_prefix("waypoint:"))
            .unwrap_or_default();
        (shared_sum, names.join(" and "), workload.to_string(), of)
    });
    // Revisions known only through the shared workload get no row of
    // their own: a share of zero would be a claim the metrics cannot make.
    if let Some((_, _, _, of)) = &shared_row {
        sums.retain(|(sum, rev)| {
            sum.requests_per_second > 0.0 || !of.iter().any(|r| std::ptr::eq(*r, *rev))
        });
    }
    let total: f64 = sums.iter().map(|(s, _)| s.requests_per_second).sum::<f64>()
        + shared_row.as_ref().map_or(0.0, |r| r.0.requests_per_second);
    let row = |sum: &PodTraffic, revision: String, hash: String, role, shared_workload| {
        let rps = sum.requests_per_second;
        let has_requests = rps > 0.0;
        // Rounded a little finer than shown: noise below that is no
        // change to publish.
        ObservedRevision {
            revision,
            pod_template_hash: hash,
            role,
            share: round(if total > 0.0 { rps / total } else { 0.0 }, 1e4),
            requests_per_second: round(rps, 100.0),
            success_rate: has_requests
                .then(|| round((1.0 - sum.errors_per_second / rps).clamp(0.0, 1.0), 1e4)),
            latency_p50_ms: histogram_quantile(0.5, &sum.buckets).map(|v| round(v, 10.0)),
            latency_p99_ms: histogram_quantile(0.99, &sum.buckets).map(|v| round(v, 10.0)),
            shared_workload,
            errors_per_second: sum.errors_per_second,
            buckets: sum.buckets.clone(),
            usage: Vec::new(),
        }
    };
    let mut rows: Vec<ObservedRevision> = sums
        .iter()
        .map(|(sum, rev)| {
            row(
                sum,
                rev.revision.clone(),
                rev.pod_template_hash.clone(),
                rev.role,
                None,
            )
        })
        .collect();
    if let Some((sum, names, workload, _)) = shared_row {
        rows.push(row(&sum, names, String::new(), None, Some(workload)));
    }
    Ok(rows)
}

/// `v` to the nearest 1/`per`.
fn round(v: f64, per: f64) -> f64 {
    (v * per).round() / per
}

/// Adds `more` into `into`, bucket by bucket (by upper bound).
fn add_buckets(into: &mut Vec<(f64, f64)>, more: &[(f64, f64)]) {
    for &(le, v) in more {
        match into.iter_mut().find(|(l, _)| *l == le) {
            Some((_, sum)) => *sum += v,
            None => into.push((le, v)),
        }
    }
}

/// The `q` quantile of cumulative buckets, as Prometheus's
/// `histogram_quantile` computes it: linear within the bucket it falls in,
/// the lower bound of the first bucket 0, and the highest finite bound
/// when it falls in `+Inf`. `None` without observations.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let mut sorted: Vec<(f64, f64)> = buckets
        .iter()
        .copied()
        .filter(|(l, _)| !l.is_nan())
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let &(last_le, total) = sorted.last()?;
    if !last_le.is_infinite() || total <= 0.0 || total.is_nan() {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, count) in &sorted {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower.0);
            }
            let in_bucket = count - lower.1;
            if in_bucket <= 0.0 {
                return Some(le);
            }
            return Some(lower.0 + (le - lower.0) * (rank - lower.1) / in_bucket);
        }
        lower = (le, count);
    }
    Some(lower.0)
}

/// The canary's share of `revisions`, when the rollout has a canary (or a
/// preview) and any requests.
pub fn canary_share(revisions: &[ObservedRevision]) -> Option<f64> {
    let total: f64 = revisions.iter().map(|r| r.requests_per_second).sum();
    let canary = revisions
        .iter()
        .find(|r| matches!(r.role, Some("canary" | "preview")))?;
    (total > 0.0).then(|| canary.requests_per_second / total)
}

/// The canary's share in whole percent, as the traffic bars mark it.
pub fn canary_percent(observed: &ObservedTraffic) -> Option<i32> {
    canary_share(&observed.revisions).map(|s| (s * 100.0).round().clamp(0.0, 100.0) as i32)
}

/// `history` with `point` added: one point per step (a newer one in the same
/// step replaces it), none older than the sparkline's reach.
pub fn add_share_point(history: &mut Vec<SharePoint>, point: SharePoint) {
    let step = |at: i64| at.div_euclid(HISTORY_STEP_SECONDS);
    match history.iter_mut().find(|p| step(p.at) == step(point.at)) {
        Some(p) => *p = point,
        None => {
            history.push(point);
            history.sort_by_key(|p| p.at);
        }
    }
    let oldest = history.last().map_or(0, |p| p.at) - HISTORY_SECONDS;
    history.retain(|p| p.at >= oldest);
}

/// The canary's share at each time of `history` (pods as `revisions` has
/// them now), for the sparkline when the dashboard starts.
pub fn share_history(
    namespace: &str,
    revisions: &[RevisionPods],
    history: &PodHistory,
) -> Vec<SharePoint> {
    let Some(pods) = history.get(namespace) else {
        return Vec::new();
    };
    let mut totals: HashMap<i64, (f64, f64)> = HashMap::new();
    let mut has_canary = false;
    let shared = shared_keys(revisions);
    if !shared.is_empty() && shared.iter().any(|k| pods.contains_key(*k)) {
        return Vec::new(); // one workload for several revisions: no share
    }
    for rev in revisions {
        let canary = matches!(rev.role, Some("canary" | "preview"));
        has_canary |= canary;
        let keys = std::iter::once(&rev.replica_set).chain(&rev.workloads);
        for (at, rps) in keys.filter_map(|p| pods.get(p)).flatten() {
            let t = totals.entry(*at).or_default();
            t.0 += rps;
            if canary {
                t.1 += rps;
            }
        }
    }
    if !has_canary {
        return Vec::new();
    }
    let mut points = Vec::new();
    let mut times: Vec<_> = totals.into_iter().filter(|(_, (t, _))| *t > 0.0).collect();
    times.sort_by_key(|(at, _)| *at);
    for (at, (total, canary)) in times {
        add_share_point(
            &mut points,
            SharePoint {
                at,
                share: canary / total,
            },
        );
    }
    points
}

/// The canary's weight (%) as the router has it (Istio), or the
/// controller's actual weight without a router; `None` for blue-green.
pub fn configured_canary_weight(info: &RolloutInfo) -> Option<i32> {
    if info.strategy != "Canary" {
        return None;
    }
    if let Some(w) = info.traffic.as_ref().and_then(|t| t.canary_weight) {
        return Some(w);
    }
    info.actual_weight.parse().ok()
}

/// Sets `observed`'s warnings and attention. The share is judged only when
/// the router's weight has held for a whole window (`weight_settled`):
/// before, the window mixes the old weight and the new.
pub fn judge(observed: &mut ObservedTraffic, weight_settled: bool) {
    observed.warnings.clear();
    observed.attention = None;
    if let Some(w) = observed
        .configured_canary_weight
        .filter(|_| weight_settled)
        .and_then(|w| share_warning(observed, w))
    {
        observed.warnings.push(w);
        observed.attention = Some(Attention::TrafficMismatch);
    }
    if let Some(w) = health_warning(observed) {
        observed.warnings.push(w);
        observed.attention = Some(Attention::CanaryFailing);
    }
    if let Some(shared) = observed
        .revisions
        .iter()
        .find(|r| r.shared_workload.is_some())
    {
        let workload = shared.shared_workload.as_deref().unwrap_or_default();
        observed.warnings.push(format!(
            "The waypoint reports revisions {} as one workload ({workload}): Istio 1.22 and later name Argo's pods after the rollout. Give the pod template a version label (version or app.kubernetes.io/version) that changes with each release to see each revision's share.",
            shared.revision
        ));
    }
}

/// Requests over the window below which a share is not judged: at 20% and
/// 500 requests one standard deviation is under 2 points.
pub const ENOUGH_REQUESTS: f64 = 500.0;
/// How far (in points) the observed share may be from the router's weight.
pub const SHARE_TOLERANCE_POINTS: f64 = 5.0;

/// A warning when the canary receives a share more than 5 points from
/// `configured` (its weight in %), with enough requests to judge.
pub fn share_warning(observed: &ObservedTraffic, configured: i32) -> Option<String> {
    let requests: f64 = observed
        .revisions
        .iter()
        .map(|r| r.requests_per_second)
        .sum::<f64>()
        * observed.window_seconds as f64;
    if requests < ENOUGH_REQUESTS {
        return None;
    }
    let share = canary_share(&observed.revisions)? * 100.0;
    ((share - f64::from(configured)).abs() > SHARE_TOLERANCE_POINTS).then(|| {
        format!(
            "The canary receives {share:.1}% of requests, but the router is set to {configured}%."
        )
    })
}

/// A warning when the canary answers worse than stable: a success rate
/// more than 1 point lower, with enough requests to judge.
pub fn health_warning(observed: &ObservedTraffic) -> Option<String> {
    let role = |name: &str| observed.revisions.iter().find(|r| r.role == Some(name));
    let canary = role("canary").or_else(|| role("preview"))?;
    let stable = role("stable").or_else(|| role("active"))?;
    let (c, s) = (canary.success_rate?, stable.success_rate?);
    let requests = canary.requests_per_second * observed.window_seconds as f64;
    (requests >= ENOUGH_REQUESTS / 5.0 && (s - c) * 100.0 > 1.0).then(|| {
        format!(
            "The canary answers {:.1}% of requests successfully, stable {:.1}%.",
            c * 100.0,
            s * 100.0
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods(list: &[(&str, f64, f64)]) -> PodSamples {
        let mut ns = HashMap::new();
        for (pod, rps, errors) in list {
            ns.insert(
                pod.to_string(),
                PodTraffic {
                    requests_per_second: *rps,
                    errors_per_second: *errors,
                    buckets: vec![
                        (10.0, rps * 0.5),
                        (100.0, rps * 0.99),
                        (f64::INFINITY, *rps),
                    ],
                },
            );
        }
        HashMap::from([("shop".to_string(), ns)])
    }

    fn revisions() -> Vec<RevisionPods> {
        vec![
            RevisionPods {
                revision: "2".into(),
                pod_template_hash: "new".into(),
                role: Some("canary"),
                replica_set: "web-new".into(),
                pods: vec!["web-new-a".into()],
                workloads: Vec::new(),
            },
            RevisionPods {
                revision: "1".into(),
                pod_template_hash: "old".into(),
                role: Some("stable"),
                replica_set: "web-old".into(),
                pods: vec!["web-old-a".into(), "web-old-b".into()],
                workloads: Vec::new(),
            },
        ]
    }

    /// The seed's two revisions as a waypoint sees them: Argo's pods carry
    /// `rollouts-pod-template-hash`, their ReplicaSets end with it.
    fn ambient(
        canary_labels: &[(&str, &str)],
        stable_labels: &[(&str, &str)],
    ) -> Vec<RevisionPods> {
        let labels = |extra: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        vec![
            RevisionPods {
                revision: "2".into(),
                pod_template_hash: "c2".into(),
                role: Some("canary"),
                replica_set: "manifest-gen-c2".into(),
                pods: vec!["manifest-gen-c2-a".into()],
                workloads: workload_keys(
                    "manifest-gen",
                    "manifest-gen-c2",
                    "c2",
                    &labels(canary_labels),
                ),
            },
            RevisionPods {
                revision: "1".into(),
                pod_template_hash: "s1".into(),
                role: Some("stable"),
                replica_set: "manifest-gen-s1".into(),
                pods: vec!["manifest-gen-s1-a".into()],
                workloads: workload_keys(
                    "manifest-gen",
                    "manifest-gen-s1",
                    "s1",
                    &labels(stable_labels),
                ),
            },
        ]
    }

    fn series(keys: &[(String, f64, f64)]) -> PodSamples {
        let ns = keys
            .iter()
            .map(|(k, rps, errors)| {
                (
                    k.clone(),
                    PodTraffic {
                        requests_per_second: *rps,
                        errors_per_second: *errors,
                        buckets: vec![(f64::INFINITY, *rps)],
                    },
                )
            })
            .collect();
        HashMap::from([("manifest-gen".to_string(), ns)])
    }

    /// Istio's rules: a workload-name label wins; an Argo ReplicaSet is the
    /// rollout (Istio 1.22+) or keeps its own name (earlier); the canonical
    /// revision comes from the first version label set, else `latest`.
    #[test]
    fn the_workload_a_waypoint_names_follows_istios_rules() {
        let mut labels = std::collections::BTreeMap::new();
        assert_eq!(
            workload_keys("manifest-gen", "manifest-gen-c2", "c2", &labels),
            vec![
                waypoint_key("manifest-gen-c2", "latest"),
                waypoint_key("manifest-gen", "latest")
            ]
        );
        labels.insert("version".into(), "v2".into());
        labels.insert("app.kubernetes.io/version".into(), "2.0".into());
        assert_eq!(
            workload_keys("manifest-gen", "manifest-gen-c2", "c2", &labels)[1],
            waypoint_key("manifest-gen", "2.0"),
            "app.kubernetes.io/version before version"
        );
        labels.insert("service.istio.io/workload-name".into(), "gen".into());
        assert_eq!(
            workload_keys("manifest-gen", "manifest-gen-c2", "c2", &labels),
            vec![waypoint_key("gen", "2.0")]
        );
        assert_eq!(
            workload_keys("r", "r-other", "zz", &labels_none()),
            vec![waypoint_key("r-other", "latest")],
            "a ReplicaSet not named after its hash keeps its name"
        );
    }

    fn labels_none() -> std::collections::BTreeMap<String, String> {
        std::collections::BTreeMap::new()
    }

    #[test]
    fn a_waypoint_that_names_each_revision_gives_each_its_share() {
        // Earlier Istio: per ReplicaSet.
        let revs = ambient(&[], &[]);
        let samples = series(&[
            (waypoint_key("manifest-gen-c2", "latest"), 20.0, 1.0),
            (waypoint_key("manifest-gen-s1", "latest"), 80.0, 0.0),
        ]);
        let seen = observe("manifest-gen", &revs, &samples).expect("series");
        assert_eq!(canary_share(&seen), Some(0.2));
        assert_eq!(seen[0].success_rate, Some(0.95));
        // Istio 1.22+ with a version label per release: per revision.
        let revs = ambient(&[("version", "v2")], &[("version", "v1")]);
        let samples = series(&[
            (waypoint_key("manifest-gen", "v2"), 50.0, 0.0),
            (waypoint_key("manifest-gen", "v1"), 50.0, 5.0),
        ]);
        let seen = observe("manifest-gen", &revs, &samples).expect("series");
        assert_eq!(canary_share(&seen), Some(0.5));
        assert_eq!(seen[1].success_rate, Some(0.9));
    }

    /// Istio 1.22+ without a version label reports both revisions as one
    /// workload: one row says so, and no share is claimed.
    #[test]
    fn one_workload_for_both_revisions_is_one_row_and_no_share() {
        let revs = ambient(&[], &[]);
        let samples = series(&[(waypoint_key("manifest-gen", "latest"), 100.0, 2.0)]);
        let seen = observe("manifest-gen", &revs, &samples).expect("series");
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].revision, "2 and 1");
        assert_eq!(
            seen[0].shared_workload.as_deref(),
            Some("manifest-gen/latest")
        );
        assert_eq!(seen[0].success_rate, Some(0.98));
        assert_eq!(canary_share(&seen), None);
        let mut traffic = ObservedTraffic {
            revisions: seen,
            configured_canary_weight: Some(20),
            ..ObservedTraffic::default()
        };
        judge(&mut traffic, true);
        assert!(
            traffic.warnings.iter().any(|w| w.contains("one workload")),
            "{:?}",
            traffic.warnings
        );
    }

    #[test]
    fn pods_of_a_revision_are_summed_and_pods_no_revision_owns_ignored() {
        let samples = pods(&[
            ("web-new", 20.0, 2.0),
            ("web-old", 80.0, 0.0),
            ("web-gone", 500.0, 500.0),
        ]);
        let Ok(seen) = observe("shop", &revisions(), &samples) else {
            panic!("the rollout's pods have series");
        };
        assert_eq!(seen.len(), 2);
        let (canary, stable) = (&seen[0], &seen[1]);
        assert_eq!(
            (canary.revision.as_str(), canary.role),
            ("2", Some("canary"))
        );
        assert!((canary.share - 0.2).abs() < 1e-9, "{}", canary.share);
        assert!((stable.share - 0.8).abs() < 1e-9);
        assert_eq!(stable.requests_per_second, 80.0);
        assert_eq!(canary.success_rate, Some(0.9));
        assert_eq!(stable.success_rate, Some(1.0));
        // Half of the requests are under 10 ms: the median is that bound.
        assert_eq!(stable.latency_p50_ms, Some(10.0));
        assert_eq!(canary_share(&seen), Some(0.2));
    }

    #[test]
    fn zero_traffic_is_zero_and_no_series_at_all_is_no_data() {
        let samples = pods(&[("web-old", 0.0, 0.0)]);
        let Ok(seen) = observe("shop", &revisions(), &samples) else {
            panic!("a series at zero is data");
        };
        assert_eq!(
            seen[0].requests_per_second, 0.0,
            "the canary had no series: zero"
        );
        assert_eq!(seen[0].share, 0.0);
        assert_eq!(seen[1].requests_per_second, 0.0);
        assert_eq!(seen[1].success_rate, None, "no requests, no rate");
        assert_eq!(seen[1].latency_p99_ms, None);
        assert_eq!(observe("other", &revisions(), &samples), Err(NO_DATA));
        assert_eq!(
            observe("shop", &revisions(), &pods(&[("elsewhere", 3.0, 0.0)])),
            Err(NO_DATA)
        );
    }

    #[test]
    fn quantiles_interpolate_as_prometheus_does() {
        let b = [
            (1.0, 10.0),
            (5.0, 50.0),
            (10.0, 90.0),
            (f64::INFINITY, 100.0),
        ];
        assert_eq!(histogram_quantile(0.5, &b), Some(5.0));
        // Rank 70: halfway through the 5..10 bucket (50 → 90).
        assert_eq!(histogram_quantile(0.7, &b), Some(7.5));
        // In +Inf: the highest finite bound.
        assert_eq!(histogram_quantile(0.99, &b), Some(10.0));
        // Within the first bucket, from 0.
        assert_eq!(histogram_quantile(0.05, &b), Some(0.5));
        assert_eq!(
            histogram_quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]),
            None
        );
        assert_eq!(
            histogram_quantile(0.5, &[(1.0, 3.0)]),
            None,
            "no +Inf bucket"
        );
    }

    #[test]
    fn a_share_off_by_more_than_five_points_warns_with_enough_requests() {
        let mut observed = ObservedTraffic {
            window_seconds: 60,
            revisions: observe(
                "shop",
                &revisions(),
                &pods(&[("web-new", 30.0, 0.0), ("web-old", 70.0, 0.0)]),
            )
            .unwrap_or_default(),
            ..ObservedTraffic::default()
        };
        assert_eq!(
            share_warning(&observed, 20).as_deref(),
            Some("The canary receives 30.0% of requests, but the router is set to 20%.")
        );
        assert_eq!(share_warning(&observed, 27), None, "within 5 points");
        observed.window_seconds = 1;
        assert_eq!(
            share_warning(&observed, 20),
            None,
            "100 requests are too few"
        );
    }

    #[test]
    fn the_share_is_judged_once_the_routers_weight_has_held_for_a_window() {
        let mut observed = ObservedTraffic {
            window_seconds: 60,
            configured_canary_weight: Some(50),
            revisions: observe(
                "shop",
                &revisions(),
                &pods(&[("web-new", 35.0, 0.0), ("web-old", 65.0, 0.0)]),
            )
            .unwrap_or_default(),
            ..ObservedTraffic::default()
        };
        judge(&mut observed, false);
        assert!(
            observed.warnings.is_empty(),
            "moving from 20% to 50%: a mix"
        );
        assert_eq!(observed.attention, None);
        judge(&mut observed, true);
        assert_eq!(
            observed.warnings,
            ["The canary receives 35.0% of requests, but the router is set to 50%."]
        );
        assert_eq!(observed.attention, Some(Attention::TrafficMismatch));
    }

    #[test]
    fn a_canary_failing_more_than_stable_warns() {
        let observed = ObservedTraffic {
            window_seconds: 60,
            revisions: observe(
                "shop",
                &revisions(),
                &pods(&[("web-new", 20.0, 3.0), ("web-old", 80.0, 0.8)]),
            )
            .unwrap_or_default(),
            ..ObservedTraffic::default()
        };
        assert_eq!(
            health_warning(&observed).as_deref(),
            Some("The canary answers 85.0% of requests successfully, stable 99.0%.")
        );
        let mut judged = observed.clone();
        judge(&mut judged, true);
        assert_eq!(judged.attention, Some(Attention::CanaryFailing));
    }

    #[test]
    fn the_share_history_keeps_a_point_a_minute_for_thirty_minutes() {
        let mut h = Vec::new();
        for minute in 0..40 {
            add_share_point(
                &mut h,
                SharePoint {
                    at: minute * 60,
                    share: 0.1,
                },
            );
            add_share_point(
                &mut h,
                SharePoint {
                    at: minute * 60 + 30,
                    share: 0.2,
                },
            );
        }
        assert_eq!(h.len(), 31, "30 minutes back from the newest, both ends");
        assert!(
            h.iter().all(|p| p.share == 0.2),
            "the newer point of a minute wins"
        );
        assert_eq!(h.last().map(|p| p.at), Some(39 * 60 + 30));

        let history: PodHistory = HashMap::from([(
            "shop".to_string(),
            HashMap::from([
                ("web-new".to_string(), vec![(60, 1.0), (120, 5.0)]),
                ("web-old".to_string(), vec![(60, 9.0), (120, 5.0)]),
                ("web-gone".to_string(), vec![(60, 90.0)]),
            ]),
        )]);
        let points = share_history("shop", &revisions(), &history);
        assert_eq!(
            points,
            vec![
                SharePoint { at: 60, share: 0.1 },
                SharePoint {
                    at: 120,
                    share: 0.5
                }
            ]
        );
    }
}
