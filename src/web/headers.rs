//! The security headers on every answer: a strict Content-Security-Policy
//! (nothing leaves the origin but the sign-out at the OpenID provider),
//! no sniffing, no framing, no referrer to other sites, no shared caching.

use super::AppState;

/// No request leaves the origin (a strict Content-Security-Policy, no
/// inline script or style) but signing out at the OpenID provider, whose
/// end-session page the sign-out form's answer redirects to.
pub fn content_security_policy(state: &AppState) -> axum::http::HeaderValue {
    let provider = state
        .auth
        .oidc
        .as_ref()
        .and_then(|o| origin_of(o.oidc.provider.issuer()))
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'{provider}; frame-ancestors 'none'"
    );
    axum::http::HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        axum::http::HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        )
    })
}

/// `https://host:port` of a URL (no path, query or anything a policy
/// could be broken with).
fn origin_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then(|| format!("https://{host}"))
}

/// The security headers on every answer; the page may not be framed.
pub async fn security_headers(
    csp: axum::http::HeaderValue,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Pages and answers are per person: no shared cache may keep them
    // (assets set their own caching).
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn the_providers_origin_and_nothing_else() {
        assert_eq!(
            origin_of("https://login.example.com/realms/x").as_deref(),
            Some("https://login.example.com")
        );
        assert_eq!(
            origin_of("https://127.0.0.1:8443").as_deref(),
            Some("https://127.0.0.1:8443")
        );
        assert_eq!(origin_of("http://login.example.com"), None);
        assert_eq!(origin_of("https://a.example;script-src *"), None);
        assert_eq!(origin_of("https://a b"), None);
    }
}
