//! What every outbound HTTP client of the dashboard shares (the identity
//! provider, Prometheus): the client, its trust roots, and why a call
//! failed (`CallError`, its cause kept). The Kubernetes API has kube-rs' own.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// An HTTP/1 client over rustls.
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client trusting the system's roots plus `ca_pem`; plain `http://` too
/// unless `https_only`. Connecting gives up after `connect_timeout`.
pub fn http_client(
    ca_pem: Option<&[u8]>,
    https_only: bool,
    connect_timeout: Duration,
) -> Result<HttpClient, String> {
    let tls = client_tls(ca_pem)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
    let connector = if https_only {
        builder.https_only().enable_http1().wrap_connector(http)
    } else {
        builder.https_or_http().enable_http1().wrap_connector(http)
    };
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// A TLS client configuration trusting the system's roots plus `ca_pem`
/// (PEM certificates, e.g. `--oidc-ca-file`, `--prometheus-ca-file`).
pub fn client_tls(ca_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(native_roots());
    if let Some(pem) = ca_pem {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("the CA file is not PEM certificates: {e}"))?;
        if certs.is_empty() {
            return Err("the CA file holds no certificate".to_string());
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("the CA file holds a certificate rustls refuses: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The system's trusted roots (none on a machine without them: then only
/// the given CA file is trusted).
fn native_roots() -> Vec<CertificateDer<'static>> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::debug!(error = %e, "a system CA certificate could not be read");
    }
    found.certs
}

/// An error with its causes, for a message that says what went wrong.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Sends `req` and reads its answer (at most `max_body` bytes) within
/// `within`: the status and the body. `url` names it in errors.
pub async fn exchange(
    client: &HttpClient,
    url: &str,
    req: hyper::Request<Full<Bytes>>,
    max_body: usize,
    within: Duration,
) -> Result<(hyper::StatusCode, Bytes), CallError> {
    use http_body_util::{BodyExt, Limited};
    let call = async {
        let res = client
            .request(req)
            .await
            .map_err(|source| CallError::Unreachable {
                url: url.to_string(),
                source,
            })?;
        let status = res.status();
        let body = Limited::new(res.into_body(), max_body)
            .collect()
            .await
            .map_err(|source| CallError::Read {
                url: url.to_string(),
                source,
            })?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(within, call)
        .await
        .map_err(|_| CallError::Timeout {
            url: url.to_string(),
            after: within,
        })?
}

/// Why a call to a service outside the cluster failed. `url` is as people
/// may see it (no credentials).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{url}: {source}")]
    Request {
        url: String,
        #[source]
        source: hyper::http::Error,
    },
    #[error("{url} is unreachable: {}", error_chain(source))]
    Unreachable {
        url: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    #[error("{url}: reading the answer: {source}")]
    Read {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An error status, or a body that is not what it should be: what it
    /// said (cut).
    #[error("{url} answered {status}: {said}")]
    Refused {
        url: String,
        status: hyper::StatusCode,
        said: String,
    },
    #[error("{url}: not the JSON expected: {source}")]
    NotJson {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    /// A well-formed answer of another kind than asked for.
    #[error("{url} answered {what}")]
    Unexpected { url: String, what: &'static str },
    #[error("cannot read {what} {}: {source}", path.display())]
    Credentials {
        what: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{url} did not answer within {after:?}")]
    Timeout { url: String, after: Duration },
}
