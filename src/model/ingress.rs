//! `networking.k8s.io/v1` Ingress: where NGINX's canary weight
//! (`trafficRouting.nginx`: the canary Ingress's annotations) and ALB's
//! (`trafficRouting.alb`: the `actions.<service>` annotation) are kept.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ObjectMeta;
use super::de;
use super::resource::namespaced_resource;

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Ingress {
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: ObjectMeta,
    pub spec: Option<IngressSpec>,
}
namespaced_resource!(
    Ingress,
    group = "networking.k8s.io",
    version = "v1",
    kind = "Ingress",
    plural = "ingresses"
);

impl Ingress {
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.metadata.annotations.as_ref().unwrap_or(&NONE)
    }

    /// Every Service its rules send to.
    pub fn backend_services(&self) -> Vec<&str> {
        self.spec
            .iter()
            .flat_map(|s| s.rules.iter().flatten())
            .flat_map(|r| r.http.iter().flat_map(|h| h.paths.iter().flatten()))
            .filter_map(|p| p.backend.as_ref()?.service.as_ref()?.name.as_deref())
            .collect()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    pub ingress_class_name: Option<String>,
    pub rules: Option<Vec<IngressRule>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct IngressRule {
    pub host: Option<String>,
    pub http: Option<HttpIngressRule>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct HttpIngressRule {
    pub paths: Option<Vec<IngressPath>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct IngressPath {
    pub path: Option<String>,
    pub backend: Option<IngressBackend>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct IngressBackend {
    pub service: Option<IngressServiceBackend>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct IngressServiceBackend {
    pub name: Option<String>,
}
