//! `--auth oidc`'s cookies, sealed with AES-256-GCM (ring's AEAD; the key
//! derived from `--session-key-file` with HKDF-SHA256, the cookie's name as
//! associated data), so any replica with the same key reads them and
//! nobody can read, forge or swap them: the session (who, their groups,
//! until when) and the pending sign-in; with `--auth token`, the person's
//! token (so a copied cookie does not show it). No session store: the
//! cookie is the session, and signing out puts its id on a bounded list of
//! ended sessions, so a copy of the cookie stops working too.

use axum::http::{HeaderMap, header};
use base64::Engine;
use cookie::Cookie;
pub use cookie::SameSite;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// A session key file must hold at least this much (it is stretched with
/// HKDF into the encryption key).
pub const MIN_KEY_BYTES: usize = 32;
/// Browsers drop larger cookies; a person in too many groups is told.
const MAX_COOKIE_BYTES: usize = 4000;

/// A signed-in person, as sealed in their cookie.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    #[serde(rename = "u")]
    pub user: String,
    #[serde(rename = "g", default)]
    pub groups: Vec<String>,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Seconds since the epoch: never later than the ID token's `exp`.
    #[serde(rename = "x")]
    pub expires: i64,
    /// Random: names this session on the list of signed-out ones.
    #[serde(rename = "i", default)]
    pub id: String,
}

/// `--auth token`'s cookie: the person's token with its session's id and end.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenSession {
    #[serde(rename = "t")]
    pub token: String,
    #[serde(rename = "i")]
    pub id: String,
    #[serde(rename = "x")]
    pub expires: i64,
}

/// How long a token sign-in lasts (Kubernetes may end the token sooner).
pub const TOKEN_SESSION_SECONDS: i64 = 12 * 3600;

/// A new session id: 16 random bytes, base64url.
pub fn new_session_id() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system has no random numbers".to_string())?;
    Ok(B64.encode(bytes))
}

/// Sessions signed out before their end. Bounded: past the capacity the
/// least used entries go (a signed-out session would then work again
/// until its own end), and an entry is kept no longer than a week.
#[derive(Clone)]
pub struct SignedOut {
    ids: moka::sync::Cache<String, ()>,
}

/// Sessions signed out that are remembered at once (about 100 bytes each).
pub const SIGNED_OUT_CAPACITY: u64 = 100_000;

impl Default for SignedOut {
    fn default() -> Self {
        SignedOut {
            ids: moka::sync::Cache::builder()
                .max_capacity(SIGNED_OUT_CAPACITY)
                .time_to_live(std::time::Duration::from_secs(7 * 86_400))
                .build(),
        }
    }
}

impl SignedOut {
    pub fn sign_out(&self, id: &str) {
        if !id.is_empty() {
            self.ids.insert(id.to_string(), ());
        }
    }

    pub fn is_signed_out(&self, id: &str) -> bool {
        !id.is_empty() && self.ids.contains_key(id)
    }
}

/// The sealing key and the cookie attributes this dashboard uses.
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<LessSafeKey>,
    /// `/` or `/base/`.
    path: String,
}

/// HKDF's output length, as ring asks for it.
struct KeyLen;

impl ring::hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        AES_256_GCM.key_len()
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

impl Sealer {
    /// `secret`: the session key file's bytes (at least 32).
    pub fn new(secret: &[u8], base_with_slash: &str) -> Result<Sealer, String> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the session key must hold at least {MIN_KEY_BYTES} bytes (it has {}); e.g. `head -c 64 /dev/urandom > key`",
                secret.len()
            ));
        }
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"rollouts-dashboard");
        let mut bytes = [0u8; 32];
        salt.extract(secret)
            .expand(&[b"session cookies v1"], KeyLen)
            .and_then(|okm| okm.fill(&mut bytes))
            .map_err(|_| "the session key could not be derived".to_string())?;
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| "the session key could not be made".to_string())?;
        Ok(Sealer {
            key: std::sync::Arc::new(LessSafeKey::new(key)),
            path: base_with_slash.to_string(),
        })
    }

    /// `value` encrypted and authenticated, bound to the cookie's name:
    /// base64url(nonce ‖ ciphertext ‖ tag).
    fn encrypt(&self, name: &str, value: &[u8]) -> Result<String, String> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| "the system has no random numbers".to_string())?;
        let mut sealed = value.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| "the cookie could not be sealed".to_string())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(B64.encode(out))
    }

    fn decrypt(&self, name: &str, text: &str) -> Option<Vec<u8>> {
        let bytes = B64.decode(text).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let opened = self
            .key
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut sealed)
            .ok()?;
        Some(opened.to_vec())
    }

    /// `__Host-` binds a cookie to this host and path `/`; under a base
    /// path only `__Secure-` can be had.
    pub fn cookie_name(&self, what: &str) -> String {
        if self.path == "/" {
            format!("__Host-rollouts-dashboard-{what}")
        } else {
            format!("__Secure-rollouts-dashboard-{what}")
        }
    }

    /// A `Set-Cookie` value holding `value` sealed, for `max_age` seconds
    /// (`SameSite=Lax`: the provider's redirect back must carry it).
    pub fn seal<T: Serialize>(
        &self,
        what: &str,
        value: &T,
        max_age: i64,
    ) -> Result<String, String> {
        self.seal_with(what, value, max_age, SameSite::Lax)
    }

    /// As `seal`, sent only on `same_site` requests.
    pub fn seal_with<T: Serialize>(
        &self,
        what: &str,
        value: &T,
        max_age: i64,
        same_site: SameSite,
    ) -> Result<String, String> {
        let json = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        let name = self.cookie_name(what);
        let sealed = self.encrypt(&name, &json)?;
        let cookie = Cookie::build((name, sealed))
            .path(self.path.clone())
            .secure(true)
            .http_only(true)
            .same_site(same_site)
            .max_age(cookie::time::Duration::seconds(max_age.max(0)))
            .build()
            .to_string();
        if cookie.len() > MAX_COOKIE_BYTES {
            return Err(format!(
                "the session would be {} bytes, more than a browser keeps; the identity provider sends too many groups",
                cookie.len()
            ));
        }
        Ok(cookie)
    }

    /// A `Set-Cookie` value that removes the cookie.
    pub fn clear(&self, what: &str) -> String {
        Cookie::build((self.cookie_name(what), ""))
            .path(self.path.clone())
            .secure(true)
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::ZERO)
            .build()
            .to_string()
    }

    /// The sealed cookie `what` of the request, opened; `None` when absent,
    /// forged, sealed with another key, or not of type `T`.
    pub fn open<T: for<'de> Deserialize<'de>>(&self, headers: &HeaderMap, what: &str) -> Option<T> {
        let name = self.cookie_name(what);
        let raw = request_cookie(headers, &name)?;
        serde_json::from_slice(&self.decrypt(&name, &raw)?).ok()
    }
}

/// The value of the request's cookie `name`, if it sent one.
pub fn request_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn request_with(set_cookie: &str) -> HeaderMap {
        let pair = set_cookie.split(';').next().unwrap_or_default();
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(pair).unwrap());
        h
    }

    fn session() -> Session {
        Session {
            user: "alice".into(),
            groups: vec!["team-a".into()],
            email: None,
            expires: 2_000_000_000,
            id: "s1".into(),
        }
    }

    #[test]
    fn a_sealed_session_opens_with_the_same_key_only() {
        let a = Sealer::new(&[7u8; 64], "/").unwrap();
        let set = a.seal("session", &session(), 3600).unwrap();
        assert!(set.starts_with("__Host-rollouts-dashboard-session="));
        for attr in [
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(set.contains(attr), "{set}");
        }
        assert!(!set.contains("alice"), "sealed, not readable: {set}");
        let same = Sealer::new(&[7u8; 64], "/").unwrap();
        assert_eq!(
            same.open::<Session>(&request_with(&set), "session"),
            Some(session())
        );
        let other = Sealer::new(&[8u8; 64], "/").unwrap();
        assert_eq!(other.open::<Session>(&request_with(&set), "session"), None);
    }

    #[test]
    fn a_cookie_moved_under_another_name_opens_to_nothing() {
        let a = Sealer::new(&[7u8; 64], "/").unwrap();
        let set = a.seal("login", &session(), 60).unwrap();
        let value = set.split(';').next().unwrap().split_once('=').unwrap().1;
        let moved = format!("__Host-rollouts-dashboard-session={value}");
        assert_eq!(a.open::<Session>(&request_with(&moved), "session"), None);
    }

    #[test]
    fn a_tampered_cookie_opens_to_nothing() {
        let a = Sealer::new(&[7u8; 64], "/").unwrap();
        let set = a.seal("session", &session(), 3600).unwrap();
        let pair = set.split(';').next().unwrap();
        let (name, value) = pair.split_once('=').unwrap();
        let mut bytes = value.as_bytes().to_vec();
        let i = bytes.len() / 2;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let forged = format!("{name}={}", String::from_utf8(bytes).unwrap());
        assert_eq!(a.open::<Session>(&request_with(&forged), "session"), None);
        // A session cookie is not a pending sign-in, and vice versa.
        assert_eq!(a.open::<Session>(&request_with(&set), "login"), None);
    }

    #[test]
    fn short_keys_and_base_paths() {
        assert!(Sealer::new(&[1u8; 16], "/").is_err());
        let b = Sealer::new(&[1u8; 32], "/rollouts/").unwrap();
        let set = b.seal("session", &session(), 60).unwrap();
        assert!(set.starts_with("__Secure-rollouts-dashboard-session="));
        assert!(set.contains("Path=/rollouts/"));
        assert!(b.clear("session").contains("Max-Age=0"));
    }
}
