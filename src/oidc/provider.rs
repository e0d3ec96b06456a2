//! The identity provider as the dashboard knows it: its discovery document
//! and its signing keys. Both are fetched lazily and kept; a token signed
//! with a key the dashboard has not seen makes it refetch the keys, at most
//! once per `REFETCH_AFTER`, so made-up key ids cannot flood the provider.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::http::Https;

/// The least time between two fetches of the keys (or of a discovery
/// document that failed).
const REFETCH_AFTER: Duration = Duration::from_secs(5);

/// The parts of `/.well-known/openid-configuration` the dashboard uses.
#[derive(Clone, Debug, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// One of the issuer's keys, parsed once when the set is fetched (not
/// for every token a script sends).
#[derive(Clone)]
pub struct SigningKey {
    pub kid: Option<String>,
    /// The algorithm the key is published for, when the set says.
    pub alg: Option<KeyAlgorithm>,
    pub key: DecodingKey,
}

#[derive(Default)]
struct Known {
    discovery: Option<Arc<Discovery>>,
    keys: Arc<Vec<SigningKey>>,
    /// When the keys (or a failed discovery) were last asked for.
    fetched: Option<Instant>,
    last_error: Option<String>,
}

#[derive(Clone)]
pub struct Provider {
    issuer: String,
    https: Https,
    known: Arc<Mutex<Known>>,
}

impl Provider {
    pub fn new(issuer: String, https: Https) -> Provider {
        Provider {
            issuer,
            https,
            known: Arc::default(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The discovery document, fetched once (retried at most every few
    /// seconds while the provider cannot be reached).
    pub async fn discovery(&self) -> Result<Arc<Discovery>, String> {
        let mut known = self.known.lock().await;
        self.discover(&mut known).await
    }

    async fn discover(&self, known: &mut Known) -> Result<Arc<Discovery>, String> {
        if let Some(d) = &known.discovery {
            return Ok(d.clone());
        }
        if let (Some(at), Some(e)) = (known.fetched, &known.last_error)
            && at.elapsed() < REFETCH_AFTER
        {
            return Err(e.clone());
        }
        known.fetched = Some(Instant::now());
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        // Remembered and shown as text: the cause's chain is in it.
        let fetched = self.https.get_json::<Discovery>(&url).await;
        let fetched = fetched.map_err(|e| e.to_string()).and_then(|d| {
            // OpenID Connect Discovery §4.3: the document must name the
            // issuer it was fetched for, or tokens could be another's.
            if d.issuer == self.issuer {
                Ok(d)
            } else {
                Err(format!(
                    "the provider at {url} calls itself {:?}, not {:?}",
                    d.issuer, self.issuer
                ))
            }
        });
        match fetched {
            Ok(d) => {
                let d = Arc::new(d);
                known.discovery = Some(d.clone());
                known.last_error = None;
                known.fetched = None;
                Ok(d)
            }
            Err(e) => {
                tracing::warn!(error = %e, "the OpenID provider's discovery document could not be read");
                known.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// The issuer's keys, among which one has key id `kid` when the token
    /// names one (shared, not copied per token). An unknown key id refetches
    /// the set, at most once per `REFETCH_AFTER`.
    pub async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<Vec<SigningKey>>, String> {
        let mut known = self.known.lock().await;
        let has = |keys: &[SigningKey]| {
            kid.is_none_or(|id| keys.iter().any(|k| k.kid.as_deref() == Some(id)))
        };
        if !known.keys.is_empty() && has(&known.keys) {
            return Ok(known.keys.clone());
        }
        let recently = known.fetched.is_some_and(|at| at.elapsed() < REFETCH_AFTER);
        if recently {
            return Ok(known.keys.clone());
        }
        let discovery = self.discover(&mut known).await?;
        known.fetched = Some(Instant::now());
        match self.https.get_json::<JwkSet>(&discovery.jwks_uri).await {
            Ok(set) => {
                // A key the library cannot use signs nothing here.
                let parsed = set
                    .keys
                    .iter()
                    .filter_map(|jwk| {
                        let key = DecodingKey::from_jwk(jwk).ok()?;
                        Some(SigningKey {
                            kid: jwk.common.key_id.clone(),
                            alg: jwk.common.key_algorithm,
                            key,
                        })
                    })
                    .collect();
                known.keys = Arc::new(parsed);
                Ok(known.keys.clone())
            }
            Err(e) => {
                tracing::warn!(error = %e, "the OpenID provider's keys could not be read");
                Err(e.to_string())
            }
        }
    }
}
