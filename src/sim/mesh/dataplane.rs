//! Where the simulated mesh's requests go: the share the canary gets, read
//! off the router objects as the data plane reads them (Envoy follows a
//! VirtualService's weighted route, ingress-nginx a canary Ingress's
//! `canary-weight`, the AWS load balancer an `actions.*` forward, a Gateway
//! API implementation a route's backendRefs). Written from those
//! components' documented behaviour, apart from the dashboard's reading.

use serde_json::Value;

use crate::model::Rollout;
use crate::sim::controller::rt;
use crate::sim::json::text;
use crate::sim::store::Store;

/// The canary's share (0–1) of the rollout's requests by its router, or
/// `None` without a router object to read (then Services spread requests
/// over Ready pods).
pub fn canary_share(store: &Store, ro: &Rollout) -> Option<f64> {
    let routing = ro.traffic_routing()?;
    let ns = ro.metadata.namespace.clone().unwrap_or_default();
    let canary = ro.canary()?;
    let services = (
        canary.canary_service.clone().unwrap_or_default(),
        canary.stable_service.clone().unwrap_or_default(),
    );
    let get = |plural: &str, obj_ns: &str, name: &str| {
        store
            .get(rt(plural), obj_ns, name)
            .ok()
            .map(|v| (*v).clone())
    };
    let mut weights: Option<(f64, f64)> = None;
    let mut add = |(c, s): (f64, f64)| {
        let (wc, ws) = weights.get_or_insert((0.0, 0.0));
        *wc += c;
        *ws += s;
    };
    if let Some(istio) = &routing.istio {
        let subsets = istio.destination_rule.as_ref().map(|d| {
            (
                d.canary_subset_name.clone().unwrap_or_default(),
                d.stable_subset_name.clone().unwrap_or_default(),
            )
        });
        for r in istio.virtual_service_refs() {
            let (vs_ns, name) = crate::sim::controller::traffic::virtual_service_key(
                r.name.as_deref().unwrap_or_default(),
                &ns,
            );
            if let Some(vs) = get("virtualservices", &vs_ns, &name) {
                let routes = r.routes.clone().unwrap_or_default();
                add(envoy_split(&vs, &routes, &services, subsets.as_ref()));
            }
        }
    }
    if let Some(nginx) = &routing.nginx {
        let ro_name = ro.metadata.name.clone().unwrap_or_default();
        for stable in nginx.stable_ingress_names() {
            let canary_ingress = crate::model::nginx_canary_ingress_name(&ro_name, stable);
            if let Some(ing) = get("ingresses", &ns, &canary_ingress) {
                let annotation = |key: &str| {
                    ing.pointer("/metadata/annotations")
                        .and_then(|a| a.get(format!("{}/{key}", nginx.prefix())))
                        .and_then(Value::as_str)
                        .and_then(|v| v.parse::<f64>().ok())
                };
                let total = annotation("canary-weight-total").unwrap_or(100.0);
                let weight = annotation("canary-weight").unwrap_or(0.0).min(total);
                add((weight, total - weight));
            }
        }
    }
    if let Some(alb) = &routing.alb {
        let root = alb
            .root_service
            .clone()
            .unwrap_or_else(|| services.1.clone());
        for name in alb.ingress_names() {
            let action = get("ingresses", &ns, name).and_then(|ing| {
                let raw = ing
                    .pointer("/metadata/annotations")?
                    .get(format!("{}/actions.{root}", alb.prefix()))?
                    .as_str()?
                    .to_string();
                serde_json::from_str::<Value>(&raw).ok()
            });
            if let Some(action) = action {
                let groups = action
                    .pointer("/forwardConfig/targetGroups")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                add(by_service(&groups, "/serviceName", &services));
            }
        }
    }
    let refs = crate::sim::controller::routers::gateway_route_refs(ro);
    for (kind, route_ns, name) in &refs.named {
        if let Some(route) = get(kind.plural(), route_ns, name) {
            // Requests without a header match take the rules without one.
            let backends: Vec<Value> = route
                .pointer("/spec/rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|rule| rule.get("matches").is_none_or(|m| !has_header_match(m)))
                .flat_map(|rule| {
                    rule.get("backendRefs")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            add(by_service(&backends, "/name", &services));
        }
    }
    let (c, s) = weights?;
    Some(if c + s > 0.0 { c / (c + s) } else { 0.0 })
}

/// Envoy's split for a request matching no header or mirror rule: the
/// rollout's weighted routes (the named ones, or the only one), their
/// destinations counted by Service host or DestinationRule subset.
fn envoy_split(
    vs: &Value,
    routes: &[String],
    services: &(String, String),
    subsets: Option<&(String, String)>,
) -> (f64, f64) {
    let http = vs
        .pointer("/spec/http")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let plain: Vec<&Value> = http.iter().filter(|r| r.get("match").is_none()).collect();
    let chosen: Vec<&Value> = if routes.is_empty() {
        plain.into_iter().take(1).collect()
    } else {
        http.iter()
            .filter(|r| routes.contains(&text(r, "/name")))
            .collect()
    };
    let mut out = (0.0, 0.0);
    for route in chosen {
        for d in route
            .get("route")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let weight = d.get("weight").and_then(Value::as_f64).unwrap_or(0.0);
            let host = text(d, "/destination/host");
            let short = host.split('.').next().unwrap_or_default();
            let subset = text(d, "/destination/subset");
            let role = match subsets {
                Some((canary, stable)) if !subset.is_empty() => {
                    (subset == *canary, subset == *stable)
                }
                _ => (short == services.0, short == services.1),
            };
            match role {
                (true, _) => out.0 += weight,
                (_, true) => out.1 += weight,
                _ => {}
            }
        }
    }
    out
}

fn has_header_match(matches: &Value) -> bool {
    matches
        .as_array()
        .is_some_and(|m| m.iter().any(|m| m.get("headers").is_some()))
}

/// Weights of `targets` naming the canary or stable Service at `pointer`.
fn by_service(targets: &[Value], pointer: &str, services: &(String, String)) -> (f64, f64) {
    let mut out = (0.0, 0.0);
    for t in targets {
        let weight = t
            .get("weight")
            .and_then(|w| w.as_f64().or_else(|| w.as_str()?.parse().ok()))
            .unwrap_or(0.0);
        let name = text(t, pointer);
        if name == services.0 {
            out.0 += weight;
        } else if name == services.1 {
            out.1 += weight;
        }
    }
    out
}
