//! Who is asking (`--auth none|proxy|token|oidc`), established in front of
//! every person-facing route.
//!
//! - `none`: nobody signs in; every request acts with the dashboard's own
//!   credentials (a laptop, a port-forward).
//! - `proxy`: an authenticating proxy in front names the person in the
//!   configured headers (and only those), believed only from
//!   `--trusted-proxy` addresses; Kubernetes calls made for them
//!   impersonate them.
//! - `token`: the person's own bearer token (header or the sign-in cookie),
//!   checked with a TokenReview (bounded, rate-limited per address); their
//!   calls use it.
//! - `oidc`: an ID token verified here against the issuer's keys (a
//!   script's `Authorization: Bearer`, or the browser's sealed session
//!   cookie); identity headers are ignored; calls impersonate them.

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, header};

use super::session::{Sealer, Session, SignedOut, TokenSession};
use crate::cluster::access::{AccessReviews, CheckError, Credentials, User};
use crate::oidc::Oidc;
use crate::oidc::claims::KUBERNETES_RESERVED as RESERVED_GROUP_PREFIX;

/// Where a request comes from, as the caps count it: the peer, or behind
/// a trusted proxy the address it names (set by `identify`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// How people are identified (`--auth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    None,
    Proxy,
    Token,
    Oidc,
}

/// An address range: `10.0.0.0/8`, `::1/128`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(pub ipnet::IpNet);

impl Cidr {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.contains(&ip)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The sealed cookie names' suffixes: `--auth token`'s sign-in, and
/// `--auth oidc`'s session and pending sign-in.
pub const TOKEN: &str = "token";
pub const SESSION: &str = "session";
pub const LOGIN: &str = "login";

/// `--auth oidc`: the provider, the cookie seal, and where people reach
/// the dashboard (the redirect URI is made from it).
pub struct OidcLogin {
    pub oidc: Oidc,
    pub sealer: Sealer,
    /// `--public-url` plus the base path, ending in `/`.
    pub public_base: String,
}

impl OidcLogin {
    pub fn redirect_uri(&self) -> String {
        format!("{}auth/callback", self.public_base)
    }
}

/// How people are identified; built once at start.
pub struct Auth {
    pub mode: AuthMode,
    pub user_header: String,
    pub groups_header: String,
    pub email_header: String,
    pub trusted: Vec<Cidr>,
    /// The dashboard's own connection, from which per-person clients are made.
    pub base_config: kube::Config,
    /// `None` with `--auth none`.
    pub reviews: Option<AccessReviews>,
    /// `--auth oidc`.
    pub oidc: Option<Arc<OidcLogin>>,
    /// `--auth token`: seals the sign-in cookie.
    pub token_sealer: Option<Sealer>,
    /// Sessions ended by signing out (their copies no longer work).
    pub signed_out: SignedOut,
    /// With `--auth none` on a non-loopback address with actions enabled:
    /// the header says who everyone acts as.
    pub notice: Option<String>,
}

impl Auth {
    /// `--auth none`: nobody signs in.
    pub fn none(base_config: kube::Config) -> Auth {
        Auth {
            mode: AuthMode::None,
            user_header: String::new(),
            groups_header: String::new(),
            email_header: String::new(),
            trusted: Vec::new(),
            base_config,
            reviews: None,
            oidc: None,
            token_sealer: None,
            signed_out: SignedOut::default(),
            notice: None,
        }
    }

    /// The same people, known the same way (sign-ins, sign-outs, trusted
    /// proxies), on another cluster: its credentials and its reviews.
    pub fn for_cluster(&self, base_config: kube::Config, reviews: Option<AccessReviews>) -> Auth {
        Auth {
            mode: self.mode,
            user_header: self.user_header.clone(),
            groups_header: self.groups_header.clone(),
            email_header: self.email_header.clone(),
            trusted: self.trusted.clone(),
            base_config,
            reviews,
            oidc: self.oidc.clone(),
            token_sealer: self.token_sealer.clone(),
            signed_out: self.signed_out.clone(),
            notice: self.notice.clone(),
        }
    }

    /// Whether people sign in through a page of this dashboard.
    pub fn has_sign_in(&self) -> bool {
        matches!(self.mode, AuthMode::Token | AuthMode::Oidc)
    }
}

/// Who a request comes from. One per request, so its size does not
/// matter; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Caller {
    /// `--auth none`: the dashboard's own credentials.
    Dashboard,
    Person {
        user: User,
        credentials: Credentials,
        /// Seconds since the epoch when their token or session ends, when
        /// known (a session cookie, an ID token).
        expires: Option<i64>,
        /// Their session's id, when they came with a session cookie.
        session: Option<String>,
    },
}

impl Caller {
    pub fn user(&self) -> Option<&User> {
        match self {
            Caller::Dashboard => None,
            Caller::Person { user, .. } => Some(user),
        }
    }

    /// A person whose calls impersonate them (`proxy`, `oidc`).
    fn impersonating(user: User, expires: Option<i64>, session: Option<String>) -> Caller {
        Caller::Person {
            credentials: Credentials::Impersonate(user.clone()),
            user,
            expires,
            session,
        }
    }

    /// The session cookie's id this request came with, if any.
    pub fn session(&self) -> Option<&str> {
        match self {
            Caller::Dashboard => None,
            Caller::Person { session, .. } => session.as_deref(),
        }
    }

    pub fn expires(&self) -> Option<i64> {
        match self {
            Caller::Dashboard => None,
            Caller::Person { expires, .. } => *expires,
        }
    }
}

/// Why a request has no identity.
#[derive(Debug, PartialEq, Eq)]
pub enum Unidentified {
    /// 401: not signed in, or with something that proves nothing.
    NotSignedIn(String),
    /// 429: too many token checks from this address.
    TooMany(String),
    /// 503: Kubernetes or the identity provider could not be asked.
    CannotCheck(String),
}

impl From<CheckError> for Unidentified {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::TooManyTokens(_) => Unidentified::TooMany(e.to_string()),
            CheckError::Review(_) => Unidentified::CannotCheck(e.to_string()),
        }
    }
}

/// Who sends a request from `peer` with these `headers`, as `auth` says.
pub async fn caller_of(
    auth: &Auth,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Result<Caller, Unidentified> {
    match auth.mode {
        AuthMode::None => Ok(Caller::Dashboard),
        AuthMode::Proxy => {
            let trusted = peer.is_some_and(|ip| auth.trusted.iter().any(|c| c.contains(ip)));
            if !trusted {
                let from = peer.map_or_else(|| "an unknown address".to_string(), |p| p.to_string());
                return Err(Unidentified::NotSignedIn(format!(
                    "this dashboard believes identity headers only from its trusted proxies, and this request came from {from}; sign in through the proxy"
                )));
            }
            let user = proxy_user(auth, headers)
                .map_err(Unidentified::NotSignedIn)?
                .ok_or_else(|| {
                    Unidentified::NotSignedIn(format!(
                        "the proxy in front of this dashboard sent no {} header: it did not sign you in",
                        auth.user_header
                    ))
                })?;
            Ok(Caller::impersonating(user, None, None))
        }
        AuthMode::Token => {
            let (token, session, expires) = match bearer(headers) {
                Some(t) => (t, None, None),
                None => {
                    let s: TokenSession = auth
                        .token_sealer
                        .as_ref()
                        .and_then(|sealer| sealer.open(headers, TOKEN))
                        .ok_or_else(|| {
                            Unidentified::NotSignedIn(
                                "sign in with a Kubernetes bearer token".to_string(),
                            )
                        })?;
                    live_session(auth, &s.id, s.expires)?;
                    (s.token, Some(s.id), Some(s.expires))
                }
            };
            let reviews = auth.reviews.as_ref().ok_or_else(|| {
                Unidentified::CannotCheck("token reviews are not configured".to_string())
            })?;
            let from = client_address(auth, peer, headers);
            match reviews.token_user(&token, Some(from)).await? {
                Some(user) => Ok(Caller::Person {
                    user,
                    credentials: Credentials::Token(token.into()),
                    expires,
                    session,
                }),
                None => Err(Unidentified::NotSignedIn(
                    "Kubernetes does not accept this token (expired or invalid); sign in again"
                        .to_string(),
                )),
            }
        }
        AuthMode::Oidc => {
            let login = auth.oidc.as_ref().ok_or_else(|| {
                Unidentified::CannotCheck("OpenID Connect is not configured".to_string())
            })?;
            if let Some(token) = bearer(headers) {
                let verified = login.oidc.verify(&token).await.map_err(|e| match e {
                    crate::oidc::Refused::Provider(_) => Unidentified::CannotCheck(e.to_string()),
                    _ => Unidentified::NotSignedIn(e.to_string()),
                })?;
                let who = verified.who;
                let user = User::named(who.username, who.groups, who.email);
                return Ok(Caller::impersonating(user, Some(verified.expires), None));
            }
            let session: Session = login.sealer.open(headers, SESSION).ok_or_else(|| {
                Unidentified::NotSignedIn("sign in to see the rollouts".to_string())
            })?;
            live_session(auth, &session.id, session.expires)?;
            let user = User::named(session.user, session.groups, session.email);
            Ok(Caller::impersonating(
                user,
                Some(session.expires),
                Some(session.id),
            ))
        }
    }
}

/// A session cookie is good until its end, unless it was signed out.
fn live_session(auth: &Auth, id: &str, expires: i64) -> Result<(), Unidentified> {
    if expires <= now() {
        return Err(Unidentified::NotSignedIn(
            "your session has expired; sign in again".to_string(),
        ));
    }
    if auth.signed_out.is_signed_out(id) {
        return Err(Unidentified::NotSignedIn(
            "this session was signed out; sign in again".to_string(),
        ));
    }
    Ok(())
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The address whose token checks are counted: the peer, or behind a
/// trusted proxy the address it says the request came from.
pub fn client_address(auth: &Auth, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
    let peer = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if !auth.trusted.iter().any(|c| c.contains(peer)) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .next_back()
        .unwrap_or(peer)
}

/// The person the proxy names, from the configured headers only: a header
/// the proxy does not set may come from the client untouched.
fn proxy_user(auth: &Auth, headers: &HeaderMap) -> Result<Option<User>, String> {
    let read = |name: &str| -> Option<String> {
        if name.is_empty() {
            return None;
        }
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    let Some(name) = read(&auth.user_header) else {
        return Ok(None);
    };
    if name.contains(',') {
        return Err(format!("{} names more than one user", auth.user_header));
    }
    if name.starts_with(RESERVED_GROUP_PREFIX) {
        return Err(format!(
            "{} names {name}, a Kubernetes system identity; no proxy signs people in as one",
            auth.user_header
        ));
    }
    let mut groups: Vec<String> = Vec::new();
    for g in read(&auth.groups_header)
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        if g.starts_with(RESERVED_GROUP_PREFIX) {
            return Err(format!(
                "{} names the group {g}; groups starting with {RESERVED_GROUP_PREFIX} are Kubernetes' own and never taken from a header",
                auth.groups_header
            ));
        }
        if !groups.iter().any(|known| known == g) {
            groups.push(g.to_string());
        }
    }
    let email = read(&auth.email_header);
    Ok(Some(User::named(name, groups, email)))
}

pub fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// The page header's line about who is signed in (or the notice that
/// nobody is).
pub fn who_line(auth: &Auth, caller: &Caller) -> Option<String> {
    let Some(user) = caller.user() else {
        return auth.notice.clone();
    };
    // Every signed-in person is in system:authenticated; it says nothing.
    let groups: Vec<&str> = user
        .groups
        .iter()
        .map(String::as_str)
        .filter(|g| *g != crate::cluster::access::ALL_AUTHENTICATED)
        .collect();
    Some(if groups.is_empty() {
        format!("Signed in as {}", user.name)
    } else {
        format!("Signed in as {} ({})", user.name, groups.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn auth() -> Auth {
        Auth {
            mode: AuthMode::Proxy,
            user_header: "X-Forwarded-User".into(),
            groups_header: "X-Forwarded-Groups".into(),
            email_header: "X-Forwarded-Email".into(),
            ..Auth::none(kube::Config::new("http://127.0.0.1:1".parse().unwrap()))
        }
    }

    #[test]
    fn only_the_configured_headers_name_the_person() {
        let a = auth();
        let u = proxy_user(
            &a,
            &headers(&[
                ("x-forwarded-user", "alice"),
                ("x-forwarded-groups", "team-a, devs"),
                ("x-forwarded-groups", "devs,ops"),
                ("x-forwarded-email", "alice@example.com"),
                // Not configured: a client could have added it.
                ("x-auth-request-groups", "admins"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.groups, ["team-a", "devs", "ops"]);
        assert_eq!(u.email.as_deref(), Some("alice@example.com"));
        // oauth2-proxy's family is read only when configured as such.
        assert_eq!(
            proxy_user(&a, &headers(&[("x-auth-request-user", "bob")])),
            Ok(None)
        );
        let oauth2 = Auth {
            user_header: "X-Auth-Request-User".into(),
            groups_header: "X-Auth-Request-Groups".into(),
            ..auth()
        };
        let o = proxy_user(
            &oauth2,
            &headers(&[
                ("x-auth-request-user", "bob"),
                ("x-auth-request-groups", "viewers"),
                ("x-forwarded-groups", "admins"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(o.groups, ["viewers"]);
        assert_eq!(
            proxy_user(&a, &headers(&[("x-forwarded-user", " ")])),
            Ok(None)
        );
        assert!(
            proxy_user(
                &a,
                &headers(&[("x-forwarded-user", "a"), ("x-forwarded-user", "b")])
            )
            .is_err()
        );
    }

    #[test]
    fn no_header_makes_anyone_a_system_user_or_group() {
        let a = auth();
        for forged in [
            headers(&[
                ("x-forwarded-user", "alice"),
                ("x-forwarded-groups", "team-a,system:masters"),
            ]),
            headers(&[("x-forwarded-user", "system:admin")]),
            headers(&[
                ("x-forwarded-user", "alice"),
                ("x-forwarded-groups", "system:serviceaccounts"),
            ]),
        ] {
            assert!(proxy_user(&a, &forged).is_err(), "{forged:?}");
        }
    }

    #[test]
    fn tokens_from_the_header_or_the_cookie() {
        assert_eq!(
            bearer(&headers(&[("authorization", "Bearer abc")])).as_deref(),
            Some("abc")
        );
        assert_eq!(bearer(&headers(&[("authorization", "Basic abc")])), None);
        use crate::web::auth::session::request_cookie;
        let h = headers(&[(
            "cookie",
            "theme=dark; __Host-rollouts-dashboard-token=t0k; x=y",
        )]);
        assert_eq!(
            request_cookie(&h, "__Host-rollouts-dashboard-token").as_deref(),
            Some("t0k")
        );
        assert_eq!(
            request_cookie(
                &headers(&[("cookie", "__Host-rollouts-dashboard-token=")]),
                "__Host-rollouts-dashboard-token"
            ),
            None
        );
    }

    #[test]
    fn token_checks_are_counted_per_client_address() {
        let behind = Auth {
            trusted: vec![Cidr("10.0.0.0/8".parse().unwrap())],
            ..auth()
        };
        let xff = headers(&[("x-forwarded-for", "203.0.113.9, 198.51.100.7")]);
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let direct: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            client_address(&behind, Some(proxy), &xff),
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "the address the trusted proxy saw"
        );
        assert_eq!(
            client_address(&behind, Some(direct), &xff),
            direct,
            "an untrusted peer cannot pick its address"
        );
    }
}
