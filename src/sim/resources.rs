//! The resources the simulated API server serves, and how each is addressed.

/// One served resource type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// "" for the core group.
    pub group: &'static str,
    /// Served versions; the first is the preferred one. Objects are stored
    /// once and served under every version (Istio's v1, v1beta1, v1alpha3).
    pub versions: &'static [&'static str],
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub status_subresource: bool,
    pub short_names: &'static [&'static str],
}

impl ResourceType {
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    pub fn serves(&self, group: &str, version: &str) -> bool {
        self.group == group && self.versions.contains(&version)
    }
}

const ISTIO_VERSIONS: &[&str] = &["v1", "v1beta1", "v1alpha3"];

pub static RESOURCES: &[ResourceType] = &[
    ResourceType {
        group: "",
        versions: &["v1"],
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        status_subresource: true,
        short_names: &["ns"],
    },
    ResourceType {
        group: "",
        versions: &["v1"],
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        status_subresource: true,
        short_names: &["po"],
    },
    ResourceType {
        group: "",
        versions: &["v1"],
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        status_subresource: false,
        short_names: &[],
    },
    ResourceType {
        group: "",
        versions: &["v1"],
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        status_subresource: true,
        short_names: &["svc"],
    },
    ResourceType {
        group: "coordination.k8s.io",
        versions: &["v1"],
        plural: "leases",
        singular: "lease",
        kind: "Lease",
        namespaced: true,
        status_subresource: false,
        short_names: &[],
    },
    ResourceType {
        group: "",
        versions: &["v1"],
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        status_subresource: false,
        short_names: &["ev"],
    },
    ResourceType {
        group: "apps",
        versions: &["v1"],
        plural: "replicasets",
        singular: "replicaset",
        kind: "ReplicaSet",
        namespaced: true,
        status_subresource: true,
        short_names: &["rs"],
    },
    ResourceType {
        group: "apps",
        versions: &["v1"],
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        status_subresource: true,
        short_names: &["deploy"],
    },
    ResourceType {
        group: "argoproj.io",
        versions: &["v1alpha1"],
        plural: "rollouts",
        singular: "rollout",
        kind: "Rollout",
        namespaced: true,
        status_subresource: true,
        short_names: &["ro"],
    },
    ResourceType {
        group: "argoproj.io",
        versions: &["v1alpha1"],
        plural: "analysisruns",
        singular: "analysisrun",
        kind: "AnalysisRun",
        namespaced: true,
        status_subresource: false,
        short_names: &["ar"],
    },
    ResourceType {
        group: "argoproj.io",
        versions: &["v1alpha1"],
        plural: "experiments",
        singular: "experiment",
        kind: "Experiment",
        namespaced: true,
        status_subresource: false,
        short_names: &["exp"],
    },
    ResourceType {
        group: "networking.istio.io",
        versions: ISTIO_VERSIONS,
        plural: "virtualservices",
        singular: "virtualservice",
        kind: "VirtualService",
        namespaced: true,
        status_subresource: false,
        short_names: &["vs"],
    },
    ResourceType {
        group: "networking.istio.io",
        versions: ISTIO_VERSIONS,
        plural: "destinationrules",
        singular: "destinationrule",
        kind: "DestinationRule",
        namespaced: true,
        status_subresource: false,
        short_names: &["dr"],
    },
    ResourceType {
        group: "networking.k8s.io",
        versions: &["v1"],
        plural: "ingresses",
        singular: "ingress",
        kind: "Ingress",
        namespaced: true,
        status_subresource: true,
        short_names: &["ing"],
    },
    ResourceType {
        group: "gateway.networking.k8s.io",
        versions: &["v1", "v1beta1"],
        plural: "httproutes",
        singular: "httproute",
        kind: "HTTPRoute",
        namespaced: true,
        status_subresource: true,
        short_names: &[],
    },
    ResourceType {
        group: "gateway.networking.k8s.io",
        versions: &["v1"],
        plural: "grpcroutes",
        singular: "grpcroute",
        kind: "GRPCRoute",
        namespaced: true,
        status_subresource: true,
        short_names: &[],
    },
    ResourceType {
        group: "gateway.networking.k8s.io",
        versions: &["v1alpha2"],
        plural: "tcproutes",
        singular: "tcproute",
        kind: "TCPRoute",
        namespaced: true,
        status_subresource: true,
        short_names: &[],
    },
    ResourceType {
        group: "gateway.networking.k8s.io",
        versions: &["v1alpha2"],
        plural: "tlsroutes",
        singular: "tlsroute",
        kind: "TLSRoute",
        namespaced: true,
        status_subresource: true,
        short_names: &[],
    },
    ResourceType {
        group: "rbac.authorization.k8s.io",
        versions: &["v1"],
        plural: "roles",
        singular: "role",
        kind: "Role",
        namespaced: true,
        status_subresource: false,
        short_names: &[],
    },
    ResourceType {
        group: "rbac.authorization.k8s.io",
        versions: &["v1"],
        plural: "rolebindings",
        singular: "rolebinding",
        kind: "RoleBinding",
        namespaced: true,
        status_subresource: false,
        short_names: &[],
    },
    ResourceType {
        group: "rbac.authorization.k8s.io",
        versions: &["v1"],
        plural: "clusterroles",
        singular: "clusterrole",
        kind: "ClusterRole",
        namespaced: false,
        status_subresource: false,
        short_names: &[],
    },
    ResourceType {
        group: "rbac.authorization.k8s.io",
        versions: &["v1"],
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        kind: "ClusterRoleBinding",
        namespaced: false,
        status_subresource: false,
        short_names: &[],
    },
    // Reviews are answered, never stored (sim/apiserver/reviews.rs).
    ResourceType {
        group: "authentication.k8s.io",
        versions: &["v1"],
        plural: "tokenreviews",
        singular: "tokenreview",
        kind: "TokenReview",
        namespaced: false,
        status_subresource: false,
        short_names: &[],
    },
    ResourceType {
        group: "authorization.k8s.io",
        versions: &["v1"],
        plural: "subjectaccessreviews",
        singular: "subjectaccessreview",
        kind: "SubjectAccessReview",
        namespaced: false,
        status_subresource: false,
        short_names: &[],
    },
    ResourceType {
        group: "authorization.k8s.io",
        versions: &["v1"],
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        kind: "SelfSubjectAccessReview",
        namespaced: false,
        status_subresource: false,
        short_names: &[],
    },
];

/// The resource type served at `group/version` with this plural name.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.plural == plural && r.serves(group, version))
}

/// The resource type of an object's `apiVersion` and `kind`.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.serves(group, version))
}
