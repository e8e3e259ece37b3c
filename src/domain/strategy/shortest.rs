//! Python's `Decimal(str(x))` for a double, without formatting a string for `Decimal` to
//! parse back: the shortest digits that read back as `x` (ryu's, the same digits as
//! `f64`'s `Display`: both give the shortest round-trip digits nearest to `x`; on an exact
//! tie between two of them ryu takes the even one, as Python's `repr` does), as a
//! mantissa and a power of ten, with the scale `Decimal::from_str` gives `Display`'s text.
//! The strategy converts every bar's trend strength this way; the text route cost about a
//! twentieth of a backtest. Anything outside the plain case (zero, a scale beyond 28, a
//! value past 96 bits) returns None and the caller takes the text route.

use rust_decimal::Decimal;

/// `x` as the decimal of its shortest text, or None outside the plain case.
pub fn shortest_decimal(x: f64) -> Option<Decimal> {
    if !x.is_finite() || x == 0.0 {
        return None;
    }
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(x).as_bytes();
    // ryu writes `-1.25`, `0.001`, `1.0`, `1e-7`, `1.5e22`.
    let (digits_text, exponent) = match text.iter().position(|&c| c == b'e') {
        Some(at) => (
            &text[..at],
            std::str::from_utf8(&text[at + 1..])
                .ok()?
                .parse::<i32>()
                .ok()?,
        ),
        None => (text, 0),
    };
    let (negative, digits_text) = match digits_text.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, digits_text),
    };
    // Seventeen significant digits at most, and a few leading zeros: an i128 holds them.
    if digits_text.len() > 32 {
        return None;
    }
    let mut digits: i128 = 0;
    let mut fraction_digits = 0i32;
    let mut after_point = false;
    for &c in digits_text {
        match c {
            b'0'..=b'9' => {
                digits = digits * 10 + i128::from(c - b'0');
                if after_point {
                    fraction_digits += 1;
                }
            }
            b'.' if !after_point => after_point = true,
            _ => return None,
        }
    }
    let mut power = exponent - fraction_digits;
    // `Display` writes no zero after the last significant digit of a fraction (ryu's
    // `1.0` is `Display`'s `1`), so neither does the mantissa.
    while power < 0 && digits % 10 == 0 {
        digits /= 10;
        power += 1;
    }
    let signed = if negative { -digits } else { digits };
    if power >= 0 {
        // `Display` writes the integer out in full: scale 0.
        let scaled = signed.checked_mul(10i128.checked_pow(u32::try_from(power).ok()?)?)?;
        Decimal::try_from_i128_with_scale(scaled, 0).ok()
    } else {
        let scale = u32::try_from(-power).ok().filter(|s| *s <= 28)?;
        Decimal::try_from_i128_with_scale(signed, scale).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// The text route this replaces.
    fn by_text(x: f64) -> Option<Decimal> {
        Decimal::from_str(&x.to_string()).ok()
    }

    /// The fast route gives the text route's decimal, mantissa and scale, except on an
    /// exact tie between two shortest candidates: Python's `repr` (David Gay's dtoa) and
    /// ryu take the even digit, `f64`'s `Display` the one away from zero
    /// (`-1052730259603333.25` is `repr`'s `-1052730259603333.2`, `Display`'s `...3.3`);
    /// there the fast route is Python's.
    fn same(x: f64) {
        let Some(fast) = shortest_decimal(x) else {
            return;
        };
        let slow = by_text(x).unwrap_or_else(|| panic!("{x:e}: the text route fails"));
        if (fast.mantissa(), fast.scale()) == (slow.mantissa(), slow.scale()) {
            return;
        }
        let exact =
            Decimal::from_f64_retain(x).unwrap_or_else(|| panic!("{x:e}: {fast} against {slow}"));
        assert_eq!(fast.scale(), slow.scale(), "{x:e}: {fast} against {slow}");
        assert_eq!(
            (fast + slow) / Decimal::TWO,
            exact,
            "{x:e}: {fast} against {slow}, no tie"
        );
        assert_eq!(
            fast.mantissa() % 2,
            0,
            "{x:e}: {fast} is not the even candidate"
        );
    }

    #[test]
    fn known_values_keep_the_text_routes_mantissa_and_scale() {
        for x in [
            1.0,
            -1.0,
            0.1,
            0.30000000000000004,
            1.5,
            100.0,
            1e-7,
            -2.5e-5,
            123456.789,
            1e22,
            3.0e20,
            0.000123,
            9007199254740993.0,
            1e-28,
            5e-324,
            1.7976931348623157e308,
            -1.0527302596033333e15,
        ] {
            same(x);
        }
        let one = shortest_decimal(1.0).expect("plain");
        assert_eq!((one.mantissa(), one.scale()), (1, 0));
        assert_eq!(shortest_decimal(0.0), None);
        // Python's repr of this tie, not Display's.
        let tie = shortest_decimal(-1.0527302596033333e15).expect("plain");
        assert_eq!(tie.to_string(), "-1052730259603333.2");
        assert_eq!(shortest_decimal(f64::NAN), None);
    }

    #[test]
    fn a_million_doubles_of_every_size_give_the_text_routes_decimal() {
        // A fixed xorshift: every exponent and mantissa pattern, the same each run.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut plain = 0;
        for _ in 0..1_000_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Strengths are near 1: half the draws from there, half from all doubles.
            let x = if state & 1 == 0 {
                f64::from_bits(state)
            } else {
                (state >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0
            };
            if shortest_decimal(x).is_some() {
                plain += 1;
            }
            same(x);
        }
        assert!(plain > 500_000, "only {plain} took the fast route");
    }
}
