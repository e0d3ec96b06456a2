//! PURE: what each pod uses and how often its containers restarted, as
//! Prometheus has it from the kubelet's cAdvisor
//! (`container_cpu_usage_seconds_total`,
//! `container_memory_working_set_bytes`) and kube-state-metrics
//! (`kube_pod_container_status_restarts_total`, `kube_pod_start_time`):
//! one value per pod, summed over its containers. A revision's pods are
//! looked up by name, whatever data plane serves them; the comparison
//! with stable tests them pod by pod (`info::compare`).

use std::collections::HashMap;

/// One pod's usage over the window; each part `None` when Prometheus has
/// no series for it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PodUsage {
    /// CPU cores used, on average over the window.
    pub cpu_cores: Option<f64>,
    /// Working-set memory, on average over the window.
    pub memory_bytes: Option<f64>,
    /// Container restarts since the pod started.
    pub restarts: Option<f64>,
    /// Since the pod started.
    pub age_seconds: Option<f64>,
}

/// Every pod's usage, by namespace then pod name.
pub type PodUsages = HashMap<String, HashMap<String, PodUsage>>;

/// The usage Prometheus has of each of `pods` in `namespace` (pods it has
/// nothing for are left out).
pub fn usage_of(namespace: &str, pods: &[String], usages: &PodUsages) -> Vec<PodUsage> {
    let Some(in_namespace) = usages.get(namespace) else {
        return Vec::new();
    };
    pods.iter()
        .filter_map(|p| in_namespace.get(p))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revisions_pods_are_found_by_name_in_their_namespace() {
        let usage = |cpu: f64| PodUsage {
            cpu_cores: Some(cpu),
            ..PodUsage::default()
        };
        let usages: PodUsages = HashMap::from([
            (
                "shop".to_string(),
                HashMap::from([
                    ("web-a".to_string(), usage(0.1)),
                    ("web-b".to_string(), usage(0.2)),
                ]),
            ),
            (
                "other".to_string(),
                HashMap::from([("web-c".to_string(), usage(9.0))]),
            ),
        ]);
        let pods = ["web-a".to_string(), "web-c".to_string()];
        assert_eq!(usage_of("shop", &pods, &usages), vec![usage(0.1)]);
        assert!(usage_of("nowhere", &pods, &usages).is_empty());
    }
}
