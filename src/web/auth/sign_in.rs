//! Signing in and out through the dashboard's own pages: `--auth token`
//! takes a Kubernetes token in a form; `--auth oidc` sends the browser to
//! the identity provider and back (authorization code, PKCE, state, nonce).
//! Both sign out by POST only, behind the cross-site check.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::identity::AuthMode;
use super::identity::{LOGIN, SESSION, TOKEN, client_address, now};
use super::session::{SameSite, Session, TOKEN_SESSION_SECONDS, TokenSession, new_session_id};
use crate::oidc::Pending;
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::templates::{SignInPage, message_page, render};

/// `?next=`: where to go after signing in (a path of this dashboard).
#[derive(Debug, Default, Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Where a sign-in returns: `next` as a browser would resolve it against
/// this dashboard (WHATWG URL parsing, as in a `Location` header), if that
/// stays on this origin under the base path; else the base. The answer is
/// the resolved path and query, so what the browser is sent is what was
/// checked.
fn safe_return(base: &str, next: Option<&str>) -> String {
    next.and_then(|n| same_origin_path(base, n))
        .unwrap_or_else(|| base.to_string())
}

fn same_origin_path(base: &str, next: &str) -> Option<String> {
    // A browser would drop these and resolve what is left; refuse instead.
    if next.chars().any(|c| c.is_control() || c == '\\') || !next.starts_with('/') {
        return None;
    }
    let here = url::Url::parse("http://dashboard.invalid/").ok()?;
    let there = here.join(next).ok()?;
    if there.origin() != here.origin() || !there.username().is_empty() {
        return None;
    }
    let path = there.path();
    let under = path.starts_with(base) || format!("{path}/") == base;
    // `//host` would leave the origin when sent as a Location.
    if !under || path.starts_with("//") {
        return None;
    }
    Some(match there.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    })
}

/// `GET /sign-in`: the token form, or (`--auth oidc`) off to the provider.
pub async fn sign_in_page(State(state): State<AppState>, Query(q): Query<Next>) -> Response {
    let base = state.base_path.clone();
    let Some(login) = state.auth.oidc.clone() else {
        return Html(render(&SignInPage { base, error: None })).into_response();
    };
    let return_to = safe_return(&base, q.next.as_deref());
    match login
        .oidc
        .begin(&login.redirect_uri(), &return_to, now())
        .await
    {
        Ok((url, pending)) => match login.sealer.seal(LOGIN, &pending, 600) {
            Ok(cookie) => with_cookie(Redirect::to(&url).into_response(), &cookie),
            Err(e) => {
                PageError(AppError::Internal(format!("cannot sign you in: {e}"))).into_response()
            }
        },
        Err(e) => PageError(AppError::Unavailable(format!(
            "the identity provider cannot be reached: {e}"
        )))
        .into_response(),
    }
}

#[derive(Deserialize)]
pub struct SignInForm {
    token: String,
}

/// `POST /sign-in` (`--auth token`): checks the token, then keeps it in a
/// cookie only this dashboard gets back.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Form(form): Form<SignInForm>,
) -> Response {
    let base = state.base_path.clone();
    // Another site must not sign a browser in as someone else.
    if let Some(why) = super::guard::cross_site(&headers, state.public_origin.as_deref()) {
        return AppError::Forbidden(why).into_response();
    }
    let token = form.token.trim().to_string();
    let again = |status: StatusCode, error: String| {
        let page = SignInPage {
            base: base.clone(),
            error: Some(error),
        };
        (status, Html(render(&page))).into_response()
    };
    let (AuthMode::Token, Some(reviews), Some(sealer)) = (
        state.auth.mode,
        &state.auth.reviews,
        &state.auth.token_sealer,
    ) else {
        return again(
            StatusCode::NOT_FOUND,
            "this dashboard does not take tokens (--auth token is off)".to_string(),
        );
    };
    let cookie_safe = |b: u8| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\');
    if token.is_empty() || !token.bytes().all(cookie_safe) {
        return again(
            StatusCode::UNAUTHORIZED,
            "that is not a bearer token".to_string(),
        );
    }
    // Counted as every token check is: behind a trusted proxy, per client.
    let peer = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|p| p.0.ip());
    let from = client_address(&state.auth, peer, &headers);
    match reviews.token_user(&token, Some(from)).await {
        Ok(Some(user)) => {
            tracing::info!(target: "audit", user = %user.name, "signed in");
            let sealed = new_session_id().and_then(|id| {
                let session = TokenSession {
                    token,
                    id,
                    expires: now() + TOKEN_SESSION_SECONDS,
                };
                sealer.seal_with(TOKEN, &session, TOKEN_SESSION_SECONDS, SameSite::Strict)
            });
            match sealed {
                Ok(cookie) => with_cookie(Redirect::to(&base).into_response(), &cookie),
                Err(e) => again(StatusCode::INTERNAL_SERVER_ERROR, e),
            }
        }
        Ok(None) => again(
            StatusCode::UNAUTHORIZED,
            "Kubernetes does not accept this token".to_string(),
        ),
        Err(e) => again(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// The provider's answer (`code` and `state`, or `error`).
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/callback` (`--auth oidc`): the provider sends the browser
/// back here; the code becomes an ID token, verified, and the session
/// cookie is set.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(cb): Query<Callback>,
) -> Response {
    let Some(login) = state.auth.oidc.clone() else {
        return AppError::NotFound("this dashboard does not sign in with OpenID Connect".into())
            .into_response();
    };
    let fail = |why: String| {
        tracing::info!(reason = %why, "an OpenID Connect sign-in failed");
        let r = PageError(AppError::Unauthorized(why)).into_response();
        with_cookie(r, &login.sealer.clear(LOGIN))
    };
    if let Some(e) = cb.error {
        // Anyone can make a link to this page: its words are ours, never
        // the URL's (the description goes to the log, escaped and cut).
        tracing::info!(
            error = %crate::web::text::clip(&e, 64),
            description = %crate::web::text::clip(cb.error_description.as_deref().unwrap_or_default(), 300),
            "the identity provider answered the sign-in with an error"
        );
        return fail(provider_refusal(&e).to_string());
    }
    let Some(pending) = login.sealer.open::<Pending>(&headers, LOGIN) else {
        return fail(
            "this sign-in was not started here, or took longer than 10 minutes; sign in again"
                .to_string(),
        );
    };
    if pending.expires <= now() {
        return fail("this sign-in took longer than 10 minutes; sign in again".to_string());
    }
    if cb.state.as_deref() != Some(pending.state.as_str()) {
        return fail("the answer does not belong to this sign-in (state); sign in again".into());
    }
    let Some(code) = cb.code.filter(|c| !c.is_empty()) else {
        return fail("the identity provider sent no code".to_string());
    };
    let verified = match login
        .oidc
        .finish(&code, &login.redirect_uri(), &pending)
        .await
    {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let id = match new_session_id() {
        Ok(id) => id,
        Err(e) => return fail(e),
    };
    let session = Session {
        user: verified.who.username,
        groups: verified.who.groups,
        email: verified.who.email,
        expires: verified.expires,
        id,
    };
    let cookie = match login
        .sealer
        .seal(SESSION, &session, session.expires - now())
    {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    tracing::info!(target: "audit", user = %session.user, "signed in");
    let mut response = Redirect::to(&pending.return_to).into_response();
    let h = response.headers_mut();
    for c in [cookie, login.sealer.clear(LOGIN)] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    response
}

/// Our words for the error codes of OAuth 2.0 (RFC 6749 §4.1.2.1) and
/// OpenID Connect (Core §3.1.2.6) an identity provider sends back.
fn provider_refusal(code: &str) -> &'static str {
    match code {
        "access_denied" => "the identity provider did not let you sign in here (access denied)",
        "login_required" | "interaction_required" | "account_selection_required" => {
            "the identity provider needs you to sign in there first; sign in again"
        }
        "consent_required" => {
            "the identity provider needs your consent for this dashboard; sign in again"
        }
        "temporarily_unavailable" | "server_error" => {
            "the identity provider could not sign you in just now; try again shortly"
        }
        "invalid_scope" => {
            "the identity provider refused the scopes this dashboard asks for (--oidc-scopes)"
        }
        "unauthorized_client"
        | "invalid_client"
        | "unsupported_response_type"
        | "invalid_request"
        | "invalid_request_uri"
        | "invalid_request_object"
        | "request_not_supported"
        | "request_uri_not_supported"
        | "registration_not_supported" => {
            "the identity provider refused this dashboard's sign-in request: its client settings there do not match (--oidc-client-id, redirect URI)"
        }
        _ => "the identity provider refused the sign-in",
    }
}

/// `POST /sign-out`: ends the session (a copy of its cookie no longer
/// works either), and with OpenID Connect the provider's session too when
/// it offers that.
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(why) = super::guard::cross_site(&headers, state.public_origin.as_deref()) {
        return AppError::Forbidden(why).into_response();
    }
    let base = state.base_path.clone();
    let auth = &state.auth;
    let ended = match (&auth.oidc, &auth.token_sealer) {
        (Some(login), _) => login
            .sealer
            .open::<Session>(&headers, SESSION)
            .map(|s| (s.id, s.user)),
        (None, Some(sealer)) => sealer
            .open::<TokenSession>(&headers, TOKEN)
            .map(|s| (s.id, String::new())),
        (None, None) => None,
    };
    if let Some((id, user)) = ended {
        auth.signed_out.sign_out(&id);
        tracing::info!(target: "audit", user = %user, "signed out");
    }
    if let Some(login) = state.auth.oidc.clone() {
        let back = format!("{}signed-out", login.public_base);
        let to = login
            .oidc
            .end_session_url(&back)
            .await
            .unwrap_or_else(|| format!("{base}signed-out"));
        return with_cookie(
            Redirect::to(&to).into_response(),
            &login.sealer.clear(SESSION),
        );
    }
    let to = Redirect::to(&format!("{base}signed-out")).into_response();
    match &auth.token_sealer {
        Some(sealer) => with_cookie(to, &sealer.clear(TOKEN)),
        None => to,
    }
}

/// `GET /signed-out`.
pub async fn signed_out(State(state): State<AppState>) -> Response {
    message_page(
        &state.base_path,
        StatusCode::OK,
        "Signed out",
        "You are signed out of this dashboard.".to_string(),
        state.auth.has_sign_in(),
    )
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_returns_only_to_this_dashboard() {
        assert_eq!(safe_return("/", Some("/rollouts/a/b")), "/rollouts/a/b");
        assert_eq!(safe_return("/", Some("//evil.example/")), "/");
        assert_eq!(safe_return("/", Some("https://evil.example/")), "/");
        assert_eq!(safe_return("/", Some("/\\evil.example")), "/");
        assert_eq!(safe_return("/r/", Some("/other")), "/r/");
        assert_eq!(safe_return("/r/", Some("/r/../x")), "/r/");
        assert_eq!(safe_return("/r/", None), "/r/");
    }

    #[test]
    fn every_trick_a_browser_would_resolve_elsewhere_returns_to_the_base() {
        for trick in [
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/\r\n/evil.example",
            "\t//evil.example",
            " //evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "//evil.example",
            "///evil.example",
            "/a/..//evil.example",
            "/%2e%2e//evil.example",
            "/.%2E//evil.example",
            "https:evil.example",
            "http://evil.example",
            "//user@evil.example/",
            "/\u{0}/evil.example",
            "javascript:alert(1)",
        ] {
            let back = safe_return("/", Some(trick));
            assert!(
                back.starts_with('/') && !back.starts_with("//") && !back.contains("evil.example/"),
                "{trick:?} -> {back:?}"
            );
            let resolved = url::Url::parse("http://dash.example/")
                .unwrap()
                .join(&back)
                .unwrap();
            assert_eq!(
                resolved.host_str(),
                Some("dash.example"),
                "{trick:?} -> {back:?}"
            );
        }
        assert_eq!(
            safe_return("/", Some("/rollouts/a/b?x=1#frag")),
            "/rollouts/a/b?x=1"
        );
        assert_eq!(
            safe_return("/r/", Some("/r/%2e%2e/x")),
            "/r/",
            "dot segments in any encoding"
        );
        assert_eq!(safe_return("/r/", Some("/r")), "/r");
        assert_eq!(
            safe_return("/", Some("/é")),
            "/%C3%A9",
            "a header-safe Location"
        );
    }
}
