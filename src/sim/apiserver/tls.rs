//! HTTPS for the simulated cluster when it takes credentials (`--users`):
//! kubectl, like all of client-go, sends a token only over TLS.
//!
//! A CA and a server certificate are made when the process first needs
//! them (no private key ships in the binary); the server certificate names
//! only `localhost`, `127.0.0.1` and `::1`, and the CA goes into the written
//! kubeconfig. Its key lives only in this process's memory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

/// A client that does not finish its TLS handshake within this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// This process's CA and the server certificate it signed.
struct Identity {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn make_identity() -> Result<Identity, rcgen::Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name.push(
        DnType::CommonName,
        "rollouts-dashboard simulated cluster CA",
    );
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let mut server = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])?;
    server
        .distinguished_name
        .push(DnType::CommonName, "simulated kube-apiserver");
    let cert = server.signed_by(&key, &Issuer::new(ca, ca_key))?;
    Ok(Identity {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn identity() -> Result<&'static Identity, String> {
    static IDENTITY: std::sync::OnceLock<Result<Identity, String>> = std::sync::OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            make_identity().map_err(|e| format!("cannot make the sim's certificate: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The CA that signed the server certificate (PEM), for kubeconfigs.
pub fn ca_pem() -> Result<&'static str, String> {
    identity().map(|i| i.ca_pem.as_str())
}

fn acceptor() -> Result<TlsAcceptor, String> {
    let id = identity()?;
    let certs = CertificateDer::pem_slice_iter(id.cert_pem.as_bytes())
        .chain(CertificateDer::pem_slice_iter(id.ca_pem.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the sim's certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes())
        .map_err(|e| format!("the sim's key: {e}"))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A TCP listener that hands over only connections that completed TLS.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    pub fn new(tcp: TcpListener) -> Result<TlsListener, String> {
        Ok(TlsListener {
            tcp,
            acceptor: acceptor()?,
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.tcp.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::debug!(error = %e, "simulated API server: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(stream)).await {
                Ok(Ok(tls)) => return (tls, addr),
                Ok(Err(e)) => {
                    tracing::debug!(%addr, error = %e, "simulated API server: TLS handshake failed")
                }
                Err(_) => tracing::debug!(%addr, "simulated API server: TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}
