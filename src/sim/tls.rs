//! HTTPS for the simulated cluster when it takes credentials (`--users`):
//! kubectl, like all of client-go, sends a token only over TLS.
//!
//! The certificate and its key live in this repository and are public: the
//! simulated cluster is a test bench on loopback, not a secret. The server
//! certificate names only `localhost`, `127.0.0.1` and `::1`; the CA that
//! signed it goes into the written kubeconfig (its key was discarded).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

/// The CA that signed the server certificate, for kubeconfigs.
pub const CA_PEM: &str = include_str!("tls/ca.crt");
const CERT_PEM: &str = include_str!("tls/server.crt");
const KEY_PEM: &str = include_str!("tls/server.key");
/// A client that does not finish its TLS handshake within this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

fn acceptor() -> Result<TlsAcceptor, String> {
    let certs = CertificateDer::pem_slice_iter(CERT_PEM.as_bytes())
        .chain(CertificateDer::pem_slice_iter(CA_PEM.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the built-in certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(KEY_PEM.as_bytes())
        .map_err(|e| format!("the built-in key: {e}"))?;
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
