//! Argo CD's declarative cluster Secrets, read as Argo CD reads them: a
//! Secret labelled `argocd.argoproj.io/secret-type: cluster` whose data
//! holds `name`, `server` and `config` (JSON: `bearerToken`, `username` and
//! `password`, `tlsClientConfig`, `execProviderConfig`, `awsAuthConfig`).
//! Pure: a Secret in, the cluster's name and connection out, or why not.

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

/// The label Argo CD finds its cluster Secrets by.
pub const CLUSTER_SECRET_LABEL: &str = "argocd.argoproj.io/secret-type=cluster";
/// The server Argo CD calls the cluster it runs in.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";

/// One cluster an Argo CD Secret names.
#[derive(Clone, Debug)]
pub struct ArgoCluster {
    /// Its `name` (or its server when unnamed), as people know it.
    pub name: String,
    pub server: String,
    pub config: kube::Config,
    /// The Secret it came from (`namespace/name`), for messages, and its
    /// resourceVersion (another version is another cluster to make).
    pub secret: String,
    pub version: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterConfig {
    #[serde(default)]
    bearer_token: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    tls_client_config: TlsClientConfig,
    #[serde(default)]
    exec_provider_config: Option<ExecProviderConfig>,
    #[serde(default)]
    aws_auth_config: Option<AwsAuthConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlsClientConfig {
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    server_name: Option<String>,
    /// Base64 of PEM, as in a kubeconfig's `*-data` fields.
    #[serde(default)]
    ca_data: Option<String>,
    #[serde(default)]
    cert_data: Option<String>,
    #[serde(default)]
    key_data: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecProviderConfig {
    command: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    api_version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AwsAuthConfig {
    cluster_name: String,
    #[serde(default, rename = "roleARN")]
    role_arn: Option<String>,
    #[serde(default)]
    profile: Option<String>,
}

/// A Secret's `data` field, decoded (Kubernetes keeps data base64).
fn data(secret: &Value, key: &str) -> Option<String> {
    let b64 = secret.pointer(&format!("/data/{key}"))?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(bytes).ok()
}

/// The cluster `secret` names; `None` for the in-cluster entry (the
/// dashboard's own cluster is already shown); an error saying what is wrong.
pub fn cluster_of_secret(secret: &Value) -> Result<Option<ArgoCluster>, String> {
    let id = format!(
        "{}/{}",
        secret
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        secret
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    );
    let server = data(secret, "server").ok_or_else(|| format!("Secret {id} has no server"))?;
    let server = server.trim().to_string();
    if server.trim_end_matches('/') == IN_CLUSTER_SERVER {
        return Ok(None);
    }
    let name = data(secret, "name")
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| server.clone());
    let config: ClusterConfig = match data(secret, "config") {
        Some(text) if !text.trim().is_empty() => serde_json::from_str(&text)
            .map_err(|e| format!("Secret {id}: its config is not Argo CD's cluster config: {e}"))?,
        _ => ClusterConfig::default(),
    };
    let url = server
        .parse::<axum::http::Uri>()
        .map_err(|e| format!("Secret {id}: server {server:?} is not a URL: {e}"))?;
    let mut kc = kube::Config::new(url);
    kc.accept_invalid_certs = config.tls_client_config.insecure;
    kc.tls_server_name = config.tls_client_config.server_name.clone();
    if let Some(ca) = &config.tls_client_config.ca_data {
        kc.root_cert = Some(pem_certificates(ca).map_err(|e| format!("Secret {id}: caData: {e}"))?);
    }
    let auth = &mut kc.auth_info;
    auth.client_certificate_data = config.tls_client_config.cert_data.clone();
    auth.client_key_data = config
        .tls_client_config
        .key_data
        .clone()
        .map(secrecy::SecretString::from);
    auth.token = config.bearer_token.clone().map(secrecy::SecretString::from);
    auth.username = config.username.clone();
    auth.password = config.password.clone().map(secrecy::SecretString::from);
    auth.exec = exec_of(&config).map_err(|e| format!("Secret {id}: {e}"))?;
    Ok(Some(ArgoCluster {
        name,
        server,
        config: kc,
        secret: id,
        version: secret
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    }))
}

/// How to get a token: the Secret's command, or for AWS what Argo CD runs
/// (`argocd-k8s-auth aws`) as the AWS CLI says it. Made as a kubeconfig's
/// `exec` section says it (kube reads it so).
fn exec_of(config: &ClusterConfig) -> Result<Option<kube::config::ExecConfig>, String> {
    let v1beta1 = "client.authentication.k8s.io/v1beta1";
    let exec = if let Some(e) = &config.exec_provider_config {
        let env: Vec<Value> = e
            .env
            .iter()
            .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
            .collect();
        serde_json::json!({
            "apiVersion": e.api_version.as_deref().unwrap_or(v1beta1),
            "command": e.command, "args": e.args, "env": env,
        })
    } else if let Some(aws) = &config.aws_auth_config {
        let mut args = vec![
            "eks",
            "get-token",
            "--cluster-name",
            aws.cluster_name.as_str(),
            "--output",
            "json",
        ];
        if let Some(role) = &aws.role_arn {
            args.extend(["--role-arn", role.as_str()]);
        }
        let env: Vec<Value> = aws
            .profile
            .iter()
            .map(|p| serde_json::json!({"name": "AWS_PROFILE", "value": p}))
            .collect();
        serde_json::json!({"apiVersion": v1beta1, "command": "aws", "args": args, "env": env})
    } else {
        return Ok(None);
    };
    serde_json::from_value(exec)
        .map(Some)
        .map_err(|e| format!("its exec or AWS configuration: {e}"))
}

/// The DER certificates of base64 PEM (kubeconfig's `certificate-authority-data`).
fn pem_certificates(b64: &str) -> Result<Vec<Vec<u8>>, String> {
    let pem = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    let text = String::from_utf8(pem).map_err(|_| "not PEM text".to_string())?;
    let mut certs = Vec::new();
    let mut inside: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            inside = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            let body = inside.take().unwrap_or_default();
            certs.push(
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .map_err(|e| format!("a certificate is not base64: {e}"))?,
            );
        } else if let Some(body) = inside.as_mut() {
            body.push_str(line);
        }
    }
    if certs.is_empty() {
        return Err("no certificate in it".to_string());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(data: &[(&str, &str)]) -> Value {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| (k.to_string(), json!(b64(v))))
            .collect();
        json!({"metadata": {"namespace": "argocd", "name": "prod-eu",
                            "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
               "data": data})
    }

    #[test]
    fn a_cluster_secret_is_read_as_argo_cd_reads_it() {
        let s = secret(&[
            ("name", "prod-eu"),
            ("server", "https://10.0.0.1:6443"),
            (
                "config",
                r#"{"bearerToken":"abc","tlsClientConfig":{"insecure":true,"serverName":"api.prod"}}"#,
            ),
        ]);
        let c = cluster_of_secret(&s)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("a cluster"));
        assert_eq!(c.name, "prod-eu");
        assert_eq!(c.server, "https://10.0.0.1:6443");
        assert_eq!(c.secret, "argocd/prod-eu");
        assert!(c.config.accept_invalid_certs);
        assert_eq!(c.config.tls_server_name.as_deref(), Some("api.prod"));
        use secrecy::ExposeSecret;
        assert_eq!(
            c.config
                .auth_info
                .token
                .as_ref()
                .map(|t| t.expose_secret().to_string())
                .as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn aws_and_exec_configs_become_kubeconfig_exec_sections() {
        let s = secret(&[
            ("server", "https://eks.example"),
            (
                "config",
                r#"{"awsAuthConfig":{"clusterName":"prod","roleARN":"arn:aws:iam::1:role/r","profile":"ops"}}"#,
            ),
        ]);
        let c = cluster_of_secret(&s)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("a cluster"));
        assert_eq!(c.name, "https://eks.example", "unnamed: its server");
        let exec = c.config.auth_info.exec.unwrap_or_else(|| panic!("exec"));
        assert_eq!(exec.command.as_deref(), Some("aws"));
        assert_eq!(
            exec.args.unwrap_or_default(),
            [
                "eks",
                "get-token",
                "--cluster-name",
                "prod",
                "--output",
                "json",
                "--role-arn",
                "arn:aws:iam::1:role/r"
            ]
        );
        let s = secret(&[
            ("server", "https://gke.example"),
            (
                "config",
                r#"{"execProviderConfig":{"command":"gke-gcloud-auth-plugin","apiVersion":"client.authentication.k8s.io/v1beta1"}}"#,
            ),
        ]);
        let c = cluster_of_secret(&s)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("a cluster"));
        let exec = c.config.auth_info.exec.unwrap_or_else(|| panic!("exec"));
        assert_eq!(exec.command.as_deref(), Some("gke-gcloud-auth-plugin"));
    }

    #[test]
    fn the_in_cluster_entry_and_broken_secrets() {
        let s = secret(&[
            ("name", "in-cluster"),
            ("server", "https://kubernetes.default.svc"),
        ]);
        assert!(
            matches!(cluster_of_secret(&s), Ok(None)),
            "the dashboard's own cluster"
        );
        let e = cluster_of_secret(&secret(&[("name", "x")]))
            .err()
            .unwrap_or_default();
        assert!(e.contains("has no server"), "{e}");
        let e = cluster_of_secret(&secret(&[("server", "https://a"), ("config", "{not json")]))
            .err()
            .unwrap_or_default();
        assert!(e.contains("not Argo CD's cluster config"), "{e}");
        let e = cluster_of_secret(&secret(&[
            ("server", "https://a"),
            (
                "config",
                r#"{"tlsClientConfig":{"caData":"bm90IGEgY2VydA=="}}"#,
            ),
        ]))
        .err()
        .unwrap_or_default();
        assert!(e.contains("caData: no certificate"), "{e}");
    }
}
