//! The askama templates, one struct per file in `templates/`. Every live
//! fragment has its own partial, included by the full page, so a fragment
//! sent alone and the same part of the page cannot drift apart.

use std::sync::Arc;

use askama::Template;

use super::view::card::CardView;
use super::view::detail::DetailView;
use super::view::filter::Filter;
use super::view::health::BannerView;

/// What every page's frame needs.
#[derive(Clone, Debug)]
pub struct PageInfo {
    /// `--base-path` with a trailing `/`.
    pub base: String,
    /// The page's live stream.
    pub stream: String,
    /// Which cluster, for people.
    pub cluster: String,
    /// Which namespaces, for people.
    pub scope: String,
    /// Who is signed in, or that nobody has to be (`--auth none` exposed).
    pub who: Option<String>,
    /// `who` is the warning that there is no authentication.
    pub unauthenticated: bool,
    /// `--auth token`: offer to forget the token.
    pub sign_out: bool,
}

pub struct Chip {
    pub status: &'static str,
    pub class: &'static str,
    pub count: usize,
    pub checked: bool,
}

pub struct Group {
    pub namespace: String,
    pub cards: Vec<CardSlot>,
}

pub struct CardSlot {
    pub html: Arc<str>,
    pub shown: bool,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub page: PageInfo,
    pub banner: BannerView,
    pub filter: Filter,
    pub chips: Vec<Chip>,
    pub attention: usize,
    pub namespaces: Vec<String>,
    pub empty: Option<String>,
}

/// Where the namespace groups go in the rendered overview.
pub const GROUPS_MARKER: &str = "<!--groups-->";

/// A namespace group's opening (its cards and `</div></section>` follow).
#[derive(Template)]
#[template(path = "partials/group_open.html")]
pub struct GroupOpenPartial<'a> {
    pub namespace: &'a str,
}

#[derive(Template)]
#[template(path = "rollout.html")]
pub struct RolloutPage {
    pub page: PageInfo,
    pub banner: BannerView,
    pub d: DetailView,
    pub base: String,
    pub read_only: bool,
    pub notice: Option<String>,
    pub error: Option<String>,
}

/// A page that only says why: an unknown rollout (404), no identity (401),
/// not allowed (403).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub base: String,
    pub title: String,
    pub why: String,
    /// Offer the sign-in page (`--auth token`).
    pub sign_in: bool,
}

/// A message page as an answer with `status`; `sign_in` offers the
/// sign-in page instead of the way back to all rollouts.
pub fn message_page(
    base: &str,
    status: axum::http::StatusCode,
    title: &str,
    why: String,
    sign_in: bool,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let page = MessagePage {
        base: base.to_string(),
        title: title.to_string(),
        why,
        sign_in,
    };
    (status, axum::response::Html(render(&page))).into_response()
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub base: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "partials/card.html")]
pub struct CardPartial<'a> {
    pub card: &'a CardView,
    pub base: &'a str,
    pub read_only: bool,
}

#[derive(Template)]
#[template(path = "partials/banner.html")]
pub struct BannerPartial<'a> {
    pub banner: &'a BannerView,
}

macro_rules! detail_partial {
    ($name:ident, $path:literal) => {
        #[derive(Template)]
        #[template(path = $path)]
        pub struct $name<'a> {
            pub d: &'a DetailView,
            pub base: &'a str,
            pub read_only: bool,
        }
    };
}

detail_partial!(HeaderPartial, "partials/rollout_header.html");
detail_partial!(TrafficPartial, "partials/traffic.html");
detail_partial!(StepsPartial, "partials/steps.html");
detail_partial!(AnalysisPartial, "partials/analysis.html");
detail_partial!(RevisionsPartial, "partials/revisions.html");
detail_partial!(ContainersPartial, "partials/containers.html");
detail_partial!(EventsPartial, "partials/events.html");

/// Renders a template; a failure (a bug, not bad input) is logged and shows
/// as a short notice instead of a broken page.
pub fn render(t: &impl Template) -> String {
    t.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "a template failed to render");
        "<p class=\"flash bad\">This part of the page could not be shown.</p>".to_string()
    })
}

/// Every live fragment of the rollout page, as (element id, HTML).
pub fn detail_fragments(
    d: &DetailView,
    base: &str,
    read_only: bool,
) -> Vec<(&'static str, String)> {
    vec![
        (
            "rollout-header",
            render(&HeaderPartial { d, base, read_only }),
        ),
        ("traffic", render(&TrafficPartial { d, base, read_only })),
        ("steps", render(&StepsPartial { d, base, read_only })),
        ("analysis", render(&AnalysisPartial { d, base, read_only })),
        (
            "revisions",
            render(&RevisionsPartial { d, base, read_only }),
        ),
        (
            "containers",
            render(&ContainersPartial { d, base, read_only }),
        ),
        ("events", render(&EventsPartial { d, base, read_only })),
    ]
}
