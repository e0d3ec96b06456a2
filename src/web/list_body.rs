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

use std::convert::Infallible;

use axum::body::{Body, Bytes};
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

/// The list of `entries` as one gzip member. While another gzip list is
/// being sent, the body is made whole once and shared by every list of
/// the same entries (the same rollouts at the same changes); otherwise,
/// or when the bodies already made hold `GZIP_SHARED_BYTES`, it is made
/// as the client reads it.
pub async fn gzip(entries: Vec<Arc<RolloutEntry>>, lists: Arc<GzipLists>) -> Body {
    let sending = lists.sending();
    // A lone list has nobody to share with: no key, nothing kept.
    let shared = if sending.others() {
        lists.cell(entries_key(&entries))
    } else {
        None
    };
    let Some(cell) = shared else {
        // Counted as sent until its end, so that lists after it share.
        let pieces = gzip_pieces(entries).inspect(move |_| {
            let _ = &sending;
        });
        return chunked::body_in(pieces, GZIP_CHUNK);
    };
    let made = cell
        .get_or_init(|| async {
            let chunks: Vec<Bytes> = chunked::chunks(gzip_pieces(entries), GZIP_CHUNK).collect();
            Arc::new(Made::new(lists.clone(), chunks))
        })
        .await
        .clone();
    let chunks = (0..made.chunks.len()).map(move |i| {
        // Holding `sending` counts this list as sent until its end.
        let _ = &sending;
        Ok::<_, Infallible>(made.chunks[i].clone())
    });
    Body::from_stream(futures_util::stream::iter(chunks))
}

fn gzip_pieces(entries: Vec<Arc<RolloutEntry>>) -> GzipPieces<impl Iterator<Item = Part>> {
    GzipPieces {
        started: false,
        parts: pieces(entries),
        stream: Some(GzipStream::default()),
    }
}

/// Which rollouts at which changes: change numbers belong to one entry
/// each, so equal keys are equal lists.
fn entries_key(entries: &[Arc<RolloutEntry>]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    entries.len().hash(&mut h);
    for e in entries {
        e.seq.hash(&mut h);
    }
    h.finish()
}

/// What the gzip lists made whole may hold at once (a list of 20,000
/// rollouts is 16 MB).
const GZIP_SHARED_BYTES: usize = 48 * 1024 * 1024;

/// Gzip lists being sent, and the last body made whole for them. Fifty
/// clients reading the list of 20,000 rollouts at once each gathered the
/// same 16 MB from 40,000 pieces scattered in memory (p99 above a second
/// on two cores); now one does, and the others send its chunks.
#[derive(Default)]
pub struct GzipLists {
    shared: Mutex<GzipShared>,
}

#[derive(Default)]
struct GzipShared {
    lists: usize,
    /// Bytes of the bodies made whole and still being sent.
    bytes: usize,
    last: Option<(u64, Arc<tokio::sync::OnceCell<Arc<Made>>>)>,
}

impl GzipLists {
    fn lock(&self) -> std::sync::MutexGuard<'_, GzipShared> {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sending(self: &Arc<Self>) -> SendingGzip {
        self.lock().lists += 1;
        SendingGzip(self.clone())
    }

    /// Where the body of the lists of `key` is (being) made, unless the
    /// bodies made already hold the bound.
    fn cell(&self, key: u64) -> Option<Arc<tokio::sync::OnceCell<Arc<Made>>>> {
        let mut shared = self.lock();
        if let Some((k, cell)) = &shared.last
            && *k == key
        {
            return Some(cell.clone());
        }
        // One body made at a time, and no more while those made hold the
        // bound: the rest are made as their clients read them.
        let making = shared.last.as_ref().is_some_and(|(_, c)| !c.initialized());
        if making || shared.bytes >= GZIP_SHARED_BYTES {
            return None;
        }
        let cell = Arc::new(tokio::sync::OnceCell::new());
        let before = shared.last.replace((key, cell.clone()));
        // Let go after the lock, as the body's own drop takes it.
        drop(shared);
        drop(before);
        Some(cell)
    }
}

/// A gzip list being sent.
struct SendingGzip(Arc<GzipLists>);

impl SendingGzip {
    fn others(&self) -> bool {
        self.0.lock().lists > 1
    }
}

impl Drop for SendingGzip {
    fn drop(&mut self) {
        let mut shared = self.0.lock();
        shared.lists -= 1;
        // Nobody left to share it with; let go after the lock, as the
        // body's own drop takes it.
        let last = if shared.lists == 0 {
            shared.last.take()
        } else {
            None
        };
        drop(shared);
        drop(last);
    }
}

/// A gzip body made whole, counted against the bound while it lives.
struct Made {
    lists: Arc<GzipLists>,
    chunks: Vec<Bytes>,
    bytes: usize,
}

impl Made {
    fn new(lists: Arc<GzipLists>, chunks: Vec<Bytes>) -> Made {
        let bytes = chunks.iter().map(Bytes::len).sum();
        lists.lock().bytes += bytes;
        Made {
            lists,
            chunks,
            bytes,
        }
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        self.lists.lock().bytes -= self.bytes;
    }
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
            // Alone, and made whole while another list is being sent.
            let lists = Arc::new(GzipLists::default());
            let alone = bytes(gzip(entries.clone(), lists.clone()).await).await;
            let other = lists.sending();
            let shared = bytes(gzip(entries, lists.clone()).await).await;
            drop(other);
            for zipped in [alone, shared] {
                assert_eq!(gunzip(&zipped), plain, "{n} rollouts");
            }
        }
    }

    fn gunzip(zipped: &[u8]) -> Vec<u8> {
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(zipped)
            .read_to_end(&mut unzipped)
            .expect("a valid gzip stream, its CRC and length checked");
        unzipped
    }

    #[tokio::test]
    async fn gzip_lists_sent_together_share_one_body_of_the_same_rollouts_within_a_bound() {
        let lists = Arc::new(GzipLists::default());
        let entries: Vec<_> = (0..50).map(|i| entry(&format!("app-{i:02}"))).collect();
        // Alone: made as it is read, nothing kept.
        let lone = gzip(entries.clone(), lists.clone()).await;
        assert_eq!(lists.lock().bytes, 0);
        // A second while the first is sent: made whole, and a third of the
        // same rollouts sends the very same chunks.
        let second = gzip(entries.clone(), lists.clone()).await;
        let made = lists.lock().bytes;
        assert!(made > 0);
        let third = gzip(entries.clone(), lists.clone()).await;
        assert_eq!(lists.lock().bytes, made, "shared, not made again");
        // A rollout changed: another body.
        let mut changed = entries.clone();
        changed[7] = entry("app-07");
        let fourth = gzip(changed.clone(), lists.clone()).await;
        assert!(lists.lock().bytes > made);
        assert_eq!(
            gunzip(&bytes(fourth).await),
            bytes(plain(changed, Arc::default())).await
        );
        let plain_list = bytes(plain(entries, Arc::default())).await;
        for body in [lone, second, third] {
            assert_eq!(gunzip(&bytes(body).await), plain_list);
        }
        assert_eq!(lists.lock().bytes, 0, "let go once sent");
        assert_eq!(lists.lock().lists, 0);
        assert!(lists.lock().last.is_none());

        // A body nobody sends any more gives way to the next one.
        let held = lists.sending();
        let first = bytes(gzip(entries_of(2), lists.clone()).await).await;
        let next = bytes(gzip(entries_of(4), lists.clone()).await).await;
        assert!(!first.is_empty() && !next.is_empty());
        assert_eq!(
            lists.lock().bytes,
            next.len(),
            "only the last body is kept: the first let go when replaced"
        );
        drop(held);

        // At the bound, lists are made as they are read.
        let held = lists.sending();
        lists.lock().bytes = GZIP_SHARED_BYTES;
        let _at_bound = gzip(entries_of(3), lists.clone()).await;
        assert!(lists.lock().last.is_none(), "nothing made whole");
        lists.lock().bytes = 0;
        drop(held);
    }

    fn entries_of(n: usize) -> Vec<Arc<RolloutEntry>> {
        (0..n).map(|i| entry(&format!("more-{i}"))).collect()
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
