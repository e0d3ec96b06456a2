//! What both pages' live streams send (Server-Sent Events): every event's
//! name, here and nowhere else on the server (static/app.js's `connect`
//! handles the same names, in one table), each event as queued for its
//! page, and the response that streams them.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::json;
use tokio_stream::Stream;

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

/// One Server-Sent Event (or several, written out once), as queued for
/// its page. Sized, so a page that does not read holds a bounded backlog;
/// boxed, so the queue's slots (allocated 32 at a time, kept while the
/// page is open) are a pointer each.
pub struct Message(Box<Frame>);

enum Frame {
    Json {
        name: EventName,
        text: String,
    },
    /// `{id, ns, html}` (`ns` for a card): the html is the one rendering
    /// every page showing it shares, queued as a pointer and written out
    /// only as the page reads it. A thousand pages connecting each queued
    /// their hundred cards as copies (136 KB a page at 5,000 rollouts).
    Html {
        name: EventName,
        html: Html,
    },
    /// Events already written out, as one overview feed wrote them once
    /// for every page that follows it.
    Written(Bytes),
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
        match &*self.0 {
            Frame::Json { name, text } => name.as_str().len() + text.len() + 16,
            Frame::Html { name, html: h } => {
                let data = h.id.len() + h.ns.as_ref().map_or(0, String::len) + h.html.len();
                name.as_str().len() + data + 48
            }
            Frame::Written(b) => b.len(),
        }
    }
}

impl Message {
    /// Appends the event as the stream sends it.
    fn write_into(self, out: &mut Vec<u8>) {
        let (name, data) = match *self.0 {
            Frame::Written(b) => {
                out.extend_from_slice(&b);
                return;
            }
            Frame::Json { name, text } => (name, text),
            // Written straight from the shared html: through a `Value`
            // each card was copied twice per page. Strings always encode.
            Frame::Html { name, html: h } => (
                name,
                serde_json::to_string(&HtmlData {
                    id: &h.id,
                    ns: h.ns.as_deref(),
                    html: &h.html,
                })
                .unwrap_or_default(),
            ),
        };
        // Compact JSON has no line breaks (a string's are escaped), so the
        // data is one `data:` line.
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(data.as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    fn written(self) -> Bytes {
        if let Frame::Written(b) = *self.0 {
            return b;
        }
        let mut out = Vec::with_capacity(self.bytes());
        self.write_into(&mut out);
        Bytes::from(out)
    }

    /// Several events written out once, to be sent as they are to every
    /// page that follows the same feed (and in one write each).
    pub fn all_written(messages: Vec<Message>) -> Message {
        let mut out = Vec::with_capacity(messages.iter().map(Weighed::bytes).sum());
        for m in messages {
            m.write_into(&mut out);
        }
        Message(Box::new(Frame::Written(Bytes::from(out))))
    }

    /// The same written events again (a feed's, for one more page).
    pub fn shared(&self) -> Option<Message> {
        match &*self.0 {
            Frame::Written(b) => Some(Message(Box::new(Frame::Written(b.clone())))),
            _ => None,
        }
    }
}

pub type Tx = Outbox<Message>;

pub fn event(name: EventName, data: serde_json::Value) -> Message {
    Message(Box::new(Frame::Json {
        name,
        text: data.to_string(),
    }))
}

/// An overview card: `{id, ns, html}`.
pub fn card(id: String, ns: &str, html: Arc<str>) -> Message {
    Message(Box::new(Frame::Html {
        name: EventName::Card,
        html: Html {
            id,
            ns: Some(ns.to_string()),
            html,
        },
    }))
}

/// A fragment of the page that changed: `{id, html}`.
pub fn replace(id: &str, html: Arc<str>) -> Message {
    Message(Box::new(Frame::Html {
        name: EventName::Replace,
        html: Html {
            id: id.to_string(),
            ns: None,
            html,
        },
    }))
}

/// The response: each message as it is read from the page's queue, and a
/// comment when nothing was sent for a while (proxies close idle
/// connections). The events are written here, not by axum's `Sse`, so that
/// those a feed wrote once go out to each page as they are.
pub fn sse(rx: Inbox<Message>) -> Response {
    let mut r = Response::new(Body::from_stream(Frames {
        inbox: rx,
        quiet: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
    }));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    r
}

struct Frames {
    inbox: Inbox<Message>,
    quiet: Pin<Box<tokio::time::Sleep>>,
}

impl Stream for Frames {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = match Pin::new(&mut self.inbox).poll_next(cx) {
            Poll::Ready(Some(m)) => m.written(),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {
                if self.quiet.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                Bytes::from_static(b":\n\n")
            }
        };
        let again = tokio::time::Instant::now() + KEEP_ALIVE;
        self.quiet.as_mut().reset(again);
        Poll::Ready(Some(Ok(next)))
    }
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
