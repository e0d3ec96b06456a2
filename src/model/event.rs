//! A slim `v1` Event: what the detail page lists under "recent events".

use serde::Deserialize;

use super::de;
use super::resource::namespaced_resource;
use super::{ObjectMeta, Time};

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: ObjectMeta,
    pub involved_object: Option<InvolvedObject>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub count: Option<i32>,
    pub first_timestamp: Option<Time>,
    pub last_timestamp: Option<Time>,
    /// Set instead of the timestamps by `events.k8s.io` writers.
    pub event_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime>,
}
namespaced_resource!(
    Event,
    group = "",
    version = "v1",
    kind = "Event",
    plural = "events"
);

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvolvedObject {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub uid: Option<String>,
}

impl Event {
    /// When it last happened: `lastTimestamp`, else `eventTime`, else
    /// `firstTimestamp`, else creation.
    pub fn last_seen(&self) -> Option<jiff::Timestamp> {
        self.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| self.event_time.as_ref().map(|t| t.0))
            .or_else(|| self.first_timestamp.as_ref().map(|t| t.0))
            .or_else(|| self.metadata.creation_timestamp.as_ref().map(|t| t.0))
    }
}
