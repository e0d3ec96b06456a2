//! The kinds the dashboard watches, and one watched object of any of them.

use std::fmt;

use serde::Serialize;

use crate::info::PodRecord;
use crate::model::{
    AnalysisRun, Deployment, DestinationRule, Event, Experiment, GatewayRoute, Ingress, ObjectKey,
    ObjectMeta, ReplicaSet, Rollout, RouteKind, VirtualService,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    Rollout,
    ReplicaSet,
    Pod,
    AnalysisRun,
    Experiment,
    VirtualService,
    DestinationRule,
    Deployment,
    Event,
    Ingress,
    HttpRoute,
    GrpcRoute,
    TcpRoute,
    TlsRoute,
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::Rollout,
        Kind::ReplicaSet,
        Kind::Pod,
        Kind::AnalysisRun,
        Kind::Experiment,
        Kind::VirtualService,
        Kind::DestinationRule,
        Kind::Deployment,
        Kind::Event,
        Kind::Ingress,
        Kind::HttpRoute,
        Kind::GrpcRoute,
        Kind::TcpRoute,
        Kind::TlsRoute,
    ];

    /// The Gateway API route kind, for a route.
    pub fn route_kind(self) -> Option<RouteKind> {
        Some(match self {
            Kind::HttpRoute => RouteKind::Http,
            Kind::GrpcRoute => RouteKind::Grpc,
            Kind::TcpRoute => RouteKind::Tcp,
            Kind::TlsRoute => RouteKind::Tls,
            _ => return None,
        })
    }

    pub fn of_route(kind: RouteKind) -> Kind {
        match kind {
            RouteKind::Http => Kind::HttpRoute,
            RouteKind::Grpc => Kind::GrpcRoute,
            RouteKind::Tcp => Kind::TcpRoute,
            RouteKind::Tls => Kind::TlsRoute,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rollout => "Rollout",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Pod => "Pod",
            Kind::AnalysisRun => "AnalysisRun",
            Kind::Experiment => "Experiment",
            Kind::VirtualService => "VirtualService",
            Kind::DestinationRule => "DestinationRule",
            Kind::Deployment => "Deployment",
            Kind::Event => "Event",
            Kind::Ingress => "Ingress",
            Kind::HttpRoute => "HTTPRoute",
            Kind::GrpcRoute => "GRPCRoute",
            Kind::TcpRoute => "TCPRoute",
            Kind::TlsRoute => "TLSRoute",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object as a watcher delivered it.
#[derive(Clone, Debug)]
pub enum Object {
    Rollout(Box<Rollout>),
    ReplicaSet(Box<ReplicaSet>),
    /// A pod is kept as its row: what the dashboard shows of it.
    Pod(Box<PodRecord>),
    AnalysisRun(Box<AnalysisRun>),
    Experiment(Box<Experiment>),
    VirtualService(Box<VirtualService>),
    DestinationRule(Box<DestinationRule>),
    Deployment(Box<Deployment>),
    Event(Box<Event>),
    Ingress(Box<Ingress>),
    Route(Box<GatewayRoute>),
    /// It could not be read as its kind; kept so it can be reported.
    Invalid {
        kind: Kind,
        metadata: Box<ObjectMeta>,
        error: String,
    },
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Rollout(_) => Kind::Rollout,
            Object::ReplicaSet(_) => Kind::ReplicaSet,
            Object::Pod(_) => Kind::Pod,
            Object::AnalysisRun(_) => Kind::AnalysisRun,
            Object::Experiment(_) => Kind::Experiment,
            Object::VirtualService(_) => Kind::VirtualService,
            Object::DestinationRule(_) => Kind::DestinationRule,
            Object::Deployment(_) => Kind::Deployment,
            Object::Event(_) => Kind::Event,
            Object::Ingress(_) => Kind::Ingress,
            Object::Route(r) => Kind::of_route(r.route_kind),
            Object::Invalid { kind, .. } => *kind,
        }
    }

    /// The object's metadata (a pod's record keeps none).
    pub fn metadata(&self) -> Option<&ObjectMeta> {
        Some(match self {
            Object::Rollout(o) => &o.metadata,
            Object::ReplicaSet(o) => &o.metadata,
            Object::Pod(_) => return None,
            Object::AnalysisRun(o) => &o.metadata,
            Object::Experiment(o) => &o.metadata,
            Object::VirtualService(o) => &o.metadata,
            Object::DestinationRule(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::Event(o) => &o.metadata,
            Object::Ingress(o) => &o.metadata,
            Object::Route(o) => &o.metadata,
            Object::Invalid { metadata, .. } => metadata,
        })
    }

    pub fn key(&self) -> ObjectKey {
        match self {
            Object::Pod(pod) => (*pod.key).clone(),
            other => other.metadata().map(ObjectKey::of).unwrap_or_default(),
        }
    }
}
