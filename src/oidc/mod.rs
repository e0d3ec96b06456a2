//! `--auth oidc`: the dashboard proves who people are itself. ID tokens
//! (a script's `Authorization: Bearer`, or the one the browser's sign-in
//! brings back) are verified against the issuer's published keys, and
//! their claims become a Kubernetes user exactly as kube-apiserver's
//! `--oidc-*` flags would make them, so RoleBindings mean the same here.
//!
//! Only the provider is talked to here (discovery, keys, the code
//! exchange); what the person may do is still asked of Kubernetes.

pub mod claims;
pub mod http;
pub mod login;
pub mod provider;
pub mod verify;

use serde_json::{Map, Value};

pub use claims::{ClaimMapping, Mapped};
pub use login::Pending;
pub use provider::Provider;
pub use verify::Refused;

/// Everything `--oidc-*` says, checked.
#[derive(Clone, Debug)]
pub struct OidcSettings {
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Extra trusted CA certificates (PEM) for the provider's HTTPS.
    pub ca_pem: Option<Vec<u8>>,
    pub mapping: ClaimMapping,
    pub scopes: Vec<String>,
}

/// A verified person: who the claims name, and until when (seconds since
/// the epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub who: Mapped,
    pub expires: i64,
}

/// The provider and how its tokens are read.
#[derive(Clone)]
pub struct Oidc {
    pub settings: OidcSettings,
    pub provider: Provider,
    https: http::Https,
}

impl Oidc {
    pub fn new(settings: OidcSettings) -> Result<Oidc, String> {
        let https = http::Https::new(settings.ca_pem.as_deref())?;
        let provider = Provider::new(settings.mapping.issuer.clone(), https.clone());
        Ok(Oidc {
            settings,
            provider,
            https,
        })
    }

    /// Verifies `token` and maps its claims to a person.
    pub async fn verify(&self, token: &str) -> Result<Verified, Refused> {
        let claims = verify::verify(&self.provider, &self.settings.client_id, token).await?;
        self.person(&claims)
    }

    fn person(&self, claims: &Map<String, Value>) -> Result<Verified, Refused> {
        let who = self.settings.mapping.map(claims).map_err(Refused::Claims)?;
        let expires = verify::expiry(claims)
            .ok_or_else(|| Refused::Claims("the token has no exp claim".to_string()))?;
        Ok(Verified { who, expires })
    }

    /// The sign-in's first step: where to send the browser, and what to
    /// remember until it comes back.
    pub async fn begin(
        &self,
        redirect_uri: &str,
        return_to: &str,
        now: i64,
    ) -> Result<(String, Pending), String> {
        let discovery = self.provider.discovery().await?;
        let pending = Pending {
            state: login::random_token()?,
            nonce: login::random_token()?,
            verifier: login::random_token()?,
            return_to: return_to.to_string(),
            expires: now + 600,
        };
        let url = login::authorization_url(
            &discovery,
            &self.settings.client_id,
            redirect_uri,
            &self.settings.scopes,
            &pending,
        );
        Ok((url, pending))
    }

    /// The sign-in's last step: trades `code` for an ID token, verifies it
    /// and its nonce.
    pub async fn finish(
        &self,
        code: &str,
        redirect_uri: &str,
        pending: &Pending,
    ) -> Result<Verified, String> {
        let discovery = self.provider.discovery().await?;
        let secret = self.settings.client_secret.as_deref().unwrap_or_default();
        let answer: login::TokenAnswer = self
            .https
            .post_form(
                &discovery.token_endpoint,
                login::exchange_form(code, redirect_uri, &pending.verifier),
                &login::basic_auth(&self.settings.client_id, secret),
            )
            .await
            .map_err(|e| e.to_string())?;
        let token = answer
            .id_token
            .ok_or_else(|| "the provider answered without an ID token".to_string())?;
        let claims = verify::verify(&self.provider, &self.settings.client_id, &token)
            .await
            .map_err(|e| e.to_string())?;
        if claims.get("nonce").and_then(Value::as_str) != Some(pending.nonce.as_str()) {
            return Err("the ID token does not carry this sign-in's nonce".to_string());
        }
        self.person(&claims).map_err(|e| e.to_string())
    }

    /// Where the provider signs the person out, if it says.
    pub async fn end_session_url(&self, back_to: &str) -> Option<String> {
        let discovery = self.provider.discovery().await.ok()?;
        login::end_session_url(&discovery, &self.settings.client_id, back_to)
    }
}
