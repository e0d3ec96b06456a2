use serde::Deserialize;

use super::ObjectMeta;

/// The parts of a pod template the dashboard shows: labels and images.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplate {
    pub metadata: Option<ObjectMeta>,
    pub spec: Option<PodTemplateSpec>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    pub containers: Option<Vec<Container>>,
    pub init_containers: Option<Vec<Container>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Container {
    pub name: Option<String>,
    pub image: Option<String>,
}

impl PodTemplate {
    pub fn containers(&self) -> &[Container] {
        self.spec
            .as_ref()
            .and_then(|s| s.containers.as_deref())
            .unwrap_or_default()
    }

    pub fn init_containers(&self) -> &[Container] {
        self.spec
            .as_ref()
            .and_then(|s| s.init_containers.as_deref())
            .unwrap_or_default()
    }
}
