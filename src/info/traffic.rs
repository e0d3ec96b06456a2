//! The traffic split as Istio has it now: for each
//! VirtualService route the rollout names, each destination's weight and
//! role, compared with the weight the controller steers to.

use crate::model::{
    DestinationRule, IstioTrafficRouting, IstioVirtualServiceRef, ObjectKey,
    POD_TEMPLATE_HASH_LABEL, Rollout, RouteDestination, VirtualService,
};

use super::RolloutObjects;
use super::routers::{alb_splits, configured_routers, gateway_splits, nginx_splits};
use super::types::{
    DestinationRuleSubsets, DestinationWeight, RouteSplit, RouterObjectSplit, SubsetHash,
    TrafficSplit, VirtualServiceSplit,
};

/// Argo's Istio router always splits a total of 100.
const ISTIO_TOTAL: i32 = 100;

/// `None` unless the rollout routes traffic with a router the dashboard
/// reads (Istio, NGINX, ALB, the Gateway API plugin). With several, each
/// is listed; the bar's numbers come from the first whose object is found.
pub fn traffic_split(
    ro: &Rollout,
    desired: i32,
    objs: &RolloutObjects<'_>,
) -> Option<TrafficSplit> {
    let routers = configured_routers(ro);
    if routers.is_empty() {
        return None;
    }
    let istio = istio_split(ro, desired, objs.virtual_services, objs.destination_rules);
    let istio_found = istio.as_ref().is_some_and(|s| s.canary_weight.is_some());
    let istio_matches = istio.as_ref().is_none_or(|s| s.matches_desired);
    let mut split = istio.unwrap_or_else(|| TrafficSplit {
        desired_canary_weight: desired,
        max_weight: ro.max_traffic_weight(),
        ..TrafficSplit::default()
    });
    split.router_objects = nginx_splits(ro, desired, objs.ingresses)
        .into_iter()
        .chain(alb_splits(ro, desired, objs.ingresses))
        .chain(gateway_splits(ro, desired, objs.routes))
        .collect();
    let shows = |o: &RouterObjectSplit| o.found && !o.rules.is_empty();
    let others_match = split
        .router_objects
        .iter()
        .all(|o| shows(o) && o.rules.iter().all(|r| r.matches_desired));
    let first = routers.iter().find(|r| match **r {
        "istio" => istio_found,
        other => split
            .router_objects
            .iter()
            .any(|o| o.router == other && shows(o)),
    });
    split.router = first.map(|r| r.to_string()).unwrap_or_default();
    if let Some(rule) = split
        .router_objects
        .iter()
        .filter(|o| first.is_some_and(|f| *f != "istio" && o.router == *f) && shows(o))
        .flat_map(|o| o.rules.first())
        .next()
    {
        split.canary_weight = Some(rule.canary_weight);
        split.stable_weight = Some(rule.stable_weight);
    }
    split.matches_desired = first.is_some() && istio_matches && others_match;
    if routers.len() > 1 {
        split.routers = routers.iter().map(|r| r.to_string()).collect();
    }
    Some(split)
}

/// `None` unless the rollout routes traffic with Istio.
fn istio_split(
    ro: &Rollout,
    desired: i32,
    virtual_services: &[&VirtualService],
    destination_rules: &[&DestinationRule],
) -> Option<TrafficSplit> {
    let istio = ro.traffic_routing()?.istio.as_ref()?;
    let namespace = ro.metadata.namespace.as_deref().unwrap_or_default();
    let roles = Roles::of(ro, istio);
    let managed: Vec<String> = ro
        .traffic_routing()
        .and_then(|t| t.managed_routes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|m| m.name.clone())
        .collect();
    let vs_splits: Vec<VirtualServiceSplit> = istio
        .virtual_service_refs()
        .into_iter()
        .map(|r| virtual_service_split(r, namespace, virtual_services, &roles, desired, &managed))
        .collect();
    let routes = || vs_splits.iter().flat_map(|v| v.routes.iter());
    let first = routes().next();
    let all_found = vs_splits.iter().all(|v| v.found && v.error.is_none());
    Some(TrafficSplit {
        desired_canary_weight: desired,
        max_weight: ro.max_traffic_weight(),
        canary_weight: first.map(|r| r.canary_weight),
        stable_weight: first.map(|r| r.stable_weight),
        matches_desired: all_found && first.is_some() && routes().all(|r| r.matches_desired),
        virtual_services: vs_splits,
        destination_rule: istio
            .destination_rule
            .as_ref()
            .map(|dr| destination_rule_subsets(dr, namespace, destination_rules, &roles)),
        ..TrafficSplit::default()
    })
}

/// The Istio objects a rollout names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IstioRefs {
    pub virtual_services: Vec<ObjectKey>,
    pub destination_rule: Option<ObjectKey>,
}

/// The VirtualServices and DestinationRule a rollout names: a change to any
/// of them changes the rollout's traffic split.
pub fn istio_references(ro: &Rollout) -> IstioRefs {
    let Some(istio) = ro.traffic_routing().and_then(|t| t.istio.as_ref()) else {
        return IstioRefs::default();
    };
    let namespace = ro.metadata.namespace.as_deref().unwrap_or_default();
    let key = |name: Option<&str>| {
        let (name, ns) = split_name(name.unwrap_or_default(), namespace);
        ObjectKey::new(ns, name)
    };
    IstioRefs {
        virtual_services: istio
            .virtual_service_refs()
            .into_iter()
            .map(|r| key(r.name.as_deref()))
            .collect(),
        destination_rule: istio
            .destination_rule
            .as_ref()
            .map(|r| key(r.name.as_deref())),
    }
}

/// How a destination is recognised as canary or stable: by the canary and
/// stable Service (host split) or DestinationRule subset names.
struct Roles<'a> {
    canary_service: &'a str,
    stable_service: &'a str,
    canary_subset: &'a str,
    stable_subset: &'a str,
}

impl<'a> Roles<'a> {
    fn of(ro: &'a Rollout, istio: &'a IstioTrafficRouting) -> Self {
        let canary = ro.canary();
        let mut canary_service = canary
            .and_then(|c| c.canary_service.as_deref())
            .unwrap_or_default();
        let mut stable_service = canary
            .and_then(|c| c.stable_service.as_deref())
            .unwrap_or_default();
        // Ping-pong names the services only when both are unset.
        if let Some(pp) = canary.and_then(|c| c.ping_pong.as_ref())
            && canary_service.is_empty()
            && stable_service.is_empty()
        {
            let ping = pp.ping_service.as_deref().unwrap_or_default();
            let pong = pp.pong_service.as_deref().unwrap_or_default();
            if ro.status().stable_ping_pong() == "ping" {
                (stable_service, canary_service) = (ping, pong);
            } else {
                (stable_service, canary_service) = (pong, ping);
            }
        }
        let dr = istio.destination_rule.as_ref();
        Roles {
            canary_service,
            stable_service,
            canary_subset: dr
                .and_then(|d| d.canary_subset_name.as_deref())
                .unwrap_or_default(),
            stable_subset: dr
                .and_then(|d| d.stable_subset_name.as_deref())
                .unwrap_or_default(),
        }
    }

    /// First match wins, as the controller classifies destinations.
    fn classify(&self, host: &str, subset: &str) -> &'static str {
        let short = host.split('.').next().unwrap_or_default();
        let is = |svc: &str, sub: &str| {
            (!short.is_empty() && short == svc) || (!subset.is_empty() && subset == sub)
        };
        if is(self.canary_service, self.canary_subset) {
            "canary"
        } else if is(self.stable_service, self.stable_subset) {
            "stable"
        } else {
            "other"
        }
    }
}

/// `name` may be `name.namespace[.cluster.local]`.
fn split_name<'a>(name: &'a str, default_ns: &'a str) -> (&'a str, &'a str) {
    let trimmed = name.strip_suffix(".cluster.local").unwrap_or(name);
    let trimmed = trimmed.strip_suffix(".svc").unwrap_or(trimmed);
    match trimmed.split_once('.') {
        Some((n, rest)) => (n, rest.rsplit('.').next().unwrap_or(rest)),
        None => (trimmed, default_ns),
    }
}

fn http_of(spec: &crate::model::VirtualServiceSpec) -> &[crate::model::HttpRoute] {
    spec.http.as_deref().unwrap_or_default()
}

/// Each of the rollout's managed routes in the VirtualService, in words:
/// a header route sends its matches to the canary, a mirror route copies
/// them there (reference §7.7).
fn managed_route_texts(
    managed: &[String],
    http: &[crate::model::HttpRoute],
    roles: &Roles<'_>,
) -> Vec<String> {
    let mut out = Vec::new();
    for h in http {
        let name = h.name.as_deref().unwrap_or_default();
        if name.is_empty() || !managed.iter().any(|m| m == name) {
            continue;
        }
        let matches = h
            .match_
            .iter()
            .flatten()
            .map(match_text)
            .collect::<Vec<_>>()
            .join(" or ");
        let matches = if matches.is_empty() {
            "all requests".to_string()
        } else {
            matches
        };
        if let Some(m) = &h.mirror {
            let to = roles.classify(
                m.host.as_deref().unwrap_or_default(),
                m.subset.as_deref().unwrap_or_default(),
            );
            let percent = h
                .mirror_percentage
                .as_ref()
                .and_then(|p| p.value)
                .unwrap_or(100.0);
            out.push(format!(
                "Mirror route {name}: {percent}% of {matches} copied to the {to}"
            ));
        } else {
            let to = h
                .route
                .iter()
                .flatten()
                .filter(|d| d.weight.unwrap_or(0) > 0)
                .map(|d| {
                    let dest = d.destination.as_ref();
                    roles.classify(
                        dest.and_then(|x| x.host.as_deref()).unwrap_or_default(),
                        dest.and_then(|x| x.subset.as_deref()).unwrap_or_default(),
                    )
                })
                .next()
                .unwrap_or("other");
            out.push(format!("Header route {name}: {matches} go to the {to}"));
        }
    }
    out
}

/// One Istio match in words: `x-canary: yes`, `GET /api*`.
fn match_text(m: &serde_json::Value) -> String {
    let value = |v: &serde_json::Value| -> String {
        if let Some(x) = v.get("exact").and_then(|x| x.as_str()) {
            x.to_string()
        } else if let Some(x) = v.get("prefix").and_then(|x| x.as_str()) {
            format!("{x}*")
        } else if let Some(x) = v.get("regex").and_then(|x| x.as_str()) {
            format!("/{x}/")
        } else {
            "?".into()
        }
    };
    let mut parts = Vec::new();
    if let Some(method) = m.get("method") {
        parts.push(value(method));
    }
    if let Some(uri) = m.get("uri") {
        parts.push(value(uri));
    }
    for (k, v) in m
        .get("headers")
        .and_then(|h| h.as_object())
        .into_iter()
        .flatten()
    {
        parts.push(format!("{k}: {}", value(v)));
    }
    let text = parts.join(" ");
    format!(
        "requests with {}",
        if text.is_empty() { "any".into() } else { text }
    )
}

fn virtual_service_split(
    r: &IstioVirtualServiceRef,
    default_ns: &str,
    all: &[&VirtualService],
    roles: &Roles<'_>,
    desired: i32,
    ro_managed: &[String],
) -> VirtualServiceSplit {
    let (name, namespace) = split_name(r.name.as_deref().unwrap_or_default(), default_ns);
    let mut out = VirtualServiceSplit {
        name: name.to_string(),
        namespace: namespace.to_string(),
        ..VirtualServiceSplit::default()
    };
    let Some(vs) = all.iter().find(|v| {
        v.metadata.name.as_deref() == Some(name)
            && v.metadata.namespace.as_deref() == Some(namespace)
    }) else {
        out.error = Some(format!("VirtualService {namespace}/{name} not found"));
        return out;
    };
    out.found = true;
    let spec = vs.spec.clone().unwrap_or_default();
    let route = |name: &str, protocol: &str, dests: &[RouteDestination]| {
        route_split(name, protocol, dests, roles, desired)
    };

    out.managed_routes = managed_route_texts(ro_managed, http_of(&spec), roles);
    let wants_tls = r.tls_routes.as_ref().is_some_and(|t| !t.is_empty());
    let wants_tcp = r.tcp_routes.as_ref().is_some_and(|t| !t.is_empty());
    let named = r.routes.as_deref().unwrap_or_default();
    let http = spec.http.as_deref().unwrap_or_default();
    if !named.is_empty() {
        for n in named {
            match http.iter().find(|h| h.name.as_deref() == Some(n.as_str())) {
                Some(h) => {
                    out.routes
                        .push(route(n, "http", h.route.as_deref().unwrap_or_default()))
                }
                None => {
                    out.error = Some(format!(
                        "HTTP Route '{n}' is not found in the defined Virtual Service."
                    ))
                }
            }
        }
    } else if !wants_tls && !wants_tcp {
        // Unnamed: the only route, or else the first unnamed one.
        let chosen = if http.len() == 1 {
            http.first()
        } else {
            http.iter()
                .find(|h| h.name.as_deref().unwrap_or_default().is_empty())
        };
        match chosen {
            Some(h) => out.routes.push(route(
                h.name.as_deref().unwrap_or_default(),
                "http",
                h.route.as_deref().unwrap_or_default(),
            )),
            None => {
                out.error = Some(
                    "spec.http[] should be set in VirtualService and it must have exactly one route when omitting routes"
                        .to_string(),
                )
            }
        }
    }
    for want in r.tls_routes.as_deref().unwrap_or_default() {
        let want_sni: std::collections::BTreeSet<&str> = want
            .sni_hosts
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        for tls in spec.tls.as_deref().unwrap_or_default() {
            let matches = tls.match_.as_deref().unwrap_or_default();
            let single_port = single_port(matches.iter().map(|m| m.port));
            let sni: std::collections::BTreeSet<&str> = matches
                .iter()
                .flat_map(|m| m.sni_hosts.iter().flatten())
                .map(String::as_str)
                .collect();
            if single_port.is_some() && single_port == want.port && sni == want_sni {
                out.routes
                    .push(route("", "tls", tls.route.as_deref().unwrap_or_default()));
            }
        }
    }
    for want in r.tcp_routes.as_deref().unwrap_or_default() {
        for tcp in spec.tcp.as_deref().unwrap_or_default() {
            let matches = tcp.match_.as_deref().unwrap_or_default();
            let port = single_port(matches.iter().map(|m| m.port));
            if port.is_some() && port == want.port {
                out.routes
                    .push(route("", "tcp", tcp.route.as_deref().unwrap_or_default()));
            }
        }
    }
    out
}

/// The one port all match entries use, if they use exactly one.
fn single_port(ports: impl Iterator<Item = Option<i64>>) -> Option<i64> {
    let set: std::collections::BTreeSet<i64> = ports.flatten().collect();
    if set.len() == 1 {
        set.into_iter().next()
    } else {
        None
    }
}

fn route_split(
    name: &str,
    protocol: &str,
    dests: &[RouteDestination],
    roles: &Roles<'_>,
    desired: i32,
) -> RouteSplit {
    let destinations: Vec<DestinationWeight> = dests
        .iter()
        .map(|d| {
            let dest = d.destination.as_ref();
            let host = dest.and_then(|x| x.host.clone()).unwrap_or_default();
            let subset = dest.and_then(|x| x.subset.clone()).unwrap_or_default();
            DestinationWeight {
                role: roles.classify(&host, &subset).to_string(),
                host,
                subset,
                weight: d.weight.unwrap_or(0),
            }
        })
        .collect();
    let sum = |role: &str| {
        destinations
            .iter()
            .filter(|d| d.role == role)
            .fold(0i32, |acc, d| acc.saturating_add(d.weight))
    };
    let canary_weight = sum("canary");
    let stable_weight = sum("stable");
    let has = |role: &str| destinations.iter().any(|d| d.role == role);
    let others = destinations
        .iter()
        .filter(|d| d.role == "other")
        .fold(0i32, |acc, d| acc.saturating_add(d.weight));
    let stable_target = (ISTIO_TOTAL - desired - others).max(0);
    RouteSplit {
        name: name.to_string(),
        protocol: protocol.to_string(),
        matches_desired: has("canary")
            && has("stable")
            && canary_weight == desired
            && stable_weight == stable_target,
        destinations,
        canary_weight,
        stable_weight,
    }
}

fn destination_rule_subsets(
    r: &crate::model::IstioDestinationRuleRef,
    default_ns: &str,
    all: &[&DestinationRule],
    roles: &Roles<'_>,
) -> DestinationRuleSubsets {
    let (name, namespace) = split_name(r.name.as_deref().unwrap_or_default(), default_ns);
    let found = all.iter().find(|d| {
        d.metadata.name.as_deref() == Some(name)
            && d.metadata.namespace.as_deref() == Some(namespace)
    });
    DestinationRuleSubsets {
        name: name.to_string(),
        namespace: namespace.to_string(),
        found: found.is_some(),
        subsets: found
            .and_then(|d| d.spec.as_ref())
            .and_then(|s| s.subsets.as_ref())
            .map(|subsets| {
                subsets
                    .iter()
                    .map(|s| {
                        let name = s.name.clone().unwrap_or_default();
                        SubsetHash {
                            role: roles.classify("", &name).to_string(),
                            pod_template_hash: s
                                .labels
                                .as_ref()
                                .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
                                .cloned()
                                .unwrap_or_default(),
                            name,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}
