//! A slim `v1` Pod: what kubectl's STATUS/READY/RESTARTS columns need.

use serde::Deserialize;

use super::ObjectMeta;
use super::de;
use super::resource::namespaced_resource;

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Pod {
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: ObjectMeta,
    pub spec: Option<PodSpec>,
    pub status: Option<PodStatus>,
}
namespaced_resource!(
    Pod,
    group = "",
    version = "v1",
    kind = "Pod",
    plural = "pods"
);

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    pub containers: Option<Vec<PodContainer>>,
    pub init_containers: Option<Vec<PodContainer>>,
}

/// Only the name and, for init containers, `restartPolicy: Always` (a sidecar).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodContainer {
    pub name: Option<String>,
    pub restart_policy: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    pub phase: Option<String>,
    pub reason: Option<String>,
    pub init_container_statuses: Option<Vec<ContainerStatus>>,
    pub container_statuses: Option<Vec<ContainerStatus>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: Option<String>,
    pub ready: Option<bool>,
    pub started: Option<bool>,
    pub restart_count: Option<i32>,
    pub state: Option<ContainerState>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ContainerState {
    pub waiting: Option<StateWaiting>,
    /// Only whether it is there: its `startedAt` map would cost a few
    /// hundred bytes per container across every pod in the cluster.
    pub running: Option<Present>,
    pub terminated: Option<StateTerminated>,
}

/// A field whose content is skipped: only its presence is kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Present;

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Present)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct StateWaiting {
    pub reason: Option<String>,
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateTerminated {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
}
