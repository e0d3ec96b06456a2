//! The browser's sign-in: OpenID Connect's authorization-code flow with
//! PKCE (S256), `state` against cross-site forgery and `nonce` against a
//! replayed ID token. What the flow must remember between the redirect and
//! the callback travels in a sealed cookie, not in server memory.

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use super::provider::Discovery;

/// What the callback checks the provider's answer against.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pending {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    /// Where the person was going (a path of this dashboard).
    pub return_to: String,
    /// Seconds since the epoch after which the sign-in is stale.
    pub expires: i64,
}

/// 32 random bytes, base64url (43 characters; PKCE allows 43 to 128).
pub fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system has no random numbers".to_string())?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// PKCE's S256 challenge for `verifier`.
pub fn challenge(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Where to send the browser to sign in.
pub fn authorization_url(
    discovery: &Discovery,
    client_id: &str,
    redirect_uri: &str,
    scopes: &[String],
    pending: &Pending,
) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &scopes.join(" "))
        .append_pair("state", &pending.state)
        .append_pair("nonce", &pending.nonce)
        .append_pair("code_challenge", &challenge(&pending.verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    let sep = if discovery.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{}{sep}{query}", discovery.authorization_endpoint)
}

/// The token endpoint's answer; only the ID token is used.
#[derive(Debug, Deserialize)]
pub struct TokenAnswer {
    pub id_token: Option<String>,
}

/// The form that exchanges `code` for tokens.
pub fn exchange_form(code: &str, redirect_uri: &str, verifier: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_verifier", verifier)
        .finish()
}

/// HTTP basic credentials of the client (RFC 6749 §2.3.1: each part
/// form-encoded first).
pub fn basic_auth(client_id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(client_id), enc(secret)))
}

/// Where the provider signs the person out and sends them back.
pub fn end_session_url(discovery: &Discovery, client_id: &str, back_to: &str) -> Option<String> {
    let endpoint = discovery.end_session_endpoint.as_deref()?;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("post_logout_redirect_uri", back_to)
        .finish();
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    Some(format!("{endpoint}{sep}{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636s_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_tokens_differ_and_fit_pkce() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn the_authorization_url_carries_the_flows_checks() {
        let d = Discovery {
            issuer: "https://idp".into(),
            authorization_endpoint: "https://idp/authorize".into(),
            token_endpoint: "https://idp/token".into(),
            jwks_uri: "https://idp/jwks".into(),
            end_session_endpoint: None,
        };
        let p = Pending {
            state: "s".into(),
            nonce: "n".into(),
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            return_to: "/".into(),
            expires: 0,
        };
        let url = authorization_url(
            &d,
            "dash",
            "https://dash/auth/callback",
            &["openid".into(), "email".into()],
            &p,
        );
        assert!(url.starts_with("https://idp/authorize?response_type=code&client_id=dash"));
        assert!(url.contains("redirect_uri=https%3A%2F%2Fdash%2Fauth%2Fcallback"));
        assert!(url.contains("scope=openid+email"));
        assert!(url.contains("state=s&nonce=n"));
        assert!(url.contains("code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(url.contains("code_challenge_method=S256"));
        assert_eq!(end_session_url(&d, "dash", "https://dash/"), None);
    }
}
