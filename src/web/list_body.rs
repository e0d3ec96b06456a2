//! The body of the JSON list of rollouts: `{"rollouts":[…]}`, each
//! rollout's JSON as the hub serialized and deflated it once per change
//! (`cluster::deflated`). To a client that accepts gzip, as browsers do,
//! the list is one gzip member made of those pieces as they are: about a
//! quarter of the bytes, nothing compressed per request. To others each
//! piece is inflated as the client reads it, once for all the plain lists
//! being sent at the same time (a list of 5,000 rollouts, 14 MB, is never
//! held whole nor serialized per request).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, header};

use crate::cluster::deflated::{Deflated, GZIP_HEADER, GzipStream, Inflate};
use crate::cluster::hub::RolloutEntry;

use super::chunked;

const OPEN: &[u8] = br#"{"rollouts":["#;
const COMMA: &[u8] = b",";
const CLOSE: &[u8] = b"]}";

/// The list's punctuation, deflated once.
static DEFLATED: LazyLock<[Deflated; 3]> =
    LazyLock::new(|| [Deflated::of(OPEN), Deflated::of(COMMA), Deflated::of(CLOSE)]);

/// Whether the request's `Accept-Encoding` takes gzip (or anything) with
/// a weight above zero.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let weight = parts
                .find_map(|p| p.strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (name.eq_ignore_ascii_case("gzip") || name == "*") && weight > 0.0
        })
}

/// Rollouts' JSON inflated for the plain lists being sent at the same
/// time: fifty lists at once inflated each rollout fifty times (at 5,000
/// rollouts the list's p99 went from 0.5 to 1.7 s). Kept only while two or
/// more plain lists are being sent (a lone list has nobody to share with),
/// at most `PLAIN_JSON_BYTES`, and let go when the last of them ends.
/// Keyed by the entry's change number, which no other entry has.
#[derive(Default)]
pub struct PlainJson(Mutex<Shared>);

#[derive(Default)]
struct Shared {
    /// Plain lists being sent.
    lists: usize,
    bytes: usize,
    json: HashMap<u64, Arc<[u8]>>,
}

/// What the plain lists' shared inflations may hold.
const PLAIN_JSON_BYTES: usize = 32 * 1024 * 1024;

impl PlainJson {
    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn of(&self, entry: &RolloutEntry) -> Result<Arc<[u8]>, Inflate> {
        if let Some(json) = self.shared().json.get(&entry.seq) {
            return Ok(json.clone());
        }
        let json: Arc<[u8]> = entry.json.deflated().inflate()?.into();
        let mut shared = self.shared();
        if shared.lists > 1 && shared.bytes + json.len() <= PLAIN_JSON_BYTES {
            shared.bytes += json.len();
            shared.json.insert(entry.seq, json.clone());
        }
        Ok(json)
    }
}

/// A plain list being sent; the shared inflations go with the last one.
struct Sending(Arc<PlainJson>);

impl Sending {
    fn new(plain_json: Arc<PlainJson>) -> Sending {
        plain_json.shared().lists += 1;
        Sending(plain_json)
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        let mut shared = self.0.shared();
        shared.lists -= 1;
        if shared.lists == 0 {
            shared.json = HashMap::new();
            shared.bytes = 0;
        }
    }
}

/// The plain list of `entries`.
pub fn plain(entries: Vec<Arc<RolloutEntry>>, plain_json: Arc<PlainJson>) -> Body {
    let sending = Sending::new(plain_json);
    chunked::body(pieces(entries).map(move |part| match part {
        Part::Text(text, _) => Piece::Text(text),
        Part::Rollout(e) => match sending.0.of(&e) {
            Ok(json) => Piece::Shared(json),
            // Said in the log, and a `null` in its place keeps the
            // list valid JSON rather than sending it broken.
            Err(e) => {
                tracing::error!(error = %e, "cannot read a rollout's kept JSON for the list");
                Piece::Text(b"null")
            }
        },
    }))
}

/// Bytes per chunk of the gzip list: four times the plain list's, for
/// about as many rollouts per chunk, and a quarter of the writes per
/// list (16 MB at 20,000 rollouts was 2,000 writes of 8 KB).
const GZIP_CHUNK: usize = 32 * 1024;

/// The list of `entries` as one gzip member.
pub fn gzip(entries: Vec<Arc<RolloutEntry>>) -> Body {
    chunked::body_in(
        GzipPieces {
            started: false,
            parts: pieces(entries),
            stream: Some(GzipStream::default()),
        },
        GZIP_CHUNK,
    )
}

/// The gzip header, each part deflated, then the trailer (which needs
/// every part's CRC-32: made after the last one).
struct GzipPieces<I> {
    started: bool,
    parts: I,
    stream: Option<GzipStream>,
}

impl<I: Iterator<Item = Part>> Iterator for GzipPieces<I> {
    type Item = Piece;

    fn next(&mut self) -> Option<Piece> {
        if !self.started {
            self.started = true;
            return Some(Piece::Bytes(GZIP_HEADER.to_vec()));
        }
        match self.parts.next() {
            Some(part) => {
                if let Some(stream) = &mut self.stream {
                    stream.add(part.deflated());
                }
                Some(Piece::Deflated(part))
            }
            None => self.stream.take().map(|s| Piece::Bytes(s.trailer())),
        }
    }
}

/// One part of the list, before its encoding.
enum Part {
    Text(&'static [u8], usize),
    Rollout(Arc<RolloutEntry>),
}

impl Part {
    fn deflated(&self) -> &Deflated {
        match self {
            Part::Text(_, i) => &DEFLATED[*i],
            Part::Rollout(e) => e.json.deflated(),
        }
    }
}

/// A piece of the body as sent.
enum Piece {
    Text(&'static [u8]),
    Shared(Arc<[u8]>),
    Deflated(Part),
    Bytes(Vec<u8>),
}

impl AsRef<[u8]> for Piece {
    fn as_ref(&self) -> &[u8] {
        match self {
            Piece::Text(t) => t,
            Piece::Shared(json) => json,
            Piece::Deflated(p) => p.deflated().bytes(),
            Piece::Bytes(b) => b,
        }
    }
}

/// `{"rollouts":[`, the entries with commas between, `]}`.
fn pieces(entries: Vec<Arc<RolloutEntry>>) -> impl Iterator<Item = Part> + Send {
    let items = entries.into_iter().enumerate().flat_map(|(i, entry)| {
        [
            (i > 0).then_some(Part::Text(COMMA, 1)),
            Some(Part::Rollout(entry)),
        ]
        .into_iter()
        .flatten()
    });
    std::iter::once(Part::Text(OPEN, 0))
        .chain(items)
        .chain(std::iter::once(Part::Text(CLOSE, 2)))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use axum::http::HeaderValue;
    use http_body_util::BodyExt;

    use super::*;
    use crate::cluster::hub::{InfoJson, Summary};
    use crate::info::RolloutInfo;

    /// An entry as the hub makes it: each with its own change number.
    fn entry(name: &str) -> Arc<RolloutEntry> {
        static CHANGES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut info = RolloutInfo::default();
        info.object_meta.name = name.into();
        info.object_meta.namespace = "shop".into();
        info.message = format!("{name} is paused; ünïcode and \"quotes\"");
        Arc::new(RolloutEntry {
            seq: CHANGES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            summary: Summary::default(),
            json: InfoJson::of(&mut info).expect("serializes"),
            error: None,
            events: Vec::new(),
            observed: None,
            card: std::sync::OnceLock::new(),
        })
    }

    async fn bytes(body: Body) -> Vec<u8> {
        body.collect()
            .await
            .map(|c| c.to_bytes().to_vec())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn the_gzip_list_unzips_to_the_plain_list() {
        for n in [0, 1, 3, 2_000] {
            let entries: Vec<_> = (0..n).map(|i| entry(&format!("app-{i:04}"))).collect();
            let plain = bytes(plain(entries.clone(), Arc::default())).await;
            let list: serde_json::Value = serde_json::from_slice(&plain).expect("JSON");
            assert_eq!(list["rollouts"].as_array().map(Vec::len), Some(n));
            let zipped = bytes(gzip(entries)).await;
            let mut unzipped = Vec::new();
            flate2::read::GzDecoder::new(&zipped[..])
                .read_to_end(&mut unzipped)
                .expect("a valid gzip stream, its CRC and length checked");
            assert_eq!(unzipped, plain, "{n} rollouts");
        }
    }

    #[test]
    fn plain_lists_sent_together_share_each_rollouts_inflation() {
        let plain_json = Arc::new(PlainJson::default());
        let (a, b) = (entry("web"), entry("api"));
        let inflated = |e: &RolloutEntry| plain_json.of(e).expect("inflates");
        // One list alone keeps nothing.
        let lone = Sending::new(plain_json.clone());
        assert!(!Arc::ptr_eq(&inflated(&a), &inflated(&a)));
        // Two at once share.
        let second = Sending::new(plain_json.clone());
        let first = inflated(&a);
        assert!(Arc::ptr_eq(&first, &inflated(&a)));
        assert_eq!(&*first, a.json.list().expect("inflates").as_bytes());
        // Another rollout (another change number) is its own.
        assert_ne!(&*inflated(&b), &*first);
        // When the last ends, nothing is kept.
        drop((lone, second));
        assert!(plain_json.shared().json.is_empty());
        assert_eq!(plain_json.shared().bytes, 0);
    }

    #[test]
    fn gzip_is_sent_only_to_who_takes_it() {
        let with = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(
                    header::ACCEPT_ENCODING,
                    HeaderValue::from_str(v).expect("a value"),
                );
            }
            accepts_gzip(&h)
        };
        assert!(with(&["gzip, deflate, br, zstd"]));
        assert!(with(&["br;q=1.0, GZIP;q=0.5"]));
        assert!(with(&["identity", "*"]));
        assert!(!with(&[]));
        assert!(!with(&["br, deflate"]));
        assert!(!with(&["gzip;q=0"]));
        assert!(!with(&["gzip; q=0.000"]));
        assert!(!with(&["gzipped"]));
    }
}
