//! Gateway API routes (`gateway.networking.k8s.io`): HTTPRoute and
//! GRPCRoute (v1), TCPRoute and TLSRoute (v1alpha2). The Gateway API
//! plugin of Argo Rollouts sets the canary and stable backendRefs' weights
//! in their rules. The four kinds share the shape read here.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ObjectMeta;
use super::de;

/// Which route kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteKind {
    #[default]
    Http,
    Grpc,
    Tcp,
    Tls,
}

impl RouteKind {
    pub const ALL: [RouteKind; 4] = [
        RouteKind::Http,
        RouteKind::Grpc,
        RouteKind::Tcp,
        RouteKind::Tls,
    ];

    pub fn kind(self) -> &'static str {
        match self {
            RouteKind::Http => "HTTPRoute",
            RouteKind::Grpc => "GRPCRoute",
            RouteKind::Tcp => "TCPRoute",
            RouteKind::Tls => "TLSRoute",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            RouteKind::Http => "httproutes",
            RouteKind::Grpc => "grpcroutes",
            RouteKind::Tcp => "tcproutes",
            RouteKind::Tls => "tlsroutes",
        }
    }

    /// The plugin's configuration keys: one name, and a list.
    pub fn config_keys(self) -> (&'static str, &'static str, &'static str) {
        match self {
            RouteKind::Http => ("httpRoute", "httpRoutes", "httpRouteSelector"),
            RouteKind::Grpc => ("grpcRoute", "grpcRoutes", "grpcRouteSelector"),
            RouteKind::Tcp => ("tcpRoute", "tcpRoutes", "tcpRouteSelector"),
            RouteKind::Tls => ("tlsRoute", "tlsRoutes", "tlsRouteSelector"),
        }
    }
}

/// The Gateway API group.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct GatewayRoute {
    /// Set by the dashboard as it reads it (the object's own `kind` field
    /// is not always sent in watch events).
    #[serde(skip)]
    pub route_kind: RouteKind,
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: ObjectMeta,
    pub spec: Option<GatewayRouteSpec>,
}

impl GatewayRoute {
    pub fn labels(&self) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.metadata.labels.as_ref().unwrap_or(&NONE)
    }

    pub fn rules(&self) -> &[RouteRule] {
        self.spec
            .as_ref()
            .and_then(|s| s.rules.as_deref())
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct GatewayRouteSpec {
    pub rules: Option<Vec<RouteRule>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteRule {
    pub name: Option<String>,
    /// HTTP and gRPC matches, kept as they are (shown as text).
    pub matches: Option<Vec<serde_json::Value>>,
    pub backend_refs: Option<Vec<BackendRef>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct BackendRef {
    pub name: Option<String>,
    pub weight: Option<i32>,
}
