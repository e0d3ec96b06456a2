//! PURE: numbers as people read them, shared by the views and the
//! comparison's reasons.

/// `5000` → `5,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count that may be fractional (a rate times a window), rounded.
pub fn count(n: f64) -> String {
    thousands(n.max(0.0).round() as u64)
}

/// A latency: `46.5 ms`, `249 ms`.
pub fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

/// CPU cores as kubectl writes them: `0.41` → `410m`.
pub fn millicores(cores: f64) -> String {
    format!("{:.0}m", cores * 1000.0)
}

/// Bytes in MiB: `536870912` → `512 MiB`.
pub fn mebibytes(bytes: f64) -> String {
    format!("{:.0} MiB", bytes / (1024.0 * 1024.0))
}

/// A window: `5 s`, `1 min`.
pub fn window_words(s: u64) -> String {
    if s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_people_read_them() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(5000), "5,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(count(1840.4), "1,840");
        assert_eq!(ms(46.54), "46.5 ms");
        assert_eq!(ms(249.4), "249 ms");
        assert_eq!(
            (window_words(60), window_words(5)),
            ("1 min".to_string(), "5 s".to_string())
        );
    }
}
