//! Daily bars and the CSV loader (`date,open,high,low,close,volume`), validating every row.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::domain::DomainError;

/// One daily bar. Prices are exact decimals; `close_f64` is the IEEE double the indicators use
/// (the nearest double to the decimal close, as the original's `float(Decimal)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// Session date.
    pub date: NaiveDate,
    /// Open.
    pub open: Decimal,
    /// High.
    pub high: Decimal,
    /// Low.
    pub low: Decimal,
    /// Close.
    pub close: Decimal,
    /// Volume (shares; may be split-adjusted and so fractional).
    pub volume: f64,
    /// The close as a double.
    pub close_f64: f64,
}

impl Bar {
    /// A bar from its fields; `close_f64` is derived from the decimal close.
    pub fn new(
        date: NaiveDate,
        open: Decimal,
        high: Decimal,
        low: Decimal,
        close: Decimal,
        volume: f64,
    ) -> Self {
        Bar {
            date,
            open,
            high,
            low,
            close,
            volume,
            close_f64: decimal_to_f64(close),
        }
    }

    /// What is wrong with this bar, if anything: non-positive prices, high below the open or
    /// close, low above them, negative or non-finite volume.
    pub fn problem(&self) -> Option<String> {
        let positive = |d: Decimal| d.mantissa() > 0;
        let prices = [self.open, self.high, self.low, self.close];
        if !prices.into_iter().all(positive) {
            return Some("prices must be positive".into());
        }
        let below = |a: Decimal, b: Decimal| less(a, b);
        if below(self.high, self.open) || below(self.high, self.close) {
            return Some(format!(
                "high {} is below max(open {}, close {})",
                self.high, self.open, self.close
            ));
        }
        if below(self.open, self.low) || below(self.close, self.low) {
            return Some(format!(
                "low {} is above min(open {}, close {})",
                self.low, self.open, self.close
            ));
        }
        if !(self.volume.is_finite() && self.volume >= 0.0) {
            return Some(format!("volume {} must be >= 0", self.volume));
        }
        None
    }
}

/// `a < b` by the mantissas: as they are when the scales are equal (a file's prices mostly
/// share one), else one brought to the other's scale (`29.7` against `29.75`) while that
/// fits an `i128`; `Decimal`'s own comparison past that.
fn less(a: Decimal, b: Decimal) -> bool {
    let (sa, sb) = (a.scale(), b.scale());
    if sa == sb {
        return a.mantissa() < b.mantissa();
    }
    let up = |m: i128, by: u32| 10i128.checked_pow(by).and_then(|p| m.checked_mul(p));
    let aligned = if sa < sb {
        up(a.mantissa(), sb - sa).map(|ma| ma < b.mantissa())
    } else {
        up(b.mantissa(), sa - sb).map(|mb| a.mantissa() < mb)
    };
    aligned.unwrap_or_else(|| a < b)
}

/// The nearest double to a decimal, through its exact text (as Python's `float(Decimal)`).
pub fn decimal_to_f64(d: Decimal) -> f64 {
    // Clinger's fast path: a mantissa below 2^53 and a power of ten up to 10^22 are exact
    // doubles, and IEEE division rounds their quotient correctly: the nearest double to the
    // decimal, as the text parse gives it, without the text.
    if let Some(x) = exact_quotient(d.mantissa(), d.scale()) {
        return x;
    }
    f64::from_str(&d.to_string())
        .ok()
        .or_else(|| d.to_f64())
        .unwrap_or(f64::NAN)
}

/// Powers of ten that are exact doubles.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `mantissa / 10^scale` correctly rounded, when both are exact doubles.
fn exact_quotient(mantissa: i128, scale: u32) -> Option<f64> {
    const EXACT: i128 = 1 << 53;
    let power = POW10.get(scale as usize)?;
    // Below 2^53 the mantissa is an i64 and an exact double: the cheap conversion.
    (mantissa.abs() < EXACT).then(|| mantissa as i64 as f64 / power)
}

/// A plain decimal numeral (`123`, `-4.50`) as its mantissa and scale, the way
/// `Decimal::from_str` reads it (trailing zeros kept); None for anything else (an
/// exponent, a sign alone, more than 18 digits), which the caller parses the slow way.
fn plain_decimal(text: &[u8]) -> Option<(i64, u32)> {
    let (negative, digits) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, text),
    };
    // `.5`, `5.` and the like go the slow way, whatever their parsers make of them.
    if digits.first() == Some(&b'.') || digits.last() == Some(&b'.') {
        return None;
    }
    // At most 19 characters: the digits fit a u64 (and 18 of them an i64).
    if digits.len() > 19 {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut point: Option<usize> = None;
    for (i, &c) in digits.iter().enumerate() {
        let digit = c.wrapping_sub(b'0');
        if digit < 10 {
            mantissa = mantissa * 10 + u64::from(digit);
        } else if c == b'.' && point.is_none() {
            point = Some(i);
        } else {
            return None;
        }
    }
    let count = digits.len() - usize::from(point.is_some());
    // No digit, more than 18, or a negative zero (whose sign both parsers keep).
    if count == 0 || count > 18 || (negative && mantissa == 0) {
        return None;
    }
    let scale = u32::try_from(point.map_or(0, |at| digits.len() - at - 1)).ok()?;
    let mantissa = i64::try_from(mantissa).ok()?;
    Some((if negative { -mantissa } else { mantissa }, scale))
}

/// A price field: the fast path for plain numerals, `Decimal`'s own parser otherwise.
fn parse_price(bytes: &[u8]) -> Option<Decimal> {
    price_of(bytes, plain_decimal(bytes))
}

/// A double field: exact through the fast path for plain numerals, `f64`'s parser
/// otherwise (both give the nearest double to the text).
fn parse_double(bytes: &[u8]) -> Option<f64> {
    double_of(bytes, plain_decimal(bytes))
}

/// The close as a price and as the nearest double to its text, its numeral read once (as
/// [`parse_price`] and [`parse_double`] would read it twice).
fn parse_close(bytes: &[u8]) -> Option<(Decimal, f64)> {
    let plain = plain_decimal(bytes);
    let price = price_of(bytes, plain)?;
    Some((
        price,
        double_of(bytes, plain).unwrap_or_else(|| decimal_to_f64(price)),
    ))
}

/// The price of `bytes`, whose [`plain_decimal`] reading is `plain`. Inlined into each
/// reader (callgrind: 4 M fewer instructions a backtest than a call per field).
#[inline(always)]
fn price_of(bytes: &[u8], plain: Option<(i64, u32)>) -> Option<Decimal> {
    if let Some((mantissa, scale)) = plain.filter(|(_, scale)| *scale <= 28) {
        return Some(Decimal::new(mantissa, scale));
    }
    let text = std::str::from_utf8(bytes).ok()?;
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

/// The nearest double to `bytes`, whose [`plain_decimal`] reading is `plain`.
#[inline(always)]
fn double_of(bytes: &[u8], plain: Option<(i64, u32)>) -> Option<f64> {
    plain
        .and_then(|(m, s)| exact_quotient(i128::from(m), s))
        .or_else(|| f64::from_str(std::str::from_utf8(bytes).ok()?).ok())
}

const HEADER: [&str; 6] = ["date", "open", "high", "low", "close", "volume"];

/// Parses CSV text of daily bars; `path` names the source in errors. The first bad row is
/// the error.
pub fn parse_csv<R: std::io::Read>(reader: R, path: &Path) -> Result<Vec<Bar>, DomainError> {
    first_problem(parse_rows(reader, path)?, path)
}

/// [`parse_csv`] of text already in memory.
pub fn parse_csv_text(text: &[u8], path: &Path) -> Result<Vec<Bar>, DomainError> {
    first_problem(parse_text(text, path)?, path)
}

/// The bars, or the first bad row as the error.
fn first_problem(parsed: Parsed, path: &Path) -> Result<Vec<Bar>, DomainError> {
    let (bars, mut problems) = parsed;
    if problems.is_empty() {
        return Ok(bars);
    }
    let (line, problem) = problems.swap_remove(0);
    Err(DomainError::Data {
        path: path.to_path_buf(),
        line,
        problem,
    })
}

/// The good bars of a file, and each bad row's line and problem.
pub type Parsed = (Vec<Bar>, Vec<(u64, String)>);

/// Parses CSV text of daily bars, every row: the good bars, and each bad row's line and
/// problem (a field that is not a number, prices that are not positive or out of OHLC
/// order, a date repeated or out of order). A bad header or no bar at all is an error.
pub fn parse_rows<R: std::io::Read>(mut reader: R, path: &Path) -> Result<Parsed, DomainError> {
    let mut text = Vec::new();
    reader
        .read_to_end(&mut text)
        .map_err(|e| DomainError::Data {
            path: path.to_path_buf(),
            line: 0,
            problem: format!("cannot read the file: {e}"),
        })?;
    parse_text(&text, path)
}

/// [`parse_rows`] of text already in memory: plain text (the bundled files, what `jutsu
/// data` writes) by [`plain_rows`], anything else by the `csv` reader; both read a text the
/// same way, row for row and line for line.
pub fn parse_text(text: &[u8], path: &Path) -> Result<Parsed, DomainError> {
    match plain_rows(text) {
        Some(parsed) => Ok(parsed),
        None => csv_rows(text, path),
    }
}

/// The bars and bad rows of a text the `csv` reader would split as a plain splitter does
/// (no quote, no carriage return, no byte-order mark) and whose header is right; None for
/// anything else (and for a text with no row), which [`csv_rows`] reads and names.
///
/// Why a splitter of our own beside the `csv` crate: on these files its general state
/// machine was a third of the time of a backtest (callgrind: 20 M of 68 M instructions to
/// load six files), and a text without quotes needs only a search for commas and newlines.
fn plain_rows(text: &[u8]) -> Option<Parsed> {
    if text.starts_with(b"\xEF\xBB\xBF") || memchr::memchr2(b'"', b'\r', text).is_some() {
        return None;
    }
    let mut lines = PlainLines::of(text);
    let (_, header) = lines.next()?;
    let header_is_right = header
        .split(|&c| c == b',')
        .map(<[u8]>::trim_ascii)
        .eq(HEADER.iter().map(|name| name.as_bytes()));
    if !header_is_right {
        return None;
    }
    let mut bars: Vec<Bar> = Vec::with_capacity(text.len() / 40);
    let mut problems = Vec::new();
    loop {
        // The common row is read where it starts, up to and with its newline: no search
        // for the line's end first.
        if let Some((bar, used)) = lines.rest().and_then(|rest| plain_bar(rest, bars.last())) {
            lines.skip_record(used);
            bars.push(bar);
            continue;
        }
        let Some((line, row)) = lines.next() else {
            break;
        };
        let fields: Vec<&[u8]> = row.split(|&c| c == b',').collect();
        match checked(&fields, bars.last()) {
            Ok(bar) => bars.push(bar),
            Err(problem) => problems.push((line, problem)),
        }
    }
    (!bars.is_empty() || !problems.is_empty()).then_some((bars, problems))
}

/// The non-empty lines of a plain text, each with the line number the `csv` reader gives
/// its record (`csv::Reader::position` before the read): the line after the previous
/// record's, blank lines skipped.
struct PlainLines<'a> {
    text: &'a [u8],
    /// Where the next line starts, and its number.
    at: usize,
    next_line: u64,
    /// The line after the last record's.
    after_record: u64,
}

impl<'a> PlainLines<'a> {
    fn of(text: &'a [u8]) -> Self {
        PlainLines {
            text,
            at: 0,
            next_line: 1,
            after_record: 1,
        }
    }

    /// The text from the next line on; None at the end.
    fn rest(&self) -> Option<&'a [u8]> {
        self.text.get(self.at..).filter(|rest| !rest.is_empty())
    }

    /// Steps over a record of `used` bytes read from [`PlainLines::rest`]: its line and
    /// the newline that ends it (none at the end of the text).
    fn skip_record(&mut self, used: usize) {
        self.at += used;
        self.next_line += 1;
        self.after_record = self.next_line;
    }
}

impl<'a> Iterator for PlainLines<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.text.get(self.at..).filter(|rest| !rest.is_empty())?;
            let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            let line = self.next_line;
            self.at += end + 1;
            self.next_line += 1;
            if end > 0 {
                let reported = self.after_record;
                self.after_record = line + 1;
                return Some((reported, &rest[..end]));
            }
        }
    }
}

/// The row at the start of `rest` as the bar it is, and its length with its newline, when
/// it is the common case of a good file (a plain date, five plain numerals, no spaces,
/// every check of [`checked`] passed), read in one pass over its bytes without building
/// the error texts; None for anything else (a space, a sign, an exponent, a failed check, a
/// blank line), which `checked` then reads or names.
fn plain_bar(rest: &[u8], previous: Option<&Bar>) -> Option<(Bar, usize)> {
    let date = parse_date(rest.get(..10)?)?;
    if rest.get(10) != Some(&b',') || previous.is_some_and(|p| p.date >= date) {
        return None;
    }
    let mut scan = PlainFields { row: rest, at: 11 };
    let mut price = || scan.numeral(b',').filter(|n| n.mantissa > 0);
    let (open, high, low, close) = (price()?, price()?, price()?, price()?);
    // The last field ends the line (or the text); a comma in it is a seventh field.
    let volume = scan.numeral(b'\n')?;
    let in_order = at_most(open, high) && at_most(close, high);
    if !(in_order && at_most(low, open) && at_most(low, close)) {
        return None;
    }
    let decimal = |n: Numeral| Decimal::new(n.mantissa, n.scale);
    let bar = Bar {
        date,
        open: decimal(open),
        high: decimal(high),
        low: decimal(low),
        close: decimal(close),
        volume: exact_quotient(i128::from(volume.mantissa), volume.scale)?,
        close_f64: exact_quotient(i128::from(close.mantissa), close.scale)?,
    };
    Some((bar, scan.at.min(rest.len())))
}

/// An unsigned plain numeral as the mantissa and scale `Decimal::from_str` gives it.
#[derive(Debug, Clone, Copy)]
struct Numeral {
    mantissa: i64,
    scale: u32,
}

/// The fields of a row read one after the other, each up to the byte that ends it.
struct PlainFields<'a> {
    row: &'a [u8],
    /// Where the next field starts; past the text's end once its last field is read.
    at: usize,
}

impl PlainFields<'_> {
    /// The next field, up to `end` (a comma, or the newline of the row's last field; the
    /// end of the text ends a last field too), when it is an unsigned plain numeral
    /// (`29.75`, `107891500`: digits, at most one point with a digit on each side, at most
    /// 18 digits), as its mantissa and scale the way `Decimal::from_str` reads it; None for
    /// anything else.
    fn numeral(&mut self, end: u8) -> Option<Numeral> {
        let field = self.row.get(self.at..)?;
        let mut mantissa: u64 = 0;
        let whole = digits_into(field, &mut mantissa);
        let mut len = whole;
        let mut scale = 0;
        if whole > 0 && field.get(len) == Some(&b'.') {
            scale = digits_into(&field[len + 1..], &mut mantissa);
            if scale == 0 {
                return None; // `5.`
            }
            len += 1 + scale;
        }
        let ended = match field.get(len) {
            Some(&c) => c == end,
            None => end == b'\n', // the text's last field
        };
        if !ended || whole + scale > 18 || whole == 0 {
            return None;
        }
        self.at += len + 1;
        Some(Numeral {
            mantissa: i64::try_from(mantissa).ok()?,
            scale: scale as u32,
        })
    }
}

/// Reads the ASCII digits at the start of `bytes` onto `mantissa` (wrapping: a numeral of
/// more than 18 digits is refused by the caller) and returns how many there were.
#[inline(always)]
fn digits_into(bytes: &[u8], mantissa: &mut u64) -> usize {
    let mut count = 0;
    for &c in bytes {
        let digit = c.wrapping_sub(b'0');
        if digit >= 10 {
            break;
        }
        *mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit));
        count += 1;
    }
    count
}

/// `a <= b` for two plain numerals as mantissa and scale (at most 18 digits and a scale of
/// at most 18, so either mantissa brought to the other's scale fits an `i128`).
#[inline(always)]
fn at_most(a: Numeral, b: Numeral) -> bool {
    if a.scale == b.scale {
        a.mantissa <= b.mantissa
    } else {
        at_most_rescaled(a, b)
    }
}

/// [`at_most`] of two numerals of different scales.
#[cold]
fn at_most_rescaled(a: Numeral, b: Numeral) -> bool {
    let to = a.scale.max(b.scale);
    // In an i64 when it fits (prices of a few decimals always do), else in an i128.
    let narrow = |n: Numeral| 10i64.checked_pow(to - n.scale)?.checked_mul(n.mantissa);
    match (narrow(a), narrow(b)) {
        (Some(a), Some(b)) => a <= b,
        _ => {
            let wide = |n: Numeral| i128::from(n.mantissa) * 10i128.pow(to - n.scale);
            wide(a) <= wide(b)
        }
    }
}

/// Every row through the `csv` reader: quoted fields, carriage returns, a byte-order mark.
fn csv_rows(text: &[u8], path: &Path) -> Result<Parsed, DomainError> {
    let bad = |line: u64, problem: String| DomainError::Data {
        path: path.to_path_buf(),
        line,
        problem,
    };
    // Byte records, trimmed in place: no String per field, no copy of a record to trim it.
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text);
    let headers = rdr
        .byte_headers()
        .map_err(|e| bad(1, format!("cannot read the header: {e}")))?;
    let names: Vec<String> = headers
        .iter()
        .map(|h| String::from_utf8_lossy(h.trim_ascii()).into_owned())
        .collect();
    if names != HEADER {
        return Err(bad(
            1,
            format!(
                "header must be `{}`, found `{}`",
                HEADER.join(","),
                names.join(",")
            ),
        ));
    }
    let mut bars: Vec<Bar> = Vec::with_capacity(4400);
    let mut problems = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let line = rdr.position().line();
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                problems.push((line, format!("unreadable row: {e}")));
                break;
            }
        }
        let fields: Vec<&[u8]> = record.iter().collect();
        match checked(&fields, bars.last()) {
            Ok(bar) => bars.push(bar),
            Err(problem) => problems.push((line, problem)),
        }
    }
    if bars.is_empty() && problems.is_empty() {
        return Err(bad(0, "no bars".into()));
    }
    Ok((bars, problems))
}

/// A row's fields as a bar that may follow `previous`, or what is wrong with it.
fn checked(fields: &[&[u8]], previous: Option<&Bar>) -> Result<Bar, String> {
    let bar = bar_of(fields)?;
    let date = bar.date;
    if let Some(problem) = bar.problem() {
        return Err(format!("{date}: {problem}"));
    }
    match previous {
        Some(prev) if prev.date == date => Err(format!("{date} appears twice")),
        Some(prev) if prev.date > date => Err(format!(
            "date {date} does not follow {} (dates must be ascending and unique)",
            prev.date
        )),
        _ => Ok(bar),
    }
}

/// What is wrong with a series of daily bars as a whole, each with the index of the bar it
/// is found at: a date that is not an NYSE session, a session missing between two bars (the
/// calendar's), a day with no volume. (Each bar's own prices and the order of the dates are
/// checked when it is read.) An empty list is a good series.
pub fn series_problems(bars: &[Bar]) -> Vec<(usize, String)> {
    let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
        return Vec::new();
    };
    problems_against(bars, super::calendar::sessions(first.date, last.date))
}

/// [`series_problems`] against `calendar`, the NYSE sessions of any span that covers the
/// bars' (several series of the same years share one walk of the calendar).
pub fn series_problems_on(bars: &[Bar], calendar: &[NaiveDate]) -> Vec<(usize, String)> {
    let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
        return Vec::new();
    };
    if !covers(calendar, bars) {
        return series_problems(bars);
    }
    let from = calendar.partition_point(|d| *d < first.date);
    let to = calendar.partition_point(|d| *d <= last.date);
    problems_against(bars, calendar[from..to].iter().copied())
}

/// Whether `calendar` (ascending sessions) spans the dates of `bars`.
pub fn covers(calendar: &[NaiveDate], bars: &[Bar]) -> bool {
    let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
        return true;
    };
    calendar.first().is_some_and(|d| *d <= first.date)
        && calendar.last().is_some_and(|d| *d >= last.date)
}

/// The problems of `bars` against `sessions`, the sessions from the first bar's date to
/// the last's.
fn problems_against(
    bars: &[Bar],
    sessions: impl Iterator<Item = NaiveDate>,
) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    // One walk of the calendar beside the bars (both ascending).
    let mut sessions = sessions.peekable();
    let mut gap: Vec<NaiveDate> = Vec::new();
    for (i, bar) in bars.iter().enumerate() {
        while let Some(day) = sessions.next_if(|d| *d < bar.date) {
            gap.push(day);
        }
        if let (Some(from), Some(to)) = (gap.first(), gap.last()) {
            let which = match gap.len() {
                1 => format!("the session {from} is missing"),
                n => format!("{n} sessions are missing, {from} to {to}"),
            };
            let before = bars[i - 1].date;
            out.push((i, format!("{which} (between {before} and {})", bar.date)));
            gap.clear();
        }
        if sessions.next_if(|d| *d == bar.date).is_none() {
            out.push((i, format!("{} is not an NYSE session", bar.date)));
        }
        if bar.volume == 0.0 {
            out.push((i, format!("{}: a day with zero volume", bar.date)));
        }
    }
    out
}

/// Whether `fetched` says something else than `stored` about the same sessions: a rewrite
/// of the history (a split the source adjusted for, a correction), in words, at the first
/// differing session. Sessions only one side has are not a difference.
pub fn rewrite_of(stored: &[Bar], fetched: &[Bar]) -> Option<String> {
    for old in stored {
        let Some(new) = fetched.iter().find(|b| b.date == old.date) else {
            continue;
        };
        let same = (old.open, old.high, old.low, old.close)
            == (new.open, new.high, new.low, new.close)
            && old.volume == new.volume;
        if !same {
            let ratio = if new.close.is_zero() {
                Decimal::ZERO
            } else {
                (old.close / new.close).round_dp(4)
            };
            return Some(format!(
                "{}: close {} stored, {} now (x{} of the new), volume {} -> {}",
                old.date,
                old.close,
                new.close,
                ratio.normalize(),
                old.volume,
                new.volume
            ));
        }
    }
    None
}

/// One-day moves of the close beyond `threshold_pct`, for a person to review (a real
/// crash, or bad data): `2020-03-16 -27.4 %`.
pub fn big_moves(bars: &[Bar], threshold_pct: Decimal) -> Vec<String> {
    bars.windows(2)
        .filter_map(|w| {
            let moved = (w[1].close / w[0].close - Decimal::ONE) * Decimal::ONE_HUNDRED;
            (moved.abs() > threshold_pct)
                .then(|| format!("{} {:+.1} %", w[1].date, moved.round_dp(1)))
        })
        .collect()
}

/// One row's fields as a bar, or what is wrong with it.
fn bar_of(record: &[&[u8]]) -> Result<Bar, String> {
    if record.len() != HEADER.len() {
        return Err(format!("expected 6 fields, found {}", record.len()));
    }
    let mut fields: [&[u8]; 6] = [b""; 6];
    for (slot, raw) in fields.iter_mut().zip(record) {
        *slot = raw.trim_ascii();
    }
    let text = |i: usize| String::from_utf8_lossy(fields[i]).into_owned();
    let date =
        parse_date(fields[0]).ok_or_else(|| format!("date `{}` is not YYYY-MM-DD", text(0)))?;
    let price = |i: usize| {
        parse_price(fields[i]).ok_or_else(|| format!("{} `{}` is not a number", HEADER[i], text(i)))
    };
    let (open, high, low) = (price(1)?, price(2)?, price(3)?);
    let (close, close_f64) =
        parse_close(fields[4]).ok_or_else(|| format!("close `{}` is not a number", text(4)))?;
    let volume =
        parse_double(fields[5]).ok_or_else(|| format!("volume `{}` is not a number", text(5)))?;
    Ok(Bar {
        date,
        open,
        high,
        low,
        close,
        volume,
        close_f64,
    })
}

/// The date of the last row of a bar file's text, without reading the others: in a good
/// file (dates ascending) the date of its last bar. None when the last non-empty line does
/// not start with a plain `YYYY-MM-DD` field (a header alone, a quoted date).
pub fn last_row_date(text: &[u8]) -> Option<NaiveDate> {
    let line = text
        .split(|&c| c == b'\n')
        .map(<[u8]>::trim_ascii)
        .rfind(|line| !line.is_empty())?;
    parse_date(line.split(|&c| c == b',').next()?.trim_ascii())
}

/// Parses `YYYY-MM-DD` (the only form the files use) without a format interpreter.
fn parse_date(b: &[u8]) -> Option<NaiveDate> {
    let b: &[u8; 10] = b.try_into().ok()?;
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digit = |i: usize| {
        let d = b[i].wrapping_sub(b'0');
        (d < 10).then_some(u32::from(d))
    };
    let year = digit(0)? * 1000 + digit(1)? * 100 + digit(2)? * 10 + digit(3)?;
    let month = digit(5)? * 10 + digit(6)?;
    let day = digit(8)? * 10 + digit(9)?;
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

/// Daily bars of several symbols.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Bars per symbol, ascending by date.
    pub series: BTreeMap<String, Vec<Bar>>,
}

impl History {
    /// A SHA-256 digest of every bar (symbol, date, open, high, low, close with their
    /// scale, volume), hex: equal digests mean the same history, bar for bar.
    pub fn digest(&self) -> String {
        self.digest_through(NaiveDate::MAX)
    }

    /// [`History::digest`] of the bars dated `last` or earlier: the digest of the history a
    /// replay to `last` consumed.
    pub fn digest_through(&self, last: NaiveDate) -> String {
        use chrono::Datelike;
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        // One bar's bytes at a time into a buffer, hashed in large blocks.
        let mut buffer: Vec<u8> = Vec::with_capacity(76 * 1024);
        for (symbol, bars) in &self.series {
            hash.update(symbol.as_bytes());
            hash.update([0]);
            for b in bars.iter().take_while(|b| b.date <= last) {
                buffer.extend_from_slice(&b.date.num_days_from_ce().to_le_bytes());
                for price in [b.open, b.high, b.low, b.close] {
                    buffer.extend_from_slice(&price.serialize());
                }
                buffer.extend_from_slice(&b.volume.to_bits().to_le_bytes());
                if buffer.len() >= 64 * 1024 {
                    hash.update(&buffer);
                    buffer.clear();
                }
            }
            hash.update(&buffer);
            buffer.clear();
        }
        hash.finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// The date of the last bar of any symbol.
    pub fn last_date(&self) -> Option<NaiveDate> {
        self.series
            .values()
            .filter_map(|b| b.last())
            .map(|b| b.date)
            .max()
    }

    /// The bars of a symbol (empty when unknown).
    pub fn bars(&self, symbol: &str) -> &[Bar] {
        self.series.get(symbol).map_or(&[], |v| v.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Bar>, DomainError> {
        parse_csv(text.as_bytes(), Path::new("T.csv"))
    }

    #[test]
    fn the_history_digest_is_the_sha256_of_the_bars_in_lowercase_hex() {
        // Ledgers record this value: it must never change for the same bars. Computed
        // independently with Python's hashlib over the same bytes (the symbol, a NUL, then per
        // bar the day number, the four prices as rust_decimal's 16 bytes, the volume's bits).
        let bars = parse(
            "date,open,high,low,close,volume\n2025-01-02,10,11,9,10.5,100\n2025-01-03,10.5,10.6,10.1,10.2,0\n",
        )
        .unwrap();
        let history = History {
            series: BTreeMap::from([("QQQ".to_string(), bars)]),
        };
        assert_eq!(
            history.digest(),
            "3b4ebe33a2d6d866010d65540c246ad4f5963beffa87a01b157e3c97b31386a1"
        );
    }

    #[test]
    fn reads_good_rows() {
        let bars = parse(
            "date,open,high,low,close,volume\n2025-01-02,10,11,9,10.5,100\n2025-01-03,10.5,10.6,10.1,10.2,0\n",
        )
        .unwrap();
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[0].close, Decimal::new(105, 1));
        assert_eq!(bars[0].close_f64, 10.5);
    }

    #[test]
    fn names_line_and_problem() {
        let cases = [
            ("2025-01-02,10,9,9,10,1", "line 2", "high 9 is below"),
            ("2025-01-02,10,11,10.5,10,1", "line 2", "low 10.5 is above"),
            ("2025-01-02,10,11,9,-1,1", "line 2", "positive"),
            ("2025-01-02,10,11,9,10,-5", "line 2", "volume -5"),
            ("2025-13-02,10,11,9,10,5", "line 2", "not YYYY-MM-DD"),
            ("2025-01-02,ten,11,9,10,5", "line 2", "open `ten`"),
            ("2025-01-02,10,11,9,10", "line 2", "expected 6 fields"),
        ];
        for (row, _, needle) in cases {
            let err = parse(&format!("date,open,high,low,close,volume\n{row}\n")).unwrap_err();
            let text = err.to_string();
            assert!(text.starts_with("T.csv:2:"), "{text}");
            assert!(text.contains(needle), "{text} lacks {needle}");
            assert!(matches!(err, DomainError::Data { line: 2, .. }), "{err:?}");
        }
    }

    #[test]
    fn a_series_against_a_shared_calendar_has_the_problems_it_has_alone() {
        let row = |d: &str, volume: u32| format!("{d},10,11,9,10.5,{volume}\n");
        let series = [
            // Good; then a gap of one session, a gap of nine, the holiday 2025-01-20, a zero
            // volume; then a gap of three and 2025-01-09 (the exchange closed for a funeral).
            ["2024-12-30", "2024-12-31", "2025-01-02", "2025-01-03"].map(|d| row(d, 5)),
            [
                row("2024-12-31", 5),
                row("2025-01-03", 5),
                row("2025-01-20", 5),
                row("2025-01-21", 0),
            ],
            [
                row("2025-01-02", 5),
                row("2025-01-08", 5),
                row("2025-01-09", 5),
                row("2025-01-10", 5),
            ],
        ];
        let wide: Vec<NaiveDate> = crate::domain::calendar::sessions(
            NaiveDate::from_ymd_opt(2024, 12, 2).unwrap(),
            NaiveDate::from_ymd_opt(2025, 2, 28).unwrap(),
        )
        .collect();
        let narrow = &wide[wide.len() - 10..];
        let mut found = 0;
        for rows in &series {
            let bars = parse(&format!(
                "date,open,high,low,close,volume\n{}",
                rows.concat()
            ))
            .unwrap();
            let alone = series_problems(&bars);
            found += alone.len();
            assert_eq!(series_problems_on(&bars, &wide), alone);
            assert!(!covers(narrow, &bars));
            assert_eq!(series_problems_on(&bars, narrow), alone);
        }
        assert_eq!(found, 6);
    }

    #[test]
    fn refuses_unsorted_or_duplicate_dates() {
        let err =
            parse("date,open,high,low,close,volume\n2025-01-03,1,1,1,1,1\n2025-01-03,1,1,1,1,1\n")
                .unwrap_err();
        assert!(err
            .to_string()
            .contains("T.csv:3: 2025-01-03 appears twice"));
        let err =
            parse("date,open,high,low,close,volume\n2025-01-06,1,1,1,1,1\n2025-01-03,1,1,1,1,1\n")
                .unwrap_err();
        assert!(err
            .to_string()
            .contains("T.csv:3: date 2025-01-03 does not follow 2025-01-06"));
    }

    #[test]
    fn refuses_wrong_header() {
        let err = parse("day,open,high,low,close,volume\n").unwrap_err();
        assert!(err.to_string().contains("header must be"));
    }

    /// Texts of every shape a price field may have, plain and not.
    fn numerals() -> Vec<String> {
        let mut out: Vec<String> = [
            "0",
            "-0",
            "0.0",
            "-0.00",
            "5.",
            ".5",
            "1e2",
            "-1.5E-3",
            "+3",
            "12a",
            "",
            "-",
            ".",
            "1.2.3",
            "007.50",
            "123456789012345678",
            "1234567890123456789",
            "0.000000000000000001",
            "99999999999999999.9",
            "4294967296.25",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let digits = (state % 19 + 1) as usize;
            let body = format!("{:019}", state >> 1);
            let body = &body[19 - digits..];
            let point = (state >> 40) as usize % (digits + 1);
            let sign = if state & 1 == 1 { "-" } else { "" };
            out.push(format!("{sign}{}.{}", &body[..point], &body[point..]));
            out.push(format!("{sign}{body}"));
        }
        out
    }

    #[test]
    fn the_fast_numeral_paths_read_every_text_as_the_parsers_do() {
        for text in numerals() {
            let bytes = text.as_bytes();
            let slow_price = Decimal::from_str(&text)
                .or_else(|_| Decimal::from_scientific(&text))
                .ok();
            let price = parse_price(bytes);
            assert_eq!(
                price.map(|d| (d.mantissa(), d.scale(), d.is_sign_negative())),
                slow_price.map(|d| (d.mantissa(), d.scale(), d.is_sign_negative())),
                "price `{text}`"
            );
            let slow_double = f64::from_str(&text).ok();
            assert_eq!(
                parse_double(bytes).map(f64::to_bits),
                slow_double.map(f64::to_bits),
                "double `{text}`"
            );
            if let Some((close, double)) = parse_close(bytes) {
                assert_eq!(Some(close), price, "close `{text}`");
                let expected = slow_double.unwrap_or_else(|| decimal_to_f64(close));
                assert_eq!(
                    double.to_bits(),
                    expected.to_bits(),
                    "close double `{text}`"
                );
            }
        }
    }

    #[test]
    fn prices_of_different_scales_compare_as_decimals_do() {
        let prices: Vec<Decimal> = numerals()
            .iter()
            .filter_map(|t| parse_price(t.as_bytes()))
            .collect();
        for pair in prices.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert_eq!(less(a, b), a < b, "{a} < {b}");
            assert_eq!(less(b, a), b < a, "{b} < {a}");
        }
        let (a, b) = (Decimal::new(2970, 2), Decimal::new(29755, 3));
        assert!(less(a, b) && !less(b, a));
    }

    /// Texts of bar files of every shape: good rows, blank and blank-looking lines, rows of
    /// the wrong width, numerals plain and not, prices out of order, dates repeated or back.
    fn bar_texts() -> Vec<String> {
        let fields = [
            "10",
            "11",
            "9",
            "10.5",
            "10.50",
            "007.5",
            "1e1",
            "-1",
            "0",
            "-0",
            "ten",
            "",
            " 10 ",
            "9.999",
            "11.0001",
            "5.",
            ".5",
            "123456789012345678",
            "1234567890123456789",
        ];
        let dates = [
            "2025-01-02",
            "2025-01-03",
            "2025-01-03",
            "2025-1-06",
            " 2025-01-07",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as usize % n
        };
        let mut out = Vec::new();
        for _ in 0..3000 {
            let mut text = match next(8) {
                0 => "\n\ndate,open,high,low,close,volume\n".to_string(),
                1 => " date , open,high,low,close,volume".to_string() + "\n",
                2 => "date,open,high,low,close".to_string() + "\n",
                _ => "date,open,high,low,close,volume\n".to_string(),
            };
            let mut day = 1;
            for _ in 0..next(7) {
                let date = if next(5) == 0 {
                    dates[next(dates.len())].to_string()
                } else {
                    day += 1 + next(2);
                    format!("2025-02-{day:02}")
                };
                let width = [6, 6, 6, 6, 6, 5, 7][next(7)];
                let mut row = vec![date];
                for _ in 1..width {
                    row.push(fields[next(fields.len())].to_string());
                }
                text.push_str(&row.join(","));
                text.push_str(["\n", "\n", "\n\n", "\n \n"][next(4)]);
            }
            if next(3) == 0 {
                text.pop();
            }
            out.push(text);
        }
        out
    }

    #[test]
    fn plain_text_is_read_as_the_csv_reader_reads_it() {
        let path = Path::new("T.csv");
        let mut fast = 0;
        for text in bar_texts() {
            let by_csv = csv_rows(text.as_bytes(), path);
            let by_text = parse_text(text.as_bytes(), path);
            fast += usize::from(plain_rows(text.as_bytes()).is_some());
            match (by_csv, by_text) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text:?}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text:?}"),
                (a, b) => panic!("{text:?}: csv {a:?}, plain {b:?}"),
            }
        }
        // Most texts went the plain way (the others have a wrong header or no row).
        assert!(fast > 1500, "{fast} of 3000");
    }

    #[test]
    fn quotes_and_carriage_returns_go_through_the_csv_reader() {
        let crlf = "date,open,high,low,close,volume\r\n2025-01-02,10,11,9,10.5,100\r\n";
        let quoted = "date,open,high,low,close,volume\n\"2025-01-02\",10,11,9,10.5,100\n";
        let bom = "\u{feff}date,open,high,low,close,volume\n2025-01-02,10,11,9,10.5,100\n";
        for text in [crlf, quoted, bom] {
            assert!(plain_rows(text.as_bytes()).is_none(), "{text:?}");
            let bars = parse(text).unwrap();
            assert_eq!(bars.len(), 1, "{text:?}");
            assert_eq!(bars[0].close, Decimal::new(105, 1));
        }
    }

    #[test]
    fn the_last_rows_date_is_the_last_bars_and_anything_else_is_none() {
        let text =
            "date,open,high,low,close,volume\n2024-01-02,1,1,1,1,5\n2024-01-03,1,1,1,1,5\r\n\n";
        assert_eq!(
            last_row_date(text.as_bytes()),
            parse(text).unwrap().last().map(|b| b.date)
        );
        assert_eq!(last_row_date(b"date,open,high,low,close,volume\n"), None);
        assert_eq!(last_row_date(b"\"2024-01-03\",1,1,1,1,5\n"), None);
        assert_eq!(last_row_date(b""), None);
    }
}
