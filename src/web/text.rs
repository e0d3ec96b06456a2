//! Free text that others wrote (a tenant's `status.message`, an Event, a
//! header) as pages show it: cut to a bounded length, so one object cannot
//! make everyone's overview or stream large.

use std::borrow::Cow;

/// A message on an overview card or in the attention list.
pub const CARD_CHARS: usize = 240;
/// A message on the rollout page (the full text is one click away).
pub const PAGE_CHARS: usize = 2000;
/// An image, a step's label, a measured value: short by nature.
pub const LABEL_CHARS: usize = 200;

/// `text` cut to at most `max` characters, with `…` where it was cut.
pub fn clip(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
}

/// Whether `clip(text, max)` cuts it.
pub fn is_cut(text: &str, max: usize) -> bool {
    text.char_indices().nth(max).is_some()
}

/// Cut in place: for view fields built from the cluster's text.
pub fn clip_owned(text: &mut String, max: usize) {
    if let Some((end, _)) = text.char_indices().nth(max) {
        text.truncate(end);
        text.push('…');
    }
}

/// Milliseconds since the epoch as RFC 3339 (seconds).
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_on_a_character_boundary() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("ééééé", 2), "éé…", "characters, not bytes");
        assert!(is_cut("abcd", 3) && !is_cut("abc", 3));
        let mut s = "x".repeat(1_000_000);
        clip_owned(&mut s, CARD_CHARS);
        assert_eq!(s.chars().count(), CARD_CHARS + 1);
    }
}
