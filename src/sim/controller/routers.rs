//! How the simulated controller sets the weight on NGINX, ALB and Gateway
//! API objects, as Argo's controller and the Gateway API plugin do
//! (reference: traffic-routers.md R1–R3): NGINX gets a canary Ingress per
//! stable Ingress with `canary-weight`; ALB an `actions.<rootService>`
//! forward annotation; Gateway API routes their backendRefs' weights.

use serde_json::{Map, Value, json};

use crate::model::{
    AlbTrafficRouting, GATEWAY_API_PLUGIN, NginxTrafficRouting, Rollout, RouteKind,
    nginx_canary_ingress_name,
};
use crate::sim::json::text;

/// The Gateway API routes the plugin's config names, as the plugin reads
/// it (rollouts-plugin-trafficrouter-gatewayapi `GatewayAPITrafficRouting`):
/// `httpRoute` or `httpRoutes[].name` (and grpc, tcp, tls), in the
/// config's `namespace` or the rollout's; routes picked by
/// `…RouteSelector.matchLabels` come back as selectors to list.
pub struct GatewayRouteRefs {
    /// (kind, namespace, name)
    pub named: Vec<(RouteKind, String, String)>,
    /// (kind, namespace, labels to match)
    pub selected: Vec<(RouteKind, String, Labels)>,
}

type Labels = Vec<(String, String)>;

pub fn gateway_route_refs(ro: &Rollout) -> GatewayRouteRefs {
    let mut refs = GatewayRouteRefs {
        named: Vec::new(),
        selected: Vec::new(),
    };
    let Some(config) = ro
        .traffic_routing()
        .and_then(|t| t.plugins.as_ref())
        .and_then(|p| p.get(GATEWAY_API_PLUGIN))
    else {
        return refs;
    };
    let namespace = Some(text(config, "/namespace"))
        .filter(|n| !n.is_empty())
        .or_else(|| ro.metadata.namespace.clone())
        .unwrap_or_default();
    for kind in RouteKind::ALL {
        let (one, many, selector) = kind.config_keys();
        let single = config.get(one).and_then(Value::as_str).map(str::to_string);
        let listed = config
            .get(many)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|r| text(r, "/name"));
        for name in single.into_iter().chain(listed).filter(|n| !n.is_empty()) {
            refs.named.push((kind, namespace.clone(), name));
        }
        if let Some(labels) = config
            .get(selector)
            .and_then(|s| s.get("matchLabels"))
            .and_then(Value::as_object)
        {
            let labels = labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect();
            refs.selected.push((kind, namespace.clone(), labels));
        }
    }
    refs
}

fn services(ro: &Rollout) -> (String, String) {
    let c = ro.canary();
    (
        c.and_then(|c| c.canary_service.clone()).unwrap_or_default(),
        c.and_then(|c| c.stable_service.clone()).unwrap_or_default(),
    )
}

/// The canary Ingress for `stable` at `weight`, as Argo's controller writes
/// it: the stable Ingress's rules with the backends switched to the canary
/// Service, `canary: "true"` and `canary-weight`, owned by the rollout.
pub fn nginx_canary_ingress(
    ro: &Rollout,
    nginx: &NginxTrafficRouting,
    stable: &Value,
    weight: i64,
) -> Value {
    let (canary_svc, stable_svc) = services(ro);
    let ro_name = ro.metadata.name.clone().unwrap_or_default();
    let stable_name = text(stable, "/metadata/name");
    let prefix = nginx.prefix();
    let mut annotations = Map::new();
    if let Some(class) = stable
        .pointer("/metadata/annotations/kubernetes.io~1ingress.class")
        .cloned()
    {
        annotations.insert("kubernetes.io/ingress.class".into(), class);
    }
    annotations.insert(format!("{prefix}/canary"), json!("true"));
    annotations.insert(format!("{prefix}/canary-weight"), json!(weight.to_string()));
    if let Some(total) = ro.traffic_routing().and_then(|t| t.max_traffic_weight) {
        annotations.insert(
            format!("{prefix}/canary-weight-total"),
            json!(total.to_string()),
        );
    }
    for (k, v) in nginx.additional_ingress_annotations.iter().flatten() {
        annotations.insert(format!("{prefix}/{k}"), json!(v));
    }
    let mut spec = stable.get("spec").cloned().unwrap_or_else(|| json!({}));
    for rule in spec
        .get_mut("rules")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for path in rule
            .pointer_mut("/http/paths")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(svc) = path.pointer_mut("/backend/service/name")
                && svc.as_str() == Some(stable_svc.as_str())
            {
                *svc = json!(canary_svc);
            }
        }
    }
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {
            "name": nginx_canary_ingress_name(&ro_name, &stable_name),
            "namespace": text(stable, "/metadata/namespace"),
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "name": ro_name, "uid": ro.metadata.uid.clone().unwrap_or_default(),
                "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": spec,
    })
}

/// The Ingress with its `actions.<rootService>` set for `weight`; `None`
/// when nothing changes.
pub fn alb_ingress(
    ro: &Rollout,
    alb: &AlbTrafficRouting,
    ingress: &Value,
    weight: i64,
) -> Option<Value> {
    let (canary_svc, stable_svc) = services(ro);
    let root = alb
        .root_service
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| stable_svc.clone());
    let port = alb.service_port.unwrap_or(80).to_string();
    let key = format!("{}/actions.{root}", alb.prefix());
    let action = json!({"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"ServiceName": canary_svc, "ServicePort": port, "Weight": weight},
        {"ServiceName": stable_svc, "ServicePort": port, "Weight": 100 - weight},
    ]}})
    .to_string();
    let mut next = ingress.clone();
    let meta = next.get_mut("metadata")?.as_object_mut()?;
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| json!({}))
        .as_object_mut()?;
    if annotations.get(&key).and_then(Value::as_str) == Some(action.as_str()) {
        return None;
    }
    annotations.insert(key.clone(), json!(action));
    annotations.insert(
        "rollouts.argoproj.io/managed-alb-annotations".into(),
        json!(json!({ ro.metadata.name.clone().unwrap_or_default(): [key] }).to_string()),
    );
    Some(next)
}

/// The route with the canary and stable backendRefs of every rule (but the
/// header routes the plugin injected) set for `weight`; `None` when
/// nothing changes.
pub fn gateway_route(ro: &Rollout, route: &Value, weight: i64) -> Option<Value> {
    let (canary_svc, stable_svc) = services(ro);
    let managed: Vec<String> = ro
        .traffic_routing()
        .and_then(|t| t.managed_routes.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.name)
        .collect();
    let mut next = route.clone();
    let mut changed = false;
    for rule in next
        .pointer_mut("/spec/rules")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if managed.contains(&text(rule, "/name")) {
            continue;
        }
        for backend in rule
            .get_mut("backendRefs")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let w = match backend.get("name").and_then(Value::as_str) {
                Some(n) if n == canary_svc => weight,
                Some(n) if n == stable_svc => 100 - weight,
                _ => continue,
            };
            if backend.get("weight").and_then(Value::as_i64) != Some(w) {
                backend["weight"] = json!(w);
                changed = true;
            }
        }
    }
    changed.then_some(next)
}
