//! A kubeconfig that points kubectl and kube-rs at the simulated cluster.

use std::net::SocketAddr;

pub const CONTEXT: &str = "rollouts-dashboard-sim";

pub fn kubeconfig_yaml(addr: SocketAddr, namespace: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: http://{addr}
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}
    namespace: {namespace}
current-context: {CONTEXT}
users:
- name: {CONTEXT}
  user: {{}}
"
    )
}
