//! What both pages' live streams send (Server-Sent Events): every event's
//! name, here and nowhere else on the server (static/app.js's `connect`
//! handles the same names, in one table), each event as queued for its
//! page, and the response that streams them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio_stream::StreamExt;

use super::auth::limits::{Inbox, Outbox, Weighed};
use super::auth::permissions::Permissions;
use super::templates::{BannerPartial, render};
use crate::cluster::health::Health;

/// Every event a page's stream sends, with what its data carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventName {
    /// `{state, headline, html}`: the connection state and its banner.
    State,
    /// `{id, ns, html}`: an overview card, new or changed.
    Card,
    /// `{ids}`: the overview cards the page holds now; the others go.
    Resync,
    /// `{<status>: n, …}`: the overview's counts by status.
    Counts,
    /// `{id, html}`: a fragment of the page that changed.
    Replace,
    /// `{message}`: the page's rollout was deleted or is no longer shown.
    Gone,
    /// `{message}`: the last event; the sign-in ended or access was
    /// withdrawn, and the page stops following.
    Ended,
}

impl EventName {
    pub const ALL: [EventName; 7] = [
        EventName::State,
        EventName::Card,
        EventName::Resync,
        EventName::Counts,
        EventName::Replace,
        EventName::Gone,
        EventName::Ended,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventName::State => "state",
            EventName::Card => "card",
            EventName::Resync => "resync",
            EventName::Counts => "counts",
            EventName::Replace => "replace",
            EventName::Gone => "gone",
            EventName::Ended => "ended",
        }
    }
}

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One Server-Sent Event, as queued for its page (sized, so a page that
/// does not read holds a bounded backlog).
pub struct Message {
    name: EventName,
    data: Data,
}

enum Data {
    Json(String),
    /// `{id, ns, html}` (`ns` for a card): the html is the one rendering
    /// every page showing it shares, queued as a pointer and written out
    /// only as the page reads it. A thousand pages connecting each queued
    /// their hundred cards as copies (136 KB a page at 5,000 rollouts).
    /// Boxed, so the queue's slots stay small.
    Html(Box<Html>),
}

struct Html {
    id: String,
    ns: Option<String>,
    html: Arc<str>,
}

/// `Html` as sent, borrowed from it.
#[derive(serde::Serialize)]
struct HtmlData<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ns: Option<&'a str>,
    html: &'a str,
}

impl Weighed for Message {
    fn bytes(&self) -> usize {
        // `event: …\ndata: …\n\n`, and the html's JSON punctuation.
        let data = match &self.data {
            Data::Json(s) => s.len(),
            Data::Html(h) => h.id.len() + h.ns.as_ref().map_or(0, String::len) + h.html.len() + 32,
        };
        self.name.as_str().len() + data + 16
    }
}

impl Data {
    fn text(self) -> String {
        match self {
            Data::Json(s) => s,
            // Written straight from the shared html: through a `Value`
            // each card was copied twice per page. Strings always encode.
            Data::Html(h) => serde_json::to_string(&HtmlData {
                id: &h.id,
                ns: h.ns.as_deref(),
                html: &h.html,
            })
            .unwrap_or_default(),
        }
    }
}

pub type Tx = Outbox<Message>;

pub fn event(name: EventName, data: serde_json::Value) -> Message {
    Message {
        name,
        data: Data::Json(data.to_string()),
    }
}

/// An overview card: `{id, ns, html}`.
pub fn card(id: String, ns: &str, html: Arc<str>) -> Message {
    Message {
        name: EventName::Card,
        data: Data::Html(Box::new(Html {
            id,
            ns: Some(ns.to_string()),
            html,
        })),
    }
}

/// A fragment of the page that changed: `{id, html}`.
pub fn replace(id: &str, html: Arc<str>) -> Message {
    Message {
        name: EventName::Replace,
        data: Data::Html(Box::new(Html {
            id: id.to_string(),
            ns: None,
            html,
        })),
    }
}

pub fn sse(rx: Inbox<Message>) -> Response {
    let events = rx
        .map(|m| Ok::<_, Infallible>(Event::default().event(m.name.as_str()).data(m.data.text())));
    let mut r = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    let h = r.headers_mut();
    h.insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    h.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("private, no-store"),
    );
    r
}

/// The connection state as this person may see it.
pub async fn state_event(perms: &Permissions, health: &Health) -> Message {
    let banner = perms.banner(health).await;
    event(
        EventName::State,
        json!({"state": banner.state, "headline": banner.headline,
               "html": render(&BannerPartial { banner: &banner })}),
    )
}

pub fn ended(message: &str) -> Message {
    event(EventName::Ended, json!({ "message": message }))
}

#[cfg(test)]
mod tests {
    use super::EventName;

    /// The script handles exactly the events the server sends.
    #[test]
    fn the_script_handles_every_event_and_no_other() {
        let script = include_str!("../../static/app.js");
        let table = script
            .split_once("var handlers = {")
            .and_then(|(_, rest)| rest.split_once("\n    };"))
            .map(|(table, _)| table)
            .expect("app.js has its table of event handlers");
        let handled: Vec<&str> = table
            .lines()
            .filter_map(|l| l.trim().split_once(": function"))
            .map(|(name, _)| name.trim())
            .collect();
        let sent: Vec<&str> = EventName::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(handled, sent);
    }
}
