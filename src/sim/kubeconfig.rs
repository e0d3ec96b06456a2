//! A kubeconfig that points kubectl and kube-rs at the simulated cluster.

use std::net::SocketAddr;

pub const CONTEXT: &str = "rollouts-dashboard-sim";

/// Without `logins`, one anonymous context; with `(user, token)` pairs (from
/// `--users`), one context per user named after it, the first current.
pub fn kubeconfig_yaml(addr: SocketAddr, namespace: &str, logins: &[(String, String)]) -> String {
    let mut contexts = String::new();
    let mut users = String::new();
    if logins.is_empty() {
        contexts.push_str(&context(CONTEXT, CONTEXT, namespace));
        users.push_str(&format!("- name: {CONTEXT}\n  user: {{}}\n"));
    }
    for (user, token) in logins {
        let name = quoted(user);
        contexts.push_str(&context(&name, &name, namespace));
        users.push_str(&format!(
            "- name: {name}\n  user:\n    token: {}\n",
            quoted(token)
        ));
    }
    let current = logins
        .first()
        .map_or_else(|| CONTEXT.to_string(), |(user, _)| quoted(user));
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: http://{addr}
contexts:
{contexts}current-context: {current}
users:
{users}"
    )
}

fn context(name: &str, user: &str, namespace: &str) -> String {
    format!(
        "- name: {name}\n  context:\n    cluster: {CONTEXT}\n    user: {user}\n    namespace: {namespace}\n"
    )
}

/// A YAML double-quoted scalar (names such as `system:serviceaccount:a:b`).
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}
