//! Who is asking (`--auth none|proxy|token`) and what they may see and do.
//!
//! - `none`: nobody signs in; every request acts with the dashboard's own
//!   credentials (a laptop, a port-forward).
//! - `proxy`: an authenticating proxy in front names the person in headers,
//!   believed only from `--trusted-proxy` addresses; Kubernetes calls made
//!   for them impersonate them.
//! - `token`: the person's own bearer token (header or the sign-in cookie),
//!   checked with a TokenReview; their calls use it.
//!
//! In both signed-in modes what they see is filtered by SubjectAccessReviews
//! (cluster/access.rs) at fan-out: the shared watch stays one per cluster.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Form, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::error::AppError;
use super::pages::base_with_slash;
use super::templates::{MessagePage, SignInPage, render};
use crate::actions::Action;
use crate::cli::{AuthMode, Cidr};
use crate::cluster::access::{AccessReviews, Credentials, NamespaceAccess, User, client_as};
use crate::cluster::act::Actor;

/// The cookie the sign-in page sets (`--auth token`).
pub const TOKEN_COOKIE: &str = "rollouts_dashboard_token";

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
            notice: None,
        }
    }
}

/// Who a request comes from.
#[derive(Clone, Debug)]
pub enum Caller {
    /// `--auth none`: the dashboard's own credentials.
    Dashboard,
    Person {
        user: User,
        credentials: Credentials,
    },
}

impl Caller {
    pub fn user(&self) -> Option<&User> {
        match self {
            Caller::Dashboard => None,
            Caller::Person { user, .. } => Some(user),
        }
    }
}

/// What the caller may do in the namespaces a response covers.
#[derive(Clone, Debug)]
pub enum Rights {
    /// `--auth none`: everything the dashboard's credentials allow.
    All,
    Per(BTreeMap<String, NamespaceAccess>),
}

impl Rights {
    pub fn access(&self, namespace: &str) -> NamespaceAccess {
        match self {
            Rights::All => NamespaceAccess {
                list: true,
                patch_status: true,
                patch: true,
            },
            Rights::Per(map) => map.get(namespace).copied().unwrap_or_default(),
        }
    }

    pub fn sees(&self, namespace: &str) -> bool {
        self.access(namespace).list
    }
}

/// What one caller may see and do, asked per namespace when needed (the
/// answers are cached a minute in `AccessReviews`, so a stream can ask for
/// every change).
#[derive(Clone)]
pub struct Permissions {
    user: Option<User>,
    reviews: Option<AccessReviews>,
}

impl Permissions {
    pub fn of(state: &AppState, caller: &Caller) -> Permissions {
        Permissions {
            user: caller.user().cloned(),
            reviews: state.auth.reviews.clone(),
        }
    }

    /// `--auth none`: no person, nothing to filter.
    pub fn sees_everything(&self) -> bool {
        self.user.is_none() || self.reviews.is_none()
    }

    pub async fn access(&self, namespace: &str) -> NamespaceAccess {
        match (&self.user, &self.reviews) {
            (Some(user), Some(reviews)) => reviews.in_namespace(user, namespace).await,
            _ => Rights::All.access(namespace),
        }
    }

    pub async fn sees(&self, namespace: &str) -> bool {
        self.access(namespace).await.list
    }

    /// The rights in all of `namespaces` at once (asked concurrently).
    pub async fn rights(&self, namespaces: impl IntoIterator<Item = String>) -> Rights {
        match (&self.user, &self.reviews) {
            (Some(user), Some(reviews)) => {
                Rights::Per(reviews.in_namespaces(user, namespaces).await)
            }
            _ => Rights::All,
        }
    }

    /// 403 unless the caller may list rollouts in `namespace` (asked before
    /// looking the rollout up, so nothing tells whether it exists).
    pub async fn require_sees(&self, namespace: &str) -> Result<(), AppError> {
        if self.sees(namespace).await {
            Ok(())
        } else {
            Err(not_visible(namespace))
        }
    }
}

/// The actor that sends `caller`'s actions: the dashboard's own, or one
/// acting as the person (the API server's RBAC has the last word).
pub fn actor_for(state: &AppState, caller: &Caller) -> Result<Actor, AppError> {
    match caller {
        Caller::Dashboard => Ok(state.actor.clone()),
        Caller::Person { credentials, .. } => client_as(&state.auth.base_config, credentials)
            .map(|client| state.actor.acting_as(client))
            .map_err(|e| AppError::BadGateway(e.to_string())),
    }
}

/// 403 for a namespace whose rollouts the caller may not list.
pub fn not_visible(namespace: &str) -> AppError {
    AppError::Forbidden(format!(
        "you may not see rollouts in namespace {namespace}: your Kubernetes RBAC does not allow list on rollouts there"
    ))
}

/// "you may not patch rollouts/status in namespace team-b".
pub fn refusal(action: Action, namespace: &str) -> AppError {
    let resource = match action.rbac_subresource() {
        "" => "rollouts".to_string(),
        sub => format!("rollouts/{sub}"),
    };
    AppError::Forbidden(format!(
        "you may not {} here: your Kubernetes RBAC does not allow patch on {resource} in namespace {namespace}",
        crate::actions::verb(action)
    ))
}

/// In front of every person-facing route: establishes the caller or
/// answers 401 with why.
pub async fn identify(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match caller_of(&state, peer, req.headers()).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(why) => {
            tracing::info!(path = %req.uri().path(), ?peer, reason = %why, "refused: no identity");
            unauthorized(&state, req.headers(), why)
        }
    }
}

async fn caller_of(
    state: &AppState,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Result<Caller, String> {
    let auth = &state.auth;
    match auth.mode {
        AuthMode::None => Ok(Caller::Dashboard),
        AuthMode::Proxy => {
            let trusted = peer.is_some_and(|ip| auth.trusted.iter().any(|c| c.contains(ip)));
            if !trusted {
                let from = peer.map_or_else(|| "an unknown address".to_string(), |p| p.to_string());
                return Err(format!(
                    "this dashboard believes identity headers only from its trusted proxies, and this request came from {from}; sign in through the proxy"
                ));
            }
            let user = proxy_user(auth, headers)?.ok_or_else(|| {
                format!(
                    "the proxy in front of this dashboard sent no {} header: it did not sign you in",
                    auth.user_header
                )
            })?;
            Ok(Caller::Person {
                credentials: Credentials::Impersonate(user.clone()),
                user,
            })
        }
        AuthMode::Token => {
            let token = bearer(headers)
                .or_else(|| cookie(headers, TOKEN_COOKIE))
                .ok_or_else(|| "sign in with a Kubernetes bearer token".to_string())?;
            let reviews = auth
                .reviews
                .as_ref()
                .ok_or_else(|| "token reviews are not configured".to_string())?;
            match reviews.token_user(&token).await {
                Ok(Some(user)) => Ok(Caller::Person {
                    user,
                    credentials: Credentials::Token(token.into()),
                }),
                Ok(None) => Err(
                    "Kubernetes does not accept this token (expired or invalid); sign in again"
                        .to_string(),
                ),
                Err(e) => Err(format!("the token could not be checked: {e}")),
            }
        }
    }
}

/// The person the proxy names, from the configured headers or
/// oauth2-proxy's `X-Auth-Request-*`. Both families present and naming
/// different things is refused: a proxy that sets one family may pass the
/// other through from the client untouched.
fn proxy_user(auth: &Auth, headers: &HeaderMap) -> Result<Option<User>, String> {
    let one = |configured: &str, oauth2: &str| -> Result<Option<String>, String> {
        let read = |name: &str| {
            let values: Vec<&str> = headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .collect();
            (!values.is_empty()).then(|| values.join(","))
        };
        match (read(configured), read(oauth2)) {
            (Some(a), Some(b)) if a != b => Err(format!(
                "the identity headers {configured} and {oauth2} disagree; refusing to guess which the proxy set"
            )),
            (a, b) => Ok(a.or(b)),
        }
    };
    let Some(name) = one(&auth.user_header, "x-auth-request-user")? else {
        return Ok(None);
    };
    if name.contains(',') {
        return Err(format!("{} names more than one user", auth.user_header));
    }
    let mut groups: Vec<String> = Vec::new();
    for g in one(&auth.groups_header, "x-auth-request-groups")?
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        if !groups.iter().any(|known| known == g) {
            groups.push(g.to_string());
        }
    }
    let email = one(&auth.email_header, "x-auth-request-email")?;
    Ok(Some(User {
        name,
        groups,
        email,
    }))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// 401: a page for a browser, grpc-gateway's JSON for the API and scripts.
fn unauthorized(state: &AppState, headers: &HeaderMap, why: String) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if !wants_html {
        return AppError::Unauthorized(why).into_response();
    }
    let page = MessagePage {
        base: base_with_slash(&state.base_path),
        title: "Not signed in".to_string(),
        why,
        sign_in: state.auth.mode == AuthMode::Token,
    };
    (StatusCode::UNAUTHORIZED, Html(render(&page))).into_response()
}

/// `GET /sign-in` (`--auth token`).
pub async fn sign_in_page(State(state): State<AppState>) -> Response {
    Html(render(&SignInPage {
        base: base_with_slash(&state.base_path),
        error: None,
    }))
    .into_response()
}

#[derive(Deserialize)]
pub struct SignInForm {
    token: String,
}

/// `POST /sign-in`: checks the token, then keeps it in a cookie only this
/// dashboard gets back.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let base = base_with_slash(&state.base_path);
    // Another site must not sign a browser in as someone else.
    if let Some(why) = super::guard::cross_site(&headers) {
        return AppError::Forbidden(why).into_response();
    }
    let token = form.token.trim().to_string();
    let again = |error: String| {
        let page = SignInPage {
            base: base.clone(),
            error: Some(error),
        };
        (StatusCode::UNAUTHORIZED, Html(render(&page))).into_response()
    };
    let Some(reviews) = &state.auth.reviews else {
        return again("this dashboard does not take tokens (--auth token is off)".to_string());
    };
    let cookie_safe = |b: u8| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\');
    if token.is_empty() || !token.bytes().all(cookie_safe) {
        return again("that is not a bearer token".to_string());
    }
    match reviews.token_user(&token).await {
        Ok(Some(user)) => {
            tracing::info!(target: "audit", user = %user.name, "signed in");
            let cookie =
                format!("{TOKEN_COOKIE}={token}; Path={base}; Secure; HttpOnly; SameSite=Strict");
            with_cookie(Redirect::to(&base).into_response(), &cookie)
        }
        Ok(None) => again("Kubernetes does not accept this token".to_string()),
        Err(e) => again(format!("the token could not be checked: {e}")),
    }
}

/// `POST /sign-out`: forgets the cookie.
pub async fn sign_out(State(state): State<AppState>) -> Response {
    let base = base_with_slash(&state.base_path);
    let cookie =
        format!("{TOKEN_COOKIE}=; Path={base}; Max-Age=0; Secure; HttpOnly; SameSite=Strict");
    with_cookie(
        Redirect::to(&format!("{base}sign-in")).into_response(),
        &cookie,
    )
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// The page header's line about who is signed in (or the notice that
/// nobody is).
pub fn who_line(state: &AppState, caller: &Caller) -> Option<String> {
    let Some(user) = caller.user() else {
        return state.auth.notice.clone();
    };
    // Every signed-in person is in system:authenticated; it says nothing.
    let groups: Vec<&str> = user
        .groups
        .iter()
        .map(String::as_str)
        .filter(|g| *g != "system:authenticated")
        .collect();
    Some(if groups.is_empty() {
        format!("Signed in as {}", user.name)
    } else {
        format!("Signed in as {} ({})", user.name, groups.join(", "))
    })
}

#[cfg(test)]
mod tests {
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
    fn the_proxy_headers_and_oauth2_proxys() {
        let a = auth();
        let u = proxy_user(
            &a,
            &headers(&[
                ("x-forwarded-user", "alice"),
                ("x-forwarded-groups", "team-a, devs"),
                ("x-forwarded-groups", "devs,ops"),
                ("x-forwarded-email", "alice@example.com"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.groups, ["team-a", "devs", "ops"]);
        assert_eq!(u.email.as_deref(), Some("alice@example.com"));
        let o = proxy_user(
            &a,
            &headers(&[
                ("x-auth-request-user", "bob"),
                ("x-auth-request-groups", "viewers"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (o.name.as_str(), o.groups.as_slice()),
            ("bob", &["viewers".to_string()][..])
        );
        assert_eq!(
            proxy_user(&a, &headers(&[("x-forwarded-user", " ")])),
            Ok(None)
        );
        assert_eq!(proxy_user(&a, &headers(&[])), Ok(None));
        // A client adding the other family cannot override the proxy's.
        let forged = headers(&[
            ("x-auth-request-user", "bob"),
            ("x-forwarded-user", "admin"),
        ]);
        assert!(proxy_user(&a, &forged).is_err());
        let forged = headers(&[
            ("x-forwarded-user", "bob"),
            ("x-auth-request-user", "bob"),
            ("x-forwarded-groups", "system:masters"),
            ("x-auth-request-groups", "viewers"),
        ]);
        assert!(proxy_user(&a, &forged).is_err());
        assert!(
            proxy_user(
                &a,
                &headers(&[("x-forwarded-user", "a"), ("x-forwarded-user", "b")])
            )
            .is_err()
        );
    }

    #[test]
    fn tokens_from_the_header_or_the_cookie() {
        assert_eq!(
            bearer(&headers(&[("authorization", "Bearer abc")])).as_deref(),
            Some("abc")
        );
        assert_eq!(bearer(&headers(&[("authorization", "Basic abc")])), None);
        let h = headers(&[("cookie", "theme=dark; rollouts_dashboard_token=t0k; x=y")]);
        assert_eq!(cookie(&h, TOKEN_COOKIE).as_deref(), Some("t0k"));
        assert_eq!(
            cookie(
                &headers(&[("cookie", "rollouts_dashboard_token=")]),
                TOKEN_COOKIE
            ),
            None
        );
    }
}
