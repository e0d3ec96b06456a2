//! The stylesheet, the script and the icon, embedded in the binary. Revalidated by
//! ETag, so a new binary's assets are picked up at once.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const APP_CSS: &str = include_str!("../../static/app.css");
const APP_JS: &str = include_str!("../../static/app.js");
/// A traffic split: stable, canary, then all on the new revision.
const FAVICON: &str = include_str!("../../static/favicon.svg");

fn etag(content: &str) -> String {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in content.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

fn asset(headers: &HeaderMap, content: &'static str, content_type: &'static str) -> Response {
    let tag = etag(content);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == tag);
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], content).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

pub async fn app_css(headers: HeaderMap) -> Response {
    asset(&headers, APP_CSS, "text/css; charset=utf-8")
}

pub async fn app_js(headers: HeaderMap) -> Response {
    asset(&headers, APP_JS, "text/javascript; charset=utf-8")
}

/// The pages link it; `/favicon.ico` answers with it too, for browsers and
/// tools that ask there unprompted (a 404 is an error in every console).
pub async fn favicon(headers: HeaderMap) -> Response {
    asset(&headers, FAVICON, "image/svg+xml")
}
