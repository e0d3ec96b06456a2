//! A kubeconfig that points kubectl and kube-rs at the simulated cluster.

use std::net::SocketAddr;

pub const CONTEXT: &str = "rollouts-dashboard-sim";

/// Without `logins`, one anonymous context; with `(user, token)` pairs (from
/// `--users`), one context per user named after it, the first current.
/// With `tls`, the server is `https://` and trusted through the built-in CA.
pub fn kubeconfig_yaml(
    addr: SocketAddr,
    namespace: &str,
    logins: &[(String, String)],
    tls: bool,
) -> String {
    // Listening on every address: reach it (and match the certificate) on loopback.
    let addr = if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    };
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
    let cluster = if tls {
        use base64::Engine;
        // The TLS listener fails to start with the same error if there is none.
        let ca = base64::engine::general_purpose::STANDARD
            .encode(super::apiserver::tls::ca_pem().unwrap_or_default());
        format!("    server: https://{addr}\n    certificate-authority-data: {ca}\n")
    } else {
        format!("    server: http://{addr}\n")
    };
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
{cluster}contexts:
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
