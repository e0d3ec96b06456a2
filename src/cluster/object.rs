//! The kinds the dashboard watches, and one watched object of any of them.

use std::fmt;

use serde::Serialize;

use crate::info::PodRecord;
use crate::model::{
    AnalysisRun, Deployment, DestinationRule, Event, Experiment, ObjectKey, ObjectMeta, ReplicaSet,
    Rollout, VirtualService,
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
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Rollout,
        Kind::ReplicaSet,
        Kind::Pod,
        Kind::AnalysisRun,
        Kind::Experiment,
        Kind::VirtualService,
        Kind::DestinationRule,
        Kind::Deployment,
        Kind::Event,
    ];

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
            Object::Invalid { metadata, .. } => metadata,
        })
    }

    pub fn key(&self) -> ObjectKey {
        match self {
            Object::Pod(pod) => pod.key(),
            other => other.metadata().map(ObjectKey::of).unwrap_or_default(),
        }
    }
}
