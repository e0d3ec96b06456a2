//! How the simulated controller sets Istio weights, as Argo's controller does:
//! the named VirtualService routes' destination weights, and the
//! DestinationRule subsets' pod template hashes.

use crate::sim::json::text;
use serde_json::{Value, json};

use crate::model::{IstioTrafficRouting, Rollout};

/// (namespace, name) of a rollout's `virtualService.name`, which may be
/// `name.namespace` (istioutil.GetVirtualServiceNamespaceName).
pub fn virtual_service_key(reference: &str, rollout_ns: &str) -> (String, String) {
    match reference.split_once('.') {
        Some((name, rest)) => (
            rest.split('.').next().unwrap_or(rollout_ns).to_string(),
            name.to_string(),
        ),
        None => (rollout_ns.to_string(), reference.to_string()),
    }
}

/// Istio hard-codes 100 as the total.
const TOTAL: i64 = 100;

/// The VirtualService `vs` with the rollout's routes set to `canary` weight.
/// `None` when nothing changes.
pub fn set_virtual_service_weights(
    ro: &Rollout,
    istio: &IstioTrafficRouting,
    routes: &[String],
    vs: &Value,
    canary: i64,
) -> Option<Value> {
    let canary_svc = ro
        .canary()
        .and_then(|c| c.canary_service.clone())
        .unwrap_or_default();
    let stable_svc = ro
        .canary()
        .and_then(|c| c.stable_service.clone())
        .unwrap_or_default();
    let dr = istio.destination_rule.as_ref();
    let canary_subset = dr
        .and_then(|d| d.canary_subset_name.clone())
        .unwrap_or_default();
    let stable_subset = dr
        .and_then(|d| d.stable_subset_name.clone())
        .unwrap_or_default();
    let mut next = vs.clone();
    let http = next.pointer_mut("/spec/http")?.as_array_mut()?;
    let mut changed = false;
    let only_one = http.len() == 1;
    for route in http.iter_mut() {
        let name = text(route, "/name");
        let selected = if routes.is_empty() {
            only_one || name.is_empty()
        } else {
            routes.contains(&name)
        };
        if !selected {
            continue;
        }
        let Some(dests) = route.get_mut("route").and_then(Value::as_array_mut) else {
            continue;
        };
        for d in dests.iter_mut() {
            let host = d
                .pointer("/destination/host")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let short = host.split('.').next().unwrap_or_default().to_string();
            let subset = text(d, "/destination/subset");
            let is = |svc: &str, sub: &str| {
                (!short.is_empty() && short == svc) || (!subset.is_empty() && subset == sub)
            };
            let weight = if is(&canary_svc, &canary_subset) {
                canary
            } else if is(&stable_svc, &stable_subset) {
                (TOTAL - canary).max(0)
            } else {
                continue;
            };
            if d.get("weight").and_then(Value::as_i64) != Some(weight) {
                d["weight"] = json!(weight);
                changed = true;
            }
        }
    }
    changed.then_some(next)
}

/// The DestinationRule with the canary and stable subsets pointed at their
/// ReplicaSets' hashes. `None` when nothing changes.
pub fn set_destination_rule_hashes(
    ro_name: &str,
    istio: &IstioTrafficRouting,
    dr: &Value,
    canary_hash: &str,
    stable_hash: &str,
) -> Option<Value> {
    let r = istio.destination_rule.as_ref()?;
    let canary_subset = r.canary_subset_name.clone().unwrap_or_default();
    let stable_subset = r.stable_subset_name.clone().unwrap_or_default();
    let mut next = dr.clone();
    for subset in next.pointer_mut("/spec/subsets")?.as_array_mut()? {
        let name = subset
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let hash = if name == canary_subset {
            canary_hash
        } else if name == stable_subset {
            stable_hash
        } else {
            continue;
        };
        let labels = subset
            .as_object_mut()?
            .entry("labels")
            .or_insert_with(|| json!({}));
        if let Some(l) = labels.as_object_mut() {
            if hash.is_empty() {
                l.remove(crate::model::POD_TEMPLATE_HASH_LABEL);
            } else {
                l.insert(crate::model::POD_TEMPLATE_HASH_LABEL.into(), json!(hash));
            }
        }
    }
    if let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) {
        let ann = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Some(a) = ann.as_object_mut() {
            a.insert(
                "argo-rollouts.argoproj.io/managed-by-rollouts".into(),
                json!(ro_name),
            );
        }
    }
    (next != *dr).then_some(next)
}
