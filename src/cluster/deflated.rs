//! Text kept deflated beside its plain form, so that a gzip answer made of
//! many pieces (the JSON list of every rollout) is their concatenation,
//! never compressed per request. Each piece is compressed on its own (its
//! blocks refer to nothing before it) and ends on a sync flush, byte
//! aligned and not final, so pieces can follow each other in any order in
//! one deflate stream (RFC 1951); `GzipStream` frames them as one gzip
//! member (RFC 1952) whose CRC-32 is combined from the pieces' own. A
//! piece inflates back on its own too, so the deflated form can be the
//! only one kept.

use flate2::Compression;

use super::crc_combine::{combine, shift_for};
use flate2::write::DeflateEncoder;

/// A piece of text, deflated, with what the gzip trailer needs of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deflated {
    bytes: Box<[u8]>,
    crc: u32,
    /// What appends this piece to a CRC (see crc_combine.rs).
    shift: u32,
    len: u64,
}

impl Deflated {
    pub fn of(text: &[u8]) -> Deflated {
        use std::io::Write;
        // `flush` is deflate's sync flush; the final block `finish` would
        // add is never written: the output is taken before the encoder
        // is dropped.
        let mut encoder = DeflateEncoder::new(
            Vec::with_capacity(text.len() / 4 + 64),
            Compression::default(),
        );
        if encoder
            .write_all(text)
            .and_then(|()| encoder.flush())
            .is_err()
        {
            // Writing to memory does not fail; were it to, the piece
            // stands for no text rather than a broken stream.
            return Deflated {
                bytes: Box::default(),
                crc: 0,
                shift: shift_for(0),
                len: 0,
            };
        }
        let bytes = std::mem::take(encoder.get_mut()).into_boxed_slice();
        Deflated {
            bytes,
            crc: crc32fast::hash(text),
            shift: shift_for(text.len() as u64),
            len: text.len() as u64,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The text back. These bytes were deflated here from memory, so this
    /// fails only on a bug; the caller says so and carries on.
    pub fn inflate(&self) -> Result<Vec<u8>, Inflate> {
        let len = usize::try_from(self.len).map_err(|_| Inflate)?;
        let mut out = Vec::with_capacity(len);
        let mut inflater = flate2::Decompress::new(false);
        // A sync flush ends the piece: everything written is out, and
        // there is no final block to wait for.
        match inflater.decompress_vec(&self.bytes, &mut out, flate2::FlushDecompress::Sync) {
            Ok(_) if out.len() == len => Ok(out),
            _ => Err(Inflate),
        }
    }

    /// The text back, as the UTF-8 it was made from.
    pub fn text(&self) -> Result<String, Inflate> {
        String::from_utf8(self.inflate()?).map_err(|_| Inflate)
    }
}

/// Kept text that does not inflate back to what was deflated.
#[derive(Debug, thiserror::Error)]
#[error("kept text does not inflate back (a bug in the dashboard)")]
pub struct Inflate;

/// A gzip member's header: deflate, no name, no time, unknown OS.
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// An empty final block (fixed Huffman codes, end of block at once): what
/// ends a stream of sync-flushed pieces.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// The CRC-32 and length of what went into a gzip member, piece by piece.
#[derive(Clone, Default)]
pub struct GzipStream {
    crc: u32,
    len: u64,
}

impl GzipStream {
    /// `piece` is sent next.
    pub fn add(&mut self, piece: &Deflated) {
        self.crc = combine(self.crc, piece.crc, piece.shift);
        self.len += piece.len;
    }

    /// What ends the member: the final block, CRC-32 and length (mod 2³²),
    /// little-endian.
    pub fn trailer(self) -> Vec<u8> {
        let mut out = FINAL_BLOCK.to_vec();
        out.extend_from_slice(&self.crc.to_le_bytes());
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
    fn each_piece_inflates_back_on_its_own() {
        let texts = [
            String::new(),
            "{\"name\":\"web\",\"message\":\"ünïcode\"}".to_string(),
            "x".repeat(70_000),
            (0..20_000u32)
                .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8))
                .collect(),
        ];
        for text in texts {
            let piece = Deflated::of(text.as_bytes());
            assert_eq!(piece.text().expect("inflates"), text);
        }
        let broken = Deflated {
            bytes: Box::new([0xff, 0x00]),
            crc: 0,
            shift: shift_for(10),
            len: 10,
        };
        assert!(broken.inflate().is_err(), "not deflate: an error, no panic");
    }

    #[test]
    fn an_empty_stream_is_a_valid_gzip_member() {
        let mut gz = GZIP_HEADER.to_vec();
        gz.extend(GzipStream::default().trailer());
        assert_eq!(gunzip(&gz), b"");
    }
}
