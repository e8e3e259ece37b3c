//! Text helpers every layer prints with.

/// The first `n` characters of `text` (all of a shorter one): never a panic on a short value
/// or inside a multi-byte character, unlike `&text[..n]`.
pub fn prefix(text: &str, n: usize) -> &str {
    match text.char_indices().nth(n) {
        Some((end, _)) => &text[..end],
        None => text,
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
}
