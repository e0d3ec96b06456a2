//! Signing in and out through the dashboard's own pages: `--auth token`
//! takes a Kubernetes token in a form; `--auth oidc` sends the browser to
//! the identity provider and back (authorization code, PKCE, state, nonce).
//! Both sign out by POST only, behind the cross-site check.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::error::AppError;
use super::identity::AuthMode;
use super::identity::{LOGIN, SESSION, TOKEN_COOKIE, client_address, now};
use super::session::Session;
use super::templates::{SignInPage, message_page, render};
use crate::oidc::Pending;

/// `?next=`: where to go after signing in (a path of this dashboard).
#[derive(Debug, Default, Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// `next` if it is a path under this dashboard's base, else the base: a
/// sign-in link must not send anyone to another site.
fn safe_return(base: &str, next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with(base)
                && !n.starts_with("//")
                && !n.contains(['\\', '\r', '\n'])
                && !n.contains("/../") =>
        {
            n.to_string()
        }
        _ => base.to_string(),
    }
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
            Err(e) => message(
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Cannot sign you in",
                e,
            ),
        },
        Err(e) => message(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            "Cannot sign you in now",
            format!("the identity provider cannot be reached: {e}"),
        ),
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
    if let Some(why) = super::guard::cross_site(&headers) {
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
    let (AuthMode::Token, Some(reviews)) = (state.auth.mode, &state.auth.reviews) else {
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
            let cookie =
                format!("{TOKEN_COOKIE}={token}; Path={base}; Secure; HttpOnly; SameSite=Strict");
            with_cookie(Redirect::to(&base).into_response(), &cookie)
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
        let r = message(&state, StatusCode::UNAUTHORIZED, "Not signed in", why);
        with_cookie(r, &login.sealer.clear(LOGIN))
    };
    if let Some(e) = cb.error {
        let detail = cb.error_description.unwrap_or_default();
        return fail(format!("the identity provider refused: {e} {detail}"));
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
    let session = Session {
        user: verified.who.username,
        groups: verified.who.groups,
        email: verified.who.email,
        expires: verified.expires,
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

/// `POST /sign-out`: forgets the token or the session, and with OpenID
/// Connect ends the provider's session too when it offers that.
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(why) = super::guard::cross_site(&headers) {
        return AppError::Forbidden(why).into_response();
    }
    let base = state.base_path.clone();
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
    let cookie =
        format!("{TOKEN_COOKIE}=; Path={base}; Max-Age=0; Secure; HttpOnly; SameSite=Strict");
    with_cookie(
        Redirect::to(&format!("{base}signed-out")).into_response(),
        &cookie,
    )
}

/// `GET /signed-out`.
pub async fn signed_out(State(state): State<AppState>) -> Response {
    message(
        &state,
        StatusCode::OK,
        "Signed out",
        "You are signed out of this dashboard.".to_string(),
    )
}

fn message(state: &AppState, status: StatusCode, title: &str, why: String) -> Response {
    message_page(
        &state.base_path,
        status,
        title,
        why,
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
}
