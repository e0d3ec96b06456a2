//! An ID token, checked as kube-apiserver checks one: signed by one of the
//! issuer's keys with an asymmetric algorithm (never `none`, never a shared
//! secret), for this issuer and this client, not expired and already valid
//! (with a little leeway for clocks).

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::provider::Provider;

/// Clocks of the provider and the dashboard may differ this much (seconds).
pub const LEEWAY_SECONDS: u64 = 30;

/// The algorithms an identity provider signs with. HMAC (`HS*`) would let
/// anyone who knows the client secret sign tokens; `none` signs nothing.
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Why a token is refused (shown to the person, so never the token itself).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("the token is not a signed JWT: {0}")]
    Malformed(String),
    #[error("tokens signed with {0} are not accepted; only the provider's asymmetric keys")]
    Algorithm(String),
    #[error("no key of the provider signed this token")]
    UnknownKey,
    #[error("the token's signature does not match the provider's key")]
    Signature,
    #[error("the token has expired; sign in again")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was issued by someone else (iss)")]
    Issuer,
    #[error("the token was issued for another client (aud)")]
    Audience,
    #[error("{0}")]
    Claims(String),
    /// The provider could not be asked for its keys.
    #[error("the identity provider cannot be reached to check the token: {0}")]
    Provider(String),
}

/// The verified claims of `token`, which must be an ID token of
/// `provider`'s issuer for `client_id`.
pub async fn verify(
    provider: &Provider,
    client_id: &str,
    token: &str,
) -> Result<Map<String, Value>, Refused> {
    // The header is read before any key is chosen; an algorithm name the
    // library does not know (`none`) fails here.
    let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidAlgorithmName => {
            Refused::Algorithm(algorithm_named(token))
        }
        _ => Refused::Malformed(e.to_string()),
    })?;
    if !ASYMMETRIC.contains(&header.alg) {
        return Err(Refused::Algorithm(format!("{:?}", header.alg)));
    }
    let keys = provider
        .keys_for(header.kid.as_deref())
        .await
        .map_err(Refused::Provider)?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[provider.issuer()]);
    validation.set_audience(&[client_id]);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let mut refusal = Refused::UnknownKey;
    let named = |k: &&super::provider::SigningKey| header.kid.is_none() || k.kid == header.kid;
    for candidate in keys.iter().filter(named) {
        // A key published for another algorithm does not sign this one.
        if let Some(alg) = candidate.alg
            && format!("{alg:?}") != format!("{:?}", header.alg)
        {
            continue;
        }
        match jsonwebtoken::decode::<Map<String, Value>>(token, &candidate.key, &validation) {
            Ok(data) => return Ok(data.claims),
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind as K;
                refusal = match e.kind() {
                    K::InvalidSignature | K::InvalidAlgorithm | K::InvalidKeyFormat => {
                        Refused::Signature
                    }
                    K::ExpiredSignature => return Err(Refused::Expired),
                    K::ImmatureSignature => return Err(Refused::NotYetValid),
                    K::InvalidIssuer => return Err(Refused::Issuer),
                    K::InvalidAudience => return Err(Refused::Audience),
                    K::MissingRequiredClaim(c) => {
                        return Err(Refused::Claims(format!("the token has no {c} claim")));
                    }
                    other => Refused::Malformed(format!("{other:?}")),
                };
            }
        }
    }
    Err(refusal)
}

/// The `alg` a token's header names, for the refusal (`none` and friends).
fn algorithm_named(token: &str) -> String {
    use base64::Engine;
    token
        .split('.')
        .next()
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h.trim_end_matches('='))
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|v| v.get("alg").and_then(Value::as_str).map(str::to_string))
        .map(|a| a.chars().take(20).collect())
        .unwrap_or_else(|| "an unknown algorithm".to_string())
}

/// The `exp` of verified claims (seconds since the epoch).
pub fn expiry(claims: &Map<String, Value>) -> Option<i64> {
    claims.get("exp").and_then(Value::as_i64)
}
