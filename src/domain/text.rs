//! Text helpers every layer prints with.

/// The first `n` characters of `text` (all of a shorter one): never a panic on a short value
/// or inside a multi-byte character, unlike `&text[..n]`.
pub fn prefix(text: &str, n: usize) -> &str {
    match text.char_indices().nth(n) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// An age in the unit a person reads it in: `45 s`, `12 min`, `5 h`, `336 days`.
pub fn readable_age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..120 => format!("{s} s"),
        120..7_200 => format!("{} min", s / 60),
        7_200..172_800 => format!("{} h", s / 3_600),
        _ => format!("{} days", s / 86_400),
    }
}

/// `1 session`, `4024 sessions`.
pub fn sessions(n: usize) -> String {
    match n {
        1 => "1 session".to_string(),
        n => format!("{n} sessions"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_of_a_short_or_multi_byte_value_does_not_panic() {
        assert_eq!(prefix("008f4d3a0b6ad9d8ffff", 16), "008f4d3a0b6ad9d8");
        assert_eq!(prefix("abc", 16), "abc");
        assert_eq!(prefix("", 8), "");
        assert_eq!(prefix("ééééé", 2), "éé");
    }

    #[test]
    fn an_age_reads_in_seconds_minutes_hours_or_days() {
        assert_eq!(readable_age(45), "45 s");
        assert_eq!(readable_age(720), "12 min");
        assert_eq!(readable_age(5 * 3600 + 10), "5 h");
        assert_eq!(readable_age(29_003_598), "335 days");
    }
}
