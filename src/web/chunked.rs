//! A response body written as the client reads it: pieces gathered into
//! chunks of about `CHUNK` bytes, so a big answer (the overview or the
//! JSON list of thousands of rollouts) is never held whole, however many
//! people ask at once.

use std::convert::Infallible;

use axum::body::{Body, Bytes};

/// Bytes per chunk. Small, because hyper queues up to 16 chunks (or
/// 400 KB) per connection ahead of a slow reader: with 64 KB chunks, 50
/// people reading the list of 5,000 rollouts held about 20 MB in those
/// queues, the largest part of the benchmark's peak; with 8 KB at most
/// 128 KB each (peak 137-139 MB instead of 150-156; 16 KB chunks: 144).
/// The list's p99 varies as much run to run as between these sizes.
const CHUNK: usize = 8 * 1024;

/// A body of `pieces`, in order, produced only as fast as it is sent. A
/// piece is anything that reads as bytes (a rollout's JSON as the hub keeps
/// it is copied once, into the chunk).
pub fn body<P: AsRef<[u8]> + 'static>(pieces: impl Iterator<Item = P> + Send + 'static) -> Body {
    body_in(pieces, CHUNK)
}

/// As `body`, in chunks of about `size` bytes.
pub fn body_in<P: AsRef<[u8]> + 'static>(
    pieces: impl Iterator<Item = P> + Send + 'static,
    size: usize,
) -> Body {
    let chunks = chunks(pieces, size).map(Ok::<_, Infallible>);
    Body::from_stream(futures_util::stream::iter(chunks))
}

/// `pieces` gathered into chunks of about `size` bytes, made as they are
/// taken.
pub fn chunks<P: AsRef<[u8]>>(
    pieces: impl Iterator<Item = P>,
    size: usize,
) -> impl Iterator<Item = Bytes> {
    let mut pieces = pieces;
    std::iter::from_fn(move || {
        let mut chunk = Vec::with_capacity(size + size / 8);
        for piece in pieces.by_ref() {
            chunk.extend_from_slice(piece.as_ref());
            if chunk.len() >= size {
                return Some(Bytes::from(chunk));
            }
        }
        (!chunk.is_empty()).then(|| Bytes::from(chunk))
    })
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    /// The chunks a body sends, in order.
    async fn chunks(body: Body) -> Vec<Bytes> {
        let mut body = body;
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map(|f| f.into_data()) {
                out.extend(data.ok());
            }
        }
        out
    }

    #[tokio::test]
    async fn pieces_arrive_whole_in_order_and_in_bounded_chunks() {
        let pieces: Vec<Vec<u8>> = (0..1000u32)
            .map(|i| format!("piece {i:04} {};", "x".repeat(200)).into_bytes())
            .collect();
        let whole: Vec<u8> = pieces.concat();
        let sent = chunks(body(pieces.into_iter())).await;
        assert_eq!(sent.concat(), whole, "everything, in order");
        assert!(sent.len() > 1, "more than one chunk");
        for c in &sent[..sent.len() - 1] {
            // A chunk closes once it passes CHUNK, so by at most one piece.
            assert!(c.len() >= CHUNK && c.len() < CHUNK + 300, "{}", c.len());
        }
    }

    #[tokio::test]
    async fn no_pieces_is_an_empty_body() {
        assert!(chunks(body(std::iter::empty::<Vec<u8>>())).await.is_empty());
    }
}
