//! PURE: the last lines of an aborted or degraded revision's pods, as the
//! history keeps them: each container's newest lines within a bound, in
//! the kubelet's own form (`<RFC 3339 time> <text>`, one a line), with a
//! count of the errors among them.

use jiff::Timestamp;

use super::facts::Outcome;
use crate::info::logs::is_error_line;

/// Lines kept per container at most, and bytes (the bound).
pub const LINES_KEPT: usize = 200;
pub const BYTES_KEPT: usize = 64 * 1024;
/// Containers kept per revision at most (pods × containers): a 50-replica
/// canary's logs would otherwise be 3 MB in one History entry.
pub const CONTAINERS_KEPT: usize = 8;

/// One line as kept: when the kubelet stamped it (when it did), its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptLine {
    pub time: Option<Timestamp>,
    pub text: String,
}

impl KeptLine {
    pub fn is_error(&self) -> bool {
        is_error_line(&self.text)
    }
}

/// One container's last lines, or why there are none.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptLog {
    pub pod: String,
    pub container: String,
    /// When they were read (ms since the epoch).
    pub captured_at: i64,
    /// What the revision had come to.
    pub reason: Outcome,
    pub lines: Vec<KeptLine>,
    /// Lines read but not kept (beyond the bound).
    pub dropped: u64,
    /// Why nothing could be read.
    pub problem: Option<String>,
}

impl KeptLog {
    pub fn error_lines(&self) -> usize {
        self.lines.iter().filter(|l| l.is_error()).count()
    }
}

/// Keeps the newest of `lines` (oldest first) within `LINES_KEPT` and
/// `BYTES_KEPT`; returns them and how many were left out.
pub fn newest_within_bounds(lines: Vec<KeptLine>) -> (Vec<KeptLine>, u64) {
    let mut bytes = 0;
    let mut kept = 0;
    for l in lines.iter().rev() {
        let size = l.text.len() + 1;
        if kept == LINES_KEPT || bytes + size > BYTES_KEPT {
            break;
        }
        bytes += size;
        kept += 1;
    }
    let dropped = (lines.len() - kept) as u64;
    let kept_lines = lines.into_iter().skip(dropped as usize).collect();
    (kept_lines, dropped)
}

/// The lines in the kubelet's form, one a line (a line's own newlines
/// cannot occur: lines are split at them when read).
pub fn encode(lines: &[KeptLine]) -> String {
    let mut out = String::new();
    for l in lines {
        if let Some(t) = l.time {
            out.push_str(&t.to_string());
        }
        out.push(' ');
        out.push_str(&l.text);
        out.push('\n');
    }
    out
}

/// The lines back from `encode`'s form; a line whose time does not parse
/// keeps its whole text.
pub fn decode(text: &str) -> Vec<KeptLine> {
    text.lines()
        .map(|l| match l.split_once(' ') {
            Some(("", rest)) => KeptLine {
                time: None,
                text: rest.to_string(),
            },
            Some((t, rest)) => match t.parse::<Timestamp>() {
                Ok(time) => KeptLine {
                    time: Some(time),
                    text: rest.to_string(),
                },
                Err(_) => KeptLine {
                    time: None,
                    text: l.to_string(),
                },
            },
            None => KeptLine {
                time: None,
                text: l.to_string(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: usize, len: usize) -> KeptLine {
        KeptLine {
            time: Timestamp::from_second(1_700_000_000 + i as i64).ok(),
            text: format!("{i:05}{}", "x".repeat(len.saturating_sub(5))),
        }
    }

    #[test]
    fn keeps_the_newest_two_hundred_lines() {
        let lines: Vec<KeptLine> = (0..250).map(|i| line(i, 20)).collect();
        let (kept, dropped) = newest_within_bounds(lines);
        assert_eq!((kept.len(), dropped), (200, 50));
        assert!(kept[0].text.starts_with("00050"));
        assert!(kept[199].text.starts_with("00249"));
    }

    #[test]
    fn keeps_the_newest_sixty_four_kibibytes() {
        // 100 lines of 1,000 bytes (and a newline): 65 fit in 64 KiB.
        let lines: Vec<KeptLine> = (0..100).map(|i| line(i, 1000)).collect();
        let (kept, dropped) = newest_within_bounds(lines);
        assert_eq!((kept.len(), dropped), (65, 35));
        assert!(kept.iter().map(|l| l.text.len() + 1).sum::<usize>() <= BYTES_KEPT);
        assert!(kept[64].text.starts_with("00099"));
    }

    #[test]
    fn lines_read_back_as_written() {
        let lines = vec![
            line(1, 10),
            KeptLine {
                time: None,
                text: "no time: kept whole".into(),
            },
            KeptLine {
                time: Timestamp::from_second(1_700_000_000).ok(),
                text: "GET /search 503 901ms".into(),
            },
        ];
        assert_eq!(decode(&encode(&lines)), lines);
        assert_eq!(
            decode("not-a-time GET / 200\n")[0].text,
            "not-a-time GET / 200"
        );
    }
}
