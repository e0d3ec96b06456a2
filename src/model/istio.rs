//! `networking.istio.io` VirtualService and DestinationRule: the routes and
//! subsets whose weights Argo Rollouts turns (`trafficRouting.istio`).

use serde::Deserialize;

use super::ObjectMeta;
use super::de;
use super::resource::namespaced_resource;

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct VirtualService {
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: ObjectMeta,
    pub spec: Option<VirtualServiceSpec>,
}
namespaced_resource!(
    VirtualService,
    group = "networking.istio.io",
    version = "v1",
    kind = "VirtualService",
    plural = "virtualservices"
);

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct VirtualServiceSpec {
    pub hosts: Option<Vec<String>>,
    pub http: Option<Vec<HttpRoute>>,
    pub tls: Option<Vec<TlsRoute>>,
    pub tcp: Option<Vec<TcpRoute>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    pub name: Option<String>,
    /// Request matches, kept as written (shown for managed routes).
    #[serde(rename = "match")]
    pub match_: Option<Vec<serde_json::Value>>,
    pub route: Option<Vec<RouteDestination>>,
    pub mirror: Option<IstioDestination>,
    pub mirror_percentage: Option<MirrorPercentage>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct MirrorPercentage {
    pub value: Option<f64>,
}

/// A TLS route; `match` entries decide which rollout `tlsRoutes` entry it is.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct TlsRoute {
    #[serde(rename = "match")]
    pub match_: Option<Vec<L4Match>>,
    pub route: Option<Vec<RouteDestination>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct TcpRoute {
    #[serde(rename = "match")]
    pub match_: Option<Vec<L4Match>>,
    pub route: Option<Vec<RouteDestination>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L4Match {
    pub port: Option<i64>,
    pub sni_hosts: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct RouteDestination {
    pub destination: Option<IstioDestination>,
    pub weight: Option<i32>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct IstioDestination {
    pub host: Option<String>,
    pub subset: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct DestinationRule {
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: ObjectMeta,
    pub spec: Option<DestinationRuleSpec>,
}
namespaced_resource!(
    DestinationRule,
    group = "networking.istio.io",
    version = "v1",
    kind = "DestinationRule",
    plural = "destinationrules"
);

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct DestinationRuleSpec {
    pub host: Option<String>,
    pub subsets: Option<Vec<Subset>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Subset {
    pub name: Option<String>,
    pub labels: Option<std::collections::BTreeMap<String, String>>,
}
