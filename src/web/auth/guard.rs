//! In front of every route that changes something: `--read-only` answers
//! 403, and so does a request from another site (the browser says so in
//! `Sec-Fetch-Site` or `Origin`), so a page elsewhere cannot make a
//! signed-in person's browser promote or abort.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::web::AppState;
use crate::web::error::AppError;

pub async fn mutation_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.read_only {
        return AppError::Forbidden(
            "this dashboard is read-only (--read-only): it changes nothing".into(),
        )
        .into_response();
    }
    if let Some(why) = cross_site(req.headers(), state.public_origin.as_deref()) {
        tracing::warn!(reason = %why, path = %req.uri().path(), "refused a cross-site request");
        return AppError::Forbidden(why).into_response();
    }
    next.run(req).await
}

/// Why the request comes from another site, if it does. Requests without
/// these headers (curl, scripts) are not from a browser and pass. Same
/// origin means `--public-url`'s origin, or the host the request names
/// (Host, or X-Forwarded-Host from a proxy): behind a proxy that rewrites
/// Host and sets nothing else, only `--public-url` can say who we are.
pub fn cross_site(headers: &HeaderMap, public_origin: Option<&str>) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Some(format!(
            "refused a request from another site (Sec-Fetch-Site: {})",
            crate::web::text::clip(site, 40)
        ));
    }
    let origin = text(header::ORIGIN.as_str())?;
    if public_origin.is_some_and(|p| p.eq_ignore_ascii_case(origin.trim_end_matches('/'))) {
        return None;
    }
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let hosts = [text(header::HOST.as_str()), text("x-forwarded-host")];
    let same = authority.is_some_and(|a| hosts.iter().flatten().any(|h| h.eq_ignore_ascii_case(a)));
    (!same).then(|| {
        format!(
            "refused a request from another site (Origin: {})",
            crate::web::text::clip(origin, 200)
        )
    })
}

/// `scheme://host[:port]` of an http(s) URL, lower-cased, the form a
/// browser's `Origin` takes; `None` for anything else.
pub fn origin_of_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let ok = !authority.is_empty()
        && !authority.contains('@')
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !ok {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    // Browsers leave the scheme's own port out of Origin.
    let authority = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("https", Some((h, "443"))) | ("http", Some((h, "80"))) => h.to_string(),
        _ => authority,
    };
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_and_scripts_pass_other_sites_do_not() {
        assert_eq!(
            cross_site(&headers(&[]), None),
            None,
            "curl sends neither header"
        );
        let same = headers(&[
            ("host", "dash.example:3100"),
            ("origin", "http://dash.example:3100"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(cross_site(&same, None), None);
        let proxied = headers(&[
            ("host", "10.0.0.7:3100"),
            ("x-forwarded-host", "rollouts.example"),
            ("origin", "https://rollouts.example"),
        ]);
        assert_eq!(cross_site(&proxied, None), None);
        for bad in [
            headers(&[("host", "dash:3100"), ("origin", "https://evil.example")]),
            headers(&[("host", "dash:3100"), ("origin", "null")]),
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("sec-fetch-site", "same-site")]),
        ] {
            assert!(cross_site(&bad, None).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn behind_a_proxy_that_rewrites_host_the_public_url_is_the_origin() {
        // nginx's default: Host is the upstream's, no X-Forwarded-Host.
        let rewritten = headers(&[
            ("host", "rollouts-dashboard.tools.svc:3100"),
            ("origin", "https://rollouts.example.com"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(
            cross_site(&rewritten, None).is_some(),
            "without --public-url"
        );
        let public = origin_of_url("https://Rollouts.example.com:443/base/").unwrap();
        assert_eq!(public, "https://rollouts.example.com");
        assert_eq!(cross_site(&rewritten, Some(&public)), None);
        let evil = headers(&[
            ("host", "rollouts-dashboard.tools.svc:3100"),
            ("origin", "https://evil.example"),
        ]);
        assert!(cross_site(&evil, Some(&public)).is_some());
        assert_eq!(origin_of_url("ftp://x"), None);
        assert_eq!(origin_of_url("https://user@evil.example"), None);
        assert_eq!(
            origin_of_url("http://127.0.0.1:3100").as_deref(),
            Some("http://127.0.0.1:3100")
        );
    }
}
