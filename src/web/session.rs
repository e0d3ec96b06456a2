//! `--auth oidc`'s cookies, sealed with AES-256-GCM (the `cookie` crate's
//! private jar) under a key derived from `--session-key-file`, so any
//! replica with the same key reads them and nobody can read or forge them:
//! the session (who, their groups, until when) and the pending sign-in.
//! No session store: the cookie is the session.

use axum::http::{HeaderMap, header};
use cookie::{Cookie, CookieJar, Key, SameSite};
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
}

/// The sealing key and the cookie attributes this dashboard uses.
#[derive(Clone)]
pub struct Sealer {
    key: Key,
    /// `/` or `/base/`.
    path: String,
}

impl Sealer {
    /// `secret`: the session key file's bytes (at least 32).
    pub fn new(secret: &[u8], base_with_slash: &str) -> Result<Sealer, String> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the session key must hold at least {MIN_KEY_BYTES} bytes (it has {}); e.g. `head -c 64 /dev/urandom > key`",
                secret.len()
            ));
        }
        Ok(Sealer {
            key: Key::derive_from(secret),
            path: base_with_slash.to_string(),
        })
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

    /// A `Set-Cookie` value holding `value` sealed, for `max_age` seconds.
    pub fn seal<T: Serialize>(
        &self,
        what: &str,
        value: &T,
        max_age: i64,
    ) -> Result<String, String> {
        let json = serde_json::to_string(value).map_err(|e| e.to_string())?;
        let name = self.cookie_name(what);
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key)
            .add(Cookie::new(name.clone(), json));
        let sealed = jar
            .get(&name)
            .map(|c| c.value().to_string())
            .ok_or_else(|| "the cookie could not be sealed".to_string())?;
        let cookie = Cookie::build((name, sealed))
            .path(self.path.clone())
            .secure(true)
            .http_only(true)
            .same_site(SameSite::Lax)
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
        let raw = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim().to_string())?;
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(name.clone(), raw));
        let opened = jar.private(&self.key).get(&name)?;
        serde_json::from_str(opened.value()).ok()
    }
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
