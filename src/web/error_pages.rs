//! Where an error meant for a person's browser (`PageError`) becomes a
//! page: its status, its heading, its reason, the dashboard's links.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::error::ShowAsPage;
use super::templates::message_page;

/// Around every route: an error meant for a person's browser becomes a
/// page with its status, its heading and its reason.
pub async fn show_pages(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let Some(ShowAsPage(e)) = response.extensions_mut().remove::<ShowAsPage>() else {
        return response;
    };
    let mut page = message_page(
        &state.base_path,
        e.status(),
        e.title(),
        e.to_string(),
        e.offers_sign_in() && state.auth.has_sign_in(),
    );
    // What the handler set besides its body stays (a cookie it clears).
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            page.headers_mut().append(name, value.clone());
        }
    }
    page
}
