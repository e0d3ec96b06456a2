//! A response body written as the client reads it: pieces gathered into
//! chunks of about `CHUNK` bytes, so a big answer (the overview or the
//! JSON list of thousands of rollouts) is never held whole, however many
//! people ask at once.

use std::convert::Infallible;

use axum::body::{Body, Bytes};

/// Bytes per chunk.
const CHUNK: usize = 64 * 1024;

/// A body of `pieces`, in order, produced only as fast as it is sent.
pub fn body(pieces: impl Iterator<Item = Vec<u8>> + Send + 'static) -> Body {
    let mut pieces = pieces;
    let chunks = std::iter::from_fn(move || {
        let mut chunk = Vec::new();
        for piece in pieces.by_ref() {
            chunk.extend_from_slice(&piece);
            if chunk.len() >= CHUNK {
                return Some(Ok::<_, Infallible>(Bytes::from(chunk)));
            }
        }
        (!chunk.is_empty()).then(|| Ok(Bytes::from(chunk)))
    });
    Body::from_stream(futures_util::stream::iter(chunks))
}
