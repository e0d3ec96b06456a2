//! PURE: the split as NGINX, the AWS Load Balancer Controller and the
//! Gateway API plugin have it, read from the objects Argo's controller and
//! the plugin write (reference: traffic-routers.md R1–R3).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{
    GATEWAY_API_PLUGIN, GatewayRoute, Ingress, ObjectKey, Rollout, RouteKind, RouteRule,
    nginx_canary_ingress_name,
};

use super::types::{DestinationWeight, RouteSplit, RouterObjectSplit};

/// The Gateway API plugin splits a total of 100 whatever maxTrafficWeight.
const GATEWAY_TOTAL: i32 = 100;
/// ALB's stable target group gets 100 minus the rest.
const ALB_TOTAL: i32 = 100;

/// The router objects a rollout reads, other than Istio's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouterRefs {
    /// NGINX canary Ingresses and ALB Ingresses, by key.
    pub ingresses: Vec<ObjectKey>,
    /// Gateway API routes named in the plugin's configuration.
    pub routes: Vec<(RouteKind, ObjectKey)>,
    /// Gateway API routes chosen by labels, in a namespace.
    pub route_selectors: Vec<(RouteKind, String, BTreeMap<String, String>)>,
}

/// What the Gateway API plugin's configuration names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct GatewayConfig {
    namespace: String,
    named: Vec<(RouteKind, String)>,
    selectors: Vec<(RouteKind, BTreeMap<String, String>)>,
}

fn gateway_config(ro: &Rollout) -> Option<GatewayConfig> {
    let config = ro
        .traffic_routing()?
        .plugins
        .as_ref()?
        .get(GATEWAY_API_PLUGIN)?;
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let mut out = GatewayConfig {
        namespace: config
            .get("namespace")
            .and_then(text)
            .or_else(|| ro.metadata.namespace.clone())
            .unwrap_or_default(),
        ..GatewayConfig::default()
    };
    for kind in RouteKind::ALL {
        let (one, many, selector) = kind.config_keys();
        if let Some(name) = config.get(one).and_then(text) {
            out.named.push((kind, name));
        }
        for entry in config
            .get(many)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = entry.get("name").and_then(text) {
                out.named.push((kind, name));
            }
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
            out.selectors.push((kind, labels));
        }
    }
    Some(out)
}

/// The routers a rollout configures, in the order they are tried for the
/// bar: `istio`, `nginx`, `alb`, `gatewayAPI`.
pub fn configured_routers(ro: &Rollout) -> Vec<&'static str> {
    let Some(t) = ro.traffic_routing() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if t.istio.is_some() {
        out.push("istio");
    }
    if t.nginx.is_some() {
        out.push("nginx");
    }
    if t.alb.is_some() {
        out.push("alb");
    }
    if t.plugins
        .as_ref()
        .is_some_and(|p| p.contains_key(GATEWAY_API_PLUGIN))
    {
        out.push("gatewayAPI");
    }
    out
}

/// Every NGINX, ALB and Gateway API object the rollout's split is read from.
pub fn router_references(ro: &Rollout) -> RouterRefs {
    let mut refs = RouterRefs::default();
    let Some(t) = ro.traffic_routing() else {
        return refs;
    };
    let ns = ro.metadata.namespace.clone().unwrap_or_default();
    let name = ro.metadata.name.as_deref().unwrap_or_default();
    if let Some(nginx) = &t.nginx {
        for stable in nginx.stable_ingress_names() {
            refs.ingresses
                .push(ObjectKey::new(&ns, nginx_canary_ingress_name(name, stable)));
        }
    }
    if let Some(alb) = &t.alb {
        for ingress in alb.ingress_names() {
            refs.ingresses.push(ObjectKey::new(&ns, ingress));
        }
    }
    if let Some(g) = gateway_config(ro) {
        for (kind, route) in g.named {
            refs.routes
                .push((kind, ObjectKey::new(&g.namespace, route)));
        }
        for (kind, labels) in g.selectors {
            refs.route_selectors
                .push((kind, g.namespace.clone(), labels));
        }
    }
    refs
}

/// The canary and stable Services the routers point at.
struct Services<'a> {
    canary: &'a str,
    stable: &'a str,
}

impl<'a> Services<'a> {
    fn of(ro: &'a Rollout) -> Self {
        let c = ro.canary();
        Services {
            canary: c
                .and_then(|c| c.canary_service.as_deref())
                .unwrap_or_default(),
            stable: c
                .and_then(|c| c.stable_service.as_deref())
                .unwrap_or_default(),
        }
    }

    fn role(&self, service: &str) -> &'static str {
        if !service.is_empty() && service == self.canary {
            "canary"
        } else if !service.is_empty() && service == self.stable {
            "stable"
        } else {
            "other"
        }
    }
}

/// The canary's and stable's weights among `destinations` (summed, should
/// a role have several).
fn canary_and_stable(destinations: &[DestinationWeight]) -> (i32, i32) {
    let weight_of = |role: &str| {
        destinations
            .iter()
            .filter(|d| d.role == role)
            .map(|d| d.weight)
            .sum::<i32>()
    };
    (weight_of("canary"), weight_of("stable"))
}

/// The split of one router object, before it is looked at.
fn object_split(router: &str, kind: &str, key: &ObjectKey) -> RouterObjectSplit {
    RouterObjectSplit {
        router: router.into(),
        kind: kind.into(),
        name: key.name.clone(),
        namespace: key.namespace.clone(),
        ..RouterObjectSplit::default()
    }
}

fn find<'a>(ingresses: &[&'a Ingress], key: &ObjectKey) -> Option<&'a Ingress> {
    ingresses
        .iter()
        .find(|i| {
            i.metadata.name.as_deref() == Some(key.name.as_str())
                && i.metadata.namespace.as_deref() == Some(key.namespace.as_str())
        })
        .copied()
}

/// NGINX: each stable Ingress's canary Ingress and its `canary-weight`.
pub fn nginx_splits(ro: &Rollout, desired: i32, ingresses: &[&Ingress]) -> Vec<RouterObjectSplit> {
    let Some(nginx) = ro.traffic_routing().and_then(|t| t.nginx.as_ref()) else {
        return Vec::new();
    };
    let ns = ro.metadata.namespace.clone().unwrap_or_default();
    let name = ro.metadata.name.as_deref().unwrap_or_default();
    let services = Services::of(ro);
    let prefix = nginx.prefix();
    let annotation =
        |i: &Ingress, key: &str| i.annotations().get(&format!("{prefix}/{key}")).cloned();
    nginx
        .stable_ingress_names()
        .into_iter()
        .map(|stable| {
            let key = ObjectKey::new(&ns, nginx_canary_ingress_name(name, stable));
            let mut out = object_split("nginx", "Ingress", &key);
            let Some(canary) = find(ingresses, &key) else {
                out.error = Some(format!(
                    "the canary Ingress {}/{} for {stable} is not there (yet)",
                    key.namespace, key.name
                ));
                return out;
            };
            out.found = true;
            let weight =
                annotation(canary, "canary-weight").and_then(|w| w.trim().parse::<i32>().ok());
            let total = annotation(canary, "canary-weight-total")
                .and_then(|w| w.trim().parse::<i32>().ok())
                .unwrap_or(100);
            if annotation(canary, "canary").as_deref() != Some("true") {
                out.error = Some(format!("{} lacks {prefix}/canary: \"true\"", key.name));
            }
            let Some(weight) = weight else {
                out.error = Some(format!("{} has no {prefix}/canary-weight", key.name));
                return out;
            };
            let stable_weight = (total - weight).max(0);
            out.rules.push(RouteSplit {
                name: format!("{stable} → canary Ingress"),
                protocol: "http".into(),
                destinations: vec![
                    DestinationWeight {
                        host: services.stable.to_string(),
                        weight: stable_weight,
                        role: "stable".into(),
                        ..DestinationWeight::default()
                    },
                    DestinationWeight {
                        host: services.canary.to_string(),
                        weight,
                        role: "canary".into(),
                        ..DestinationWeight::default()
                    },
                ],
                canary_weight: weight,
                stable_weight,
                matches_desired: weight == desired,
            });
            if let Some(h) = annotation(canary, "canary-by-header") {
                let value = annotation(canary, "canary-by-header-value")
                    .or_else(|| {
                        annotation(canary, "canary-by-header-pattern").map(|p| format!("~{p}"))
                    })
                    .unwrap_or_else(|| "always".into());
                out.header_routes
                    .push(format!("header {h}: {value} → canary"));
            }
            if let Some(c) = annotation(canary, "canary-by-cookie") {
                out.header_routes
                    .push(format!("cookie {c}: always → canary"));
            }
            out
        })
        .collect()
}

/// ALB: each Ingress's `actions.<rootService>` forward weights.
pub fn alb_splits(ro: &Rollout, desired: i32, ingresses: &[&Ingress]) -> Vec<RouterObjectSplit> {
    let Some(alb) = ro.traffic_routing().and_then(|t| t.alb.as_ref()) else {
        return Vec::new();
    };
    let ns = ro.metadata.namespace.clone().unwrap_or_default();
    let services = Services::of(ro);
    let root = alb
        .root_service
        .as_deref()
        .filter(|r| !r.is_empty())
        .unwrap_or(services.stable);
    let prefix = alb.prefix();
    let action_key = format!("{prefix}/actions.{root}");
    let conditions = format!("{prefix}/conditions.");
    alb.ingress_names()
        .into_iter()
        .map(|name| {
            let key = ObjectKey::new(&ns, name);
            let mut out = object_split("alb", "Ingress", &key);
            let Some(ingress) = find(ingresses, &key) else {
                out.error = Some(format!("Ingress {}/{} not found", key.namespace, key.name));
                return out;
            };
            out.found = true;
            out.header_routes = ingress
                .annotations()
                .keys()
                .filter_map(|k| k.strip_prefix(&conditions))
                .map(|route| format!("conditions {route} → canary"))
                .collect();
            let Some(action) = ingress.annotations().get(&action_key) else {
                out.error = Some(format!("{name} has no {action_key} annotation yet"));
                return out;
            };
            match alb_weights(action, &services) {
                Ok(destinations) => {
                    let (canary, stable) = canary_and_stable(&destinations);
                    out.rules.push(RouteSplit {
                        name: format!("actions.{root}"),
                        protocol: "http".into(),
                        canary_weight: canary,
                        stable_weight: stable,
                        matches_desired: canary == desired,
                        destinations,
                    });
                }
                Err(e) => out.error = Some(format!("{action_key} on {name}: {e}")),
            }
            out
        })
        .collect()
}

/// The target groups of an ALB forward action, with their roles.
fn alb_weights(action: &str, services: &Services<'_>) -> Result<Vec<DestinationWeight>, String> {
    let v: Value = serde_json::from_str(action).map_err(|e| format!("not JSON: {e}"))?;
    let groups = v
        .pointer("/ForwardConfig/TargetGroups")
        .and_then(Value::as_array)
        .ok_or("no ForwardConfig.TargetGroups")?;
    Ok(groups
        .iter()
        .map(|g| {
            let service = g
                .get("ServiceName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let weight = g
                .get("Weight")
                .and_then(|w| w.as_i64().or_else(|| w.as_str()?.parse().ok()))
                .unwrap_or(0);
            DestinationWeight {
                host: service.to_string(),
                weight: i32::try_from(weight.clamp(0, i64::from(ALB_TOTAL))).unwrap_or(0),
                role: services.role(service).to_string(),
                ..DestinationWeight::default()
            }
        })
        .collect())
}

/// Gateway API: the canary and stable backendRefs' weights in every rule
/// of each route the plugin's configuration names or selects.
pub fn gateway_splits(
    ro: &Rollout,
    desired: i32,
    routes: &[&GatewayRoute],
) -> Vec<RouterObjectSplit> {
    let Some(config) = gateway_config(ro) else {
        return Vec::new();
    };
    let services = Services::of(ro);
    let managed: Vec<&str> = ro
        .traffic_routing()
        .and_then(|t| t.managed_routes.as_deref())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.name.as_deref())
        .collect();
    let in_ns =
        |r: &&&GatewayRoute| r.metadata.namespace.as_deref() == Some(config.namespace.as_str());
    let mut chosen: Vec<(RouteKind, String, Option<&GatewayRoute>)> = config
        .named
        .iter()
        .map(|(kind, name)| {
            let found = routes
                .iter()
                .filter(in_ns)
                .find(|r| {
                    r.route_kind == *kind && r.metadata.name.as_deref() == Some(name.as_str())
                })
                .copied();
            (*kind, name.clone(), found)
        })
        .collect();
    for (kind, labels) in &config.selectors {
        for r in routes.iter().filter(in_ns).filter(|r| {
            r.route_kind == *kind && labels.iter().all(|(k, v)| r.labels().get(k) == Some(v))
        }) {
            let name = r.metadata.name.clone().unwrap_or_default();
            if !chosen.iter().any(|(k, n, _)| k == kind && *n == name) {
                chosen.push((*kind, name, Some(r)));
            }
        }
    }
    chosen
        .into_iter()
        .map(|(kind, name, route)| {
            let key = ObjectKey::new(&config.namespace, &name);
            let mut out = object_split("gatewayAPI", kind.kind(), &key);
            let Some(route) = route else {
                out.error = Some(format!("{} {}/{name} not found", kind.kind(), config.namespace));
                return out;
            };
            out.found = true;
            for (i, rule) in route.rules().iter().enumerate() {
                if is_header_rule(rule, &managed, &services) {
                    out.header_routes.push(header_route_text(rule));
                    continue;
                }
                out.rules.push(gateway_rule_split(i, rule, kind, &services, desired));
            }
            if let Some(r) = out
                .rules
                .iter()
                .find(|r| !r.destinations.iter().any(|d| d.role == "canary") || !r.destinations.iter().any(|d| d.role == "stable"))
            {
                out.error = Some(format!(
                    "{} {name}: rule {} lacks the canary or the stable Service (the plugin cannot set its weights)",
                    kind.kind(),
                    r.name
                ));
            }
            out
        })
        .collect()
}

/// A rule the plugin injected for a header route: named like a managed
/// route, or (older plugins) sending only to the canary Service.
fn is_header_rule(rule: &RouteRule, managed: &[&str], services: &Services<'_>) -> bool {
    if rule.name.as_deref().is_some_and(|n| managed.contains(&n)) {
        return true;
    }
    let refs = rule.backend_refs.as_deref().unwrap_or_default();
    refs.len() == 1
        && refs[0].name.as_deref() == Some(services.canary)
        && rule.matches.as_ref().is_some_and(|m| !m.is_empty())
}

fn header_route_text(rule: &RouteRule) -> String {
    let headers: Vec<String> = rule
        .matches
        .iter()
        .flatten()
        .flat_map(|m| {
            m.get("headers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .map(|h| {
            let name = h.get("name").and_then(Value::as_str).unwrap_or_default();
            let value = h.get("value").and_then(Value::as_str).unwrap_or_default();
            match h.get("type").and_then(Value::as_str) {
                Some("RegularExpression") => format!("{name} ~ {value}"),
                _ => format!("{name}: {value}"),
            }
        })
        .collect();
    let what = if headers.is_empty() {
        "matching requests".to_string()
    } else {
        format!("header {}", headers.join(", "))
    };
    match rule.name.as_deref() {
        Some(n) => format!("{n}: {what} → canary"),
        None => format!("{what} → canary"),
    }
}

fn gateway_rule_split(
    index: usize,
    rule: &RouteRule,
    kind: RouteKind,
    services: &Services<'_>,
    desired: i32,
) -> RouteSplit {
    let destinations: Vec<DestinationWeight> = rule
        .backend_refs
        .iter()
        .flatten()
        .map(|b| {
            let name = b.name.as_deref().unwrap_or_default();
            DestinationWeight {
                host: name.to_string(),
                // Gateway API: an unset weight is 1.
                weight: b.weight.unwrap_or(1),
                role: services.role(name).to_string(),
                ..DestinationWeight::default()
            }
        })
        .collect();
    let (canary, stable) = canary_and_stable(&destinations);
    RouteSplit {
        name: rule
            .name
            .clone()
            .unwrap_or_else(|| format!("rule {}", index + 1)),
        protocol: match kind {
            RouteKind::Http => "http",
            RouteKind::Grpc => "grpc",
            RouteKind::Tcp => "tcp",
            RouteKind::Tls => "tls",
        }
        .into(),
        canary_weight: canary,
        stable_weight: stable,
        matches_desired: canary == desired && stable == GATEWAY_TOTAL - desired,
        destinations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(routing: Value) -> Rollout {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"strategy": {"canary": {"canaryService": "web-canary", "stableService": "web-stable",
                "trafficRouting": routing}}},
        }))
        .unwrap_or_default()
    }

    fn ingress(name: &str, annotations: Value) -> Ingress {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "shop", "annotations": annotations},
        }))
        .unwrap_or_default()
    }

    #[test]
    fn a_malformed_alb_action_is_a_warning_on_that_object_only() {
        let ro = rollout(serde_json::json!({"alb": {"ingress": "web", "servicePort": 80}}));
        for (bad, why) in [
            ("{not json", "not JSON"),
            (r#"{"Type":"forward"}"#, "no ForwardConfig.TargetGroups"),
        ] {
            let i = ingress(
                "web",
                serde_json::json!({"alb.ingress.kubernetes.io/actions.web-stable": bad}),
            );
            let split = alb_splits(&ro, 20, &[&i]);
            assert_eq!(split.len(), 1);
            assert!(split[0].found);
            assert!(split[0].rules.is_empty());
            assert!(
                split[0].error.as_deref().is_some_and(|e| e.contains(why)),
                "{:?}",
                split[0].error
            );
        }
        // Weights out of range are clamped, not trusted.
        let i = ingress(
            "web",
            serde_json::json!({"alb.ingress.kubernetes.io/actions.web-stable":
                r#"{"ForwardConfig":{"TargetGroups":[{"ServiceName":"web-canary","Weight":99999999999},{"ServiceName":"web-stable","Weight":-5}]}}"#}),
        );
        let split = alb_splits(&ro, 20, &[&i]);
        assert_eq!(
            (
                split[0].rules[0].canary_weight,
                split[0].rules[0].stable_weight
            ),
            (100, 0)
        );
    }

    #[test]
    fn an_nginx_weight_that_is_not_a_number_is_said_so() {
        let ro = rollout(serde_json::json!({"nginx": {"stableIngress": "web",
            "annotationPrefix": "custom.nginx.org"}}));
        let i = ingress(
            "web-web-canary",
            serde_json::json!({"custom.nginx.org/canary": "true", "custom.nginx.org/canary-weight": "lots"}),
        );
        let split = nginx_splits(&ro, 20, &[&i]);
        assert!(split[0].rules.is_empty());
        assert_eq!(
            split[0].error.as_deref(),
            Some("web-web-canary has no custom.nginx.org/canary-weight")
        );
    }

    #[test]
    fn a_gateway_rule_without_the_canary_service_is_flagged() {
        let ro = rollout(
            serde_json::json!({"plugins": {"argoproj-labs/gatewayAPI": {"httpRoutes": [{"name": "web"}]}}}),
        );
        let mut route: GatewayRoute = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"rules": [{"backendRefs": [{"name": "web-stable", "weight": 100}]}]},
        }))
        .unwrap_or_default();
        route.route_kind = RouteKind::Http;
        let split = gateway_splits(&ro, 20, &[&route]);
        assert!(split[0].found);
        assert!(
            split[0]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("lacks the canary or the stable Service"))
        );
        assert!(!split[0].rules[0].matches_desired);
    }

    #[test]
    fn the_canary_ingress_name_is_cut_to_fit() {
        let long = "r".repeat(200);
        let name = nginx_canary_ingress_name(&long, &"i".repeat(100));
        assert_eq!(name.len(), 253);
        assert!(name.ends_with("-canary"));
    }
}
