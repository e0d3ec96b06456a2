//! Kubernetes RBAC over the Roles, ClusterRoles and their bindings held in
//! the simulated cluster: the same rule matching as the real authorizer
//! (apiGroups, resources with `resource/subresource`, verbs, resourceNames,
//! `*` wildcards; subjects User, Group, ServiceAccount), without aggregation
//! or non-resource URLs.

use serde_json::Value;

use super::users::UserInfo;
use crate::sim::resources::RESOURCES;
use crate::sim::store::{Filter, Store};

/// What a request does, as the authorizer sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    /// `None`: cluster-scoped, or across all namespaces.
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl Attributes {
    /// `rollouts/status`, or `rollouts`.
    fn resource_path(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// The API server's words when it refuses `user`.
    pub fn forbidden_message(&self, user: &str) -> String {
        let what = match (&self.name, self.group.as_str()) {
            (Some(n), "") => format!("{} \"{n}\"", self.resource),
            (Some(n), g) => format!("{}.{g} \"{n}\"", self.resource),
            (None, "") => self.resource.clone(),
            (None, g) => format!("{}.{g}", self.resource),
        };
        let scope = match &self.namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        format!(
            "{what} is forbidden: User \"{user}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
            self.verb,
            self.resource_path(),
            self.group
        )
    }
}

/// Whether `user` may do `attrs`, and by which binding (the reason a
/// SubjectAccessReview reports).
pub fn authorize(store: &Store, user: &UserInfo, attrs: &Attributes) -> Result<String, String> {
    // As in a real cluster, system:masters is never refused.
    if user.groups.iter().any(|g| g == "system:masters") {
        return Ok("allowed as a member of system:masters".to_string());
    }
    let objects = |plural: &str| {
        RESOURCES
            .iter()
            .find(|r| r.plural == plural && r.group == "rbac.authorization.k8s.io")
            .and_then(|rt| store.list(rt, &Filter::default(), None, None).ok())
            .map(|page| page.items)
            .unwrap_or_default()
    };
    let cluster_roles = objects("clusterroles");
    let cluster_role = |name: &str| {
        cluster_roles
            .iter()
            .find(|r| str_at(r, "/metadata/name") == Some(name))
            .cloned()
    };
    for binding in objects("clusterrolebindings") {
        if binds(&binding, user, None)
            && role_ref(&binding, "ClusterRole")
                .and_then(cluster_role)
                .is_some_and(|role| allows(&role, attrs))
        {
            return Ok(format!(
                "allowed by ClusterRoleBinding \"{}\"",
                str_at(&binding, "/metadata/name").unwrap_or_default()
            ));
        }
    }
    let Some(ns) = attrs.namespace.as_deref() else {
        return Err(String::new());
    };
    let roles = objects("roles");
    for binding in objects("rolebindings") {
        if str_at(&binding, "/metadata/namespace") != Some(ns) || !binds(&binding, user, Some(ns)) {
            continue;
        }
        let role = if let Some(name) = role_ref(&binding, "Role") {
            roles
                .iter()
                .find(|r| {
                    str_at(r, "/metadata/name") == Some(name)
                        && str_at(r, "/metadata/namespace") == Some(ns)
                })
                .cloned()
        } else {
            role_ref(&binding, "ClusterRole").and_then(cluster_role)
        };
        if role.is_some_and(|role| allows(&role, attrs)) {
            return Ok(format!(
                "allowed by RoleBinding \"{}/{ns}\"",
                str_at(&binding, "/metadata/name").unwrap_or_default()
            ));
        }
    }
    Err(String::new())
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The role a binding names, when it is of `kind`.
fn role_ref<'a>(binding: &'a Value, kind: &str) -> Option<&'a str> {
    (str_at(binding, "/roleRef/kind") == Some(kind))
        .then(|| str_at(binding, "/roleRef/name"))
        .flatten()
}

/// Whether one of the binding's subjects is `user`. A ServiceAccount
/// subject without a namespace takes the binding's (`binding_ns`).
fn binds(binding: &Value, user: &UserInfo, binding_ns: Option<&str>) -> bool {
    let subjects = binding.get("subjects").and_then(Value::as_array);
    subjects.into_iter().flatten().any(|s| {
        let name = str_at(s, "/name").unwrap_or_default();
        match str_at(s, "/kind") {
            Some("User") => name == user.name,
            Some("Group") => user.groups.iter().any(|g| g == name),
            Some("ServiceAccount") => {
                let ns = str_at(s, "/namespace").or(binding_ns).unwrap_or_default();
                user.name == format!("system:serviceaccount:{ns}:{name}")
            }
            _ => false,
        }
    })
}

fn allows(role: &Value, attrs: &Attributes) -> bool {
    let rules = role.get("rules").and_then(Value::as_array);
    rules.into_iter().flatten().any(|rule| {
        let has = |field: &str, want: &str| {
            strings(rule.get(field))
                .iter()
                .any(|v| *v == "*" || *v == want)
        };
        let resource_ok = {
            let listed = strings(rule.get("resources"));
            let path = attrs.resource_path();
            listed.iter().any(|r| {
                *r == "*"
                    || *r == path
                    || (attrs.subresource.is_empty() && *r == attrs.resource)
                    || r.strip_prefix("*/")
                        .is_some_and(|sub| sub == attrs.subresource && !sub.is_empty())
            })
        };
        let names = strings(rule.get("resourceNames"));
        let name_ok = names.is_empty() || attrs.name.as_deref().is_some_and(|n| names.contains(&n));
        has("apiGroups", &attrs.group) && resource_ok && has("verbs", &attrs.verb) && name_ok
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::sim::clock::SimClock;
    use crate::sim::resources::by_kind;

    fn store(objects: &[Value]) -> Store {
        let store = Store::new(Arc::new(SimClock::default()));
        for o in objects {
            let rt = by_kind(
                o["apiVersion"].as_str().unwrap(),
                o["kind"].as_str().unwrap(),
            )
            .unwrap();
            let ns = o["metadata"]["namespace"].as_str().unwrap_or_default();
            store.create(rt, ns, o.clone(), false).unwrap();
        }
        store
    }

    fn rbac(kind: &str, name: &str, ns: Option<&str>, extra: Value) -> Value {
        let mut o = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                           "metadata": {"name": name}});
        if let Some(ns) = ns {
            o["metadata"]["namespace"] = json!(ns);
        }
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        o
    }

    fn attrs(
        verb: &str,
        resource: &str,
        sub: &str,
        ns: Option<&str>,
        name: Option<&str>,
    ) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: "argoproj.io".into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.map(String::from),
            name: name.map(String::from),
        }
    }

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        UserInfo::authenticated(name, "", &groups)
    }

    #[test]
    fn a_group_bound_in_one_namespace_acts_only_there() {
        let s = store(&[
            rbac(
                "ClusterRole",
                "rollouts-operator",
                None,
                json!({"rules": [
                {"apiGroups": ["argoproj.io"], "resources": ["rollouts"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["argoproj.io"], "resources": ["rollouts/status"], "verbs": ["patch"]}]}),
            ),
            rbac(
                "RoleBinding",
                "team-a-ops",
                Some("team-a"),
                json!({
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "rollouts-operator"},
                "subjects": [{"kind": "Group", "name": "team-a"}]}),
            ),
        ]);
        let alice = user("alice", &["team-a"]);
        assert!(
            authorize(
                &s,
                &alice,
                &attrs("list", "rollouts", "", Some("team-a"), None)
            )
            .is_ok()
        );
        assert!(
            authorize(
                &s,
                &alice,
                &attrs("patch", "rollouts", "status", Some("team-a"), Some("x"))
            )
            .is_ok()
        );
        assert!(
            authorize(
                &s,
                &alice,
                &attrs("patch", "rollouts", "", Some("team-a"), Some("x"))
            )
            .is_err(),
            "status only"
        );
        assert!(
            authorize(
                &s,
                &alice,
                &attrs("list", "rollouts", "", Some("team-b"), None)
            )
            .is_err()
        );
        assert!(
            authorize(&s, &alice, &attrs("list", "rollouts", "", None, None)).is_err(),
            "not cluster-wide"
        );
        assert!(
            authorize(
                &s,
                &user("bob", &["viewers"]),
                &attrs("list", "rollouts", "", Some("team-a"), None)
            )
            .is_err()
        );
    }

    #[test]
    fn cluster_bindings_wildcards_names_and_service_accounts() {
        let s = store(&[
            rbac(
                "ClusterRole",
                "impersonator",
                None,
                json!({"rules": [
                {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["alice"]}]}),
            ),
            rbac(
                "ClusterRole",
                "admin",
                None,
                json!({"rules": [
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
            ),
            rbac(
                "ClusterRoleBinding",
                "dash",
                None,
                json!({
                "roleRef": {"kind": "ClusterRole", "name": "impersonator"},
                "subjects": [{"kind": "ServiceAccount", "name": "dash", "namespace": "tools"}]}),
            ),
            rbac(
                "ClusterRoleBinding",
                "root",
                None,
                json!({
                "roleRef": {"kind": "ClusterRole", "name": "admin"},
                "subjects": [{"kind": "User", "name": "root"}]}),
            ),
        ]);
        let sa = user("system:serviceaccount:tools:dash", &[]);
        let imp = |name: &str| Attributes {
            verb: "impersonate".into(),
            resource: "users".into(),
            name: Some(name.into()),
            ..Attributes::default()
        };
        assert!(authorize(&s, &sa, &imp("alice")).is_ok());
        assert!(
            authorize(&s, &sa, &imp("root")).is_err(),
            "resourceNames limit it"
        );
        assert!(
            authorize(
                &s,
                &user("root", &[]),
                &attrs("delete", "rollouts", "status", Some("x"), Some("y"))
            )
            .is_ok()
        );
        assert!(
            authorize(
                &s,
                &user("system:serviceaccount:other:dash", &[]),
                &imp("alice")
            )
            .is_err()
        );
    }

    #[test]
    fn refusals_read_like_the_api_servers() {
        assert_eq!(
            attrs("patch", "rollouts", "status", Some("team-b"), Some("web"))
                .forbidden_message("alice"),
            "rollouts.argoproj.io \"web\" is forbidden: User \"alice\" cannot patch resource \"rollouts/status\" in API group \"argoproj.io\" in the namespace \"team-b\""
        );
        let list_pods = Attributes {
            verb: "list".into(),
            resource: "pods".into(),
            ..Attributes::default()
        };
        assert_eq!(
            list_pods.forbidden_message("bob"),
            "pods is forbidden: User \"bob\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
        );
    }
}
