//! Logging: one line per event, key=value for people or JSON for clusters.
//! `RUST_LOG` narrows or widens what is logged (default: info).
//!
//! Whatever a request carried (a query parameter, a provider's error text)
//! may reach a log field; a newline in it would start a forged line and an
//! escape code would repaint a terminal. Every event is written through
//! [`Escaping`], so a line is one event: control characters inside it are
//! written as escapes (`\n`, `\u{1b}`), and colours are off.

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::cli::LogFormat;

/// What is logged unless `RUST_LOG` says otherwise. kube's client logs an
/// ERROR of its own for every failed call (a watch's 500, a refused
/// connection) beside the one line we log at the level the failure
/// deserves (a watch retrying is a WARN), so its layer is silenced.
pub const DEFAULT_FILTER: &str = "info,kube_client::client::builder=off";

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Escaping(std::io::stderr));
    // A second init (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.compact().try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Makes writers that escape control characters (see the module's text).
#[derive(Clone, Copy, Debug)]
pub struct Escaping<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Escaping<M> {
    type Writer = EscapingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        EscapingWriter(self.0.make_writer())
    }
}

/// tracing's formatter hands over each event whole, ending in one
/// newline: that one is kept, every other control character escaped.
pub struct EscapingWriter<W>(W);

impl<W: Write> Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(escape_line(buf).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// One event's text with control characters escaped, its final newline kept.
pub fn escape_line(buf: &[u8]) -> String {
    let text = String::from_utf8_lossy(buf);
    let (body, newline) = match text.strip_suffix('\n') {
        Some(b) => (b, true),
        None => (&*text, false),
    };
    let mut out = String::with_capacity(body.len() + 1);
    for c in body.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                out.push_str(&c.escape_unicode().to_string());
            }
            c => out.push(c),
        }
    }
    if newline {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_call_is_one_line_ours_not_a_second_error_from_kube() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(DEFAULT_FILTER))
            .with_ansi(false)
            .with_writer(Escaping(move || sink.clone()))
            .compact()
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "kube_client::client::builder", "failed with status 500");
            tracing::warn!(kind = "Rollout", "watch failed; retrying");
        });
        let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(
            out.contains("WARN") && out.contains("watch failed"),
            "{out}"
        );
    }

    #[test]
    fn text_from_a_request_cannot_forge_a_log_line_or_paint_a_terminal() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(Escaping(move || sink.clone()))
            .compact()
            .finish();
        let forged = "x\n2026-12-03T12:00:00Z  INFO audit: user=\"alice\" action=\"promote\" outcome=\"done\"\u{1b}[2K\r";
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(reason = %forged, "an OpenID Connect sign-in failed");
        });
        let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out.matches('\n').count(), 1, "one event, one line: {out}");
        assert!(out.ends_with('\n'));
        assert!(out.contains("x\\n2026-12-03"), "{out}");
        assert!(out.contains("\\u{1b}[2K\\r"), "{out}");
        assert!(!out.contains('\u{1b}'));
    }
}
