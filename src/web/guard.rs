//! In front of every route that changes something: `--read-only` answers
//! 403, and so does a request from another site (the browser says so in
//! `Sec-Fetch-Site` or `Origin`), so a page elsewhere cannot make a
//! signed-in person's browser promote or abort.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::AppError;

pub async fn mutation_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.read_only {
        return AppError::Forbidden(
            "this dashboard is read-only (--read-only): it changes nothing".into(),
        )
        .into_response();
    }
    if let Some(why) = cross_site(req.headers()) {
        tracing::warn!(reason = %why, path = %req.uri().path(), "refused a cross-site request");
        return AppError::Forbidden(why).into_response();
    }
    next.run(req).await
}

/// Why the request comes from another site, if it does. Requests without
/// these headers (curl, scripts) are not from a browser and pass.
pub fn cross_site(headers: &HeaderMap) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Some(format!(
            "refused a request from another site (Sec-Fetch-Site: {site})"
        ));
    }
    let origin = text(header::ORIGIN.as_str())?;
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let hosts = [text(header::HOST.as_str()), text("x-forwarded-host")];
    let same = authority.is_some_and(|a| hosts.iter().flatten().any(|h| h.eq_ignore_ascii_case(a)));
    (!same).then(|| format!("refused a request from another site (Origin: {origin})"))
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
        assert_eq!(cross_site(&headers(&[])), None, "curl sends neither header");
        let same = headers(&[
            ("host", "dash.example:3100"),
            ("origin", "http://dash.example:3100"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(cross_site(&same), None);
        let proxied = headers(&[
            ("host", "10.0.0.7:3100"),
            ("x-forwarded-host", "rollouts.example"),
            ("origin", "https://rollouts.example"),
        ]);
        assert_eq!(cross_site(&proxied), None);
        for bad in [
            headers(&[("host", "dash:3100"), ("origin", "https://evil.example")]),
            headers(&[("host", "dash:3100"), ("origin", "null")]),
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("sec-fetch-site", "same-site")]),
        ] {
            assert!(cross_site(&bad).is_some(), "{bad:?}");
        }
    }
}
