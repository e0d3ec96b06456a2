//! Text kept deflated beside its plain form, so that a gzip answer made of
//! many pieces (the JSON list of every rollout) is their concatenation,
//! never compressed per request. Each piece is compressed on its own (its
//! blocks refer to nothing before it) and ends on a sync flush, byte
//! aligned and not final, so pieces can follow each other in any order in
//! one deflate stream (RFC 1951); `GzipStream` frames them as one gzip
//! member (RFC 1952) whose CRC-32 is combined from the pieces' own.

use flate2::{Compress, Compression, FlushCompress};

/// A piece of text, deflated, with what the gzip trailer needs of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deflated {
    bytes: Box<[u8]>,
    crc: u32,
    len: u64,
}

impl Deflated {
    pub fn of(text: &[u8]) -> Deflated {
        let mut compress = Compress::new(Compression::default(), false);
        // Incompressible text grows by a few bytes per 16 KB block.
        let mut out = Vec::with_capacity(text.len() / 4 + 64);
        let mut input = text;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let before = compress.total_in();
            // Only a programming error makes deflate fail on a buffer with
            // room; the piece is then stored as no text, never a panic.
            if compress
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .is_err()
            {
                return Deflated::of(b"");
            }
            let used = (compress.total_in() - before) as usize;
            input = &input[used..];
            // Done when all is in and the flush fit in the room left.
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(text);
        Deflated {
            bytes: out.into_boxed_slice(),
            crc: crc.finalize(),
            len: text.len() as u64,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A gzip member's header: deflate, no name, no time, unknown OS.
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// An empty final block (fixed Huffman codes, end of block at once): what
/// ends a stream of sync-flushed pieces.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// The CRC-32 and length of what went into a gzip member, piece by piece.
#[derive(Clone, Default)]
pub struct GzipStream {
    crc: crc32fast::Hasher,
    len: u64,
}

impl GzipStream {
    /// `piece` is sent next.
    pub fn add(&mut self, piece: &Deflated) {
        self.crc.combine(&crc32fast::Hasher::new_with_initial_len(
            piece.crc, piece.len,
        ));
        self.len += piece.len;
    }

    /// What ends the member: the final block, CRC-32 and length (mod 2³²),
    /// little-endian.
    pub fn trailer(self) -> Vec<u8> {
        let mut out = FINAL_BLOCK.to_vec();
        out.extend_from_slice(&self.crc.finalize().to_le_bytes());
        out.extend_from_slice(&(self.len as u32).to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("a valid gzip stream: {e}"));
        out
    }

    #[test]
    fn pieces_deflated_apart_make_one_gzip_stream_in_any_order() {
        let pieces: Vec<Vec<u8>> = vec![
            br#"{"rollouts":["#.to_vec(),
            format!(r#"{{"name":"web","message":"{}"}}"#, "x".repeat(70_000)).into_bytes(),
            b",".to_vec(),
            // Incompressible: more out than in.
            (0..50_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect(),
            Vec::new(),
            b"]}".to_vec(),
        ];
        let deflated: Vec<Deflated> = pieces.iter().map(|p| Deflated::of(p)).collect();
        for order in [vec![0, 1, 2, 3, 4, 5], vec![5, 3, 4, 1, 0, 2]] {
            let mut stream = GzipStream::default();
            let mut gz = GZIP_HEADER.to_vec();
            let mut plain = Vec::new();
            for i in order {
                gz.extend_from_slice(deflated[i].bytes());
                stream.add(&deflated[i]);
                plain.extend_from_slice(&pieces[i]);
            }
            gz.extend(stream.trailer());
            assert_eq!(gunzip(&gz), plain);
        }
        assert!(
            deflated[1].bytes().len() < 1_000,
            "repeated text compresses: {}",
            deflated[1].bytes().len()
        );
    }

    #[test]
    fn an_empty_stream_is_a_valid_gzip_member() {
        let mut gz = GZIP_HEADER.to_vec();
        gz.extend(GzipStream::default().trailer());
        assert_eq!(gunzip(&gz), b"");
    }
}
