//! The report page of `backtest --html` and `report --html`: one self-contained HTML file (no
//! script, no external asset) with the statistics, the equity of each series over the regime
//! shading, the drawdown, the target weights, the monthly returns, the trades and the
//! validation verdicts. Charts are inline SVG with a `viewBox`, so the page scales to the
//! window's width. Pure: data in, text out.

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate};

use crate::domain::backtest::{DayRecord, Settings};
use crate::domain::statistics::Statistics;
use crate::domain::strategy::{weight_f64, Decision};

/// One equity series of the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Its name in the legend.
    pub name: String,
    /// (session, value).
    pub points: Vec<(NaiveDate, f64)>,
}

/// One row of the trades table.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeLine {
    /// Session.
    pub date: NaiveDate,
    /// BUY or SELL.
    pub side: String,
    /// Symbol.
    pub symbol: String,
    /// Shares.
    pub shares: i64,
    /// Reference price.
    pub reference: String,
    /// Fill price.
    pub fill: String,
    /// Adverse slippage, percent.
    pub slippage_pct: String,
    /// Commission paid.
    pub commission: String,
}

/// One validated session.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictLine {
    /// Session.
    pub date: String,
    /// GREEN, YELLOW, RED or NO_RUN.
    pub verdict: String,
    /// Logic match, percent.
    pub logic_match: String,
    /// Largest quote-vs-close drift, percent.
    pub max_drift: String,
}

/// Everything the page shows.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Title.
    pub title: String,
    /// Equity series; the first is the account (or the strategy) and the drawdown's.
    pub lines: Vec<Line>,
    /// Statistics columns: (heading, statistics).
    pub statistics: Vec<(String, Statistics)>,
    /// The regime cell of each session.
    pub cells: Vec<(NaiveDate, u8)>,
    /// Target weights of each session, by `weight_names`.
    pub weights: Vec<(NaiveDate, Vec<f64>)>,
    /// Names of the weights (the legs and cash).
    pub weight_names: Vec<String>,
    /// (year, month, return) of the first series.
    pub monthly: Vec<(i32, u32, f64)>,
    /// Fills.
    pub trades: Vec<TradeLine>,
    /// Validation verdicts.
    pub verdicts: Vec<VerdictLine>,
    /// A backtest's page: no validation section (a backtest has no live run to validate).
    pub backtest: bool,
}

/// What each regime cell means, for the shading's legend.
const CELL_NAMES: [&str; 6] = [
    "cell 1: bull, low volatility",
    "cell 2: bull, high volatility",
    "cell 3: sideways, low volatility",
    "cell 4: sideways, high volatility",
    "cell 5: bear, low volatility",
    "cell 6: bear, high volatility",
];

const COLORS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];
const CELL_COLORS: [&str; 6] = [
    "#2ca02c", "#98df8a", "#ffbb78", "#ff9896", "#d62728", "#c7c7c7",
];
const W: f64 = 1000.0;
const H: f64 = 300.0;
const LEFT: f64 = 80.0;
const BOTTOM: f64 = 30.0;
const TOP: f64 = 10.0;

/// Escapes text for HTML.
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The whole page.
pub fn render(page: &Page) -> String {
    let mut out = String::with_capacity(256 * 1024);
    let title = esc(&page.title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n"
    );
    out.push_str(&statistics_section(&page.statistics));
    out.push_str(&equity_section(page));
    out.push_str(&drawdown_section(page.lines.first()));
    out.push_str(&weights_section(&page.weights, &page.weight_names));
    out.push_str(&monthly_section(&page.monthly));
    out.push_str(&trades_section(&page.trades));
    if !page.backtest {
        out.push_str(&verdicts_section(&page.verdicts));
    }
    out.push_str("</body></html>\n");
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1em auto;max-width:1200px;\
padding:0 1em;color:#222}svg{width:100%;height:auto;background:#fff}table{border-collapse:\
collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:2px 6px;\
text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}.pos{color:#137a13}\
.neg{color:#b00}.legend span{display:inline-block;margin-right:1.2em}.legend i{display:\
inline-block;width:1.2em;height:.6em;margin-right:.3em}section{margin-bottom:1.5em}";

fn statistics_section(columns: &[(String, Statistics)]) -> String {
    let mut out = String::from(
        "<section id=\"statistics\"><h2>Statistics</h2><table><tr><th class=\"l\"></th>",
    );
    for (heading, _) in columns {
        let _ = write!(out, "<th>{}</th>", esc(heading));
    }
    out.push_str("</tr>");
    let lines: Vec<Vec<(&str, String)>> = columns.iter().map(|(_, s)| s.lines()).collect();
    for (i, (label, _)) in lines.first().map_or(&Vec::new(), |l| l).iter().enumerate() {
        let _ = write!(out, "<tr><td class=\"l\">{label}</td>");
        for column in &lines {
            let _ = write!(out, "<td>{}</td>", esc(&column[i].1));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table><p>Returns are time-weighted and daily; volatility, Sharpe and Sortino are annualised over 252 sessions with a risk-free rate of 0; CAGR over 365.25-day years.</p></section>\n");
    out
}

/// A mapping from (day index, value) to the SVG's coordinates.
struct Frame {
    first: NaiveDate,
    span: f64,
    lo: f64,
    hi: f64,
    /// A logarithmic value axis (equal heights are equal growth).
    log: bool,
}

impl Frame {
    fn of(dates: &[NaiveDate], values: impl Iterator<Item = f64>) -> Option<Frame> {
        let (first, last) = (*dates.iter().min()?, *dates.iter().max()?);
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for v in values.filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if lo > hi {
            return None;
        }
        if (hi - lo).abs() < 1e-9 {
            hi = lo + 1.0;
        }
        Some(Frame {
            first,
            span: ((last - first).num_days() as f64).max(1.0),
            lo,
            hi,
            log: false,
        })
    }

    /// A log axis for money over a long period that grew much: on a linear one the early
    /// years are a flat line at the bottom.
    fn logarithmic_for_growth(mut self) -> Frame {
        self.log = self.span > 3.0 * 365.0 && self.lo > 0.0 && self.hi / self.lo > 4.0;
        self
    }

    fn scale(&self, v: f64) -> f64 {
        if self.log {
            v.max(1e-9).ln()
        } else {
            v
        }
    }
    fn x(&self, d: NaiveDate) -> f64 {
        LEFT + (d - self.first).num_days() as f64 / self.span * (W - LEFT - 10.0)
    }
    fn y(&self, v: f64) -> f64 {
        let (hi, lo) = (self.scale(self.hi), self.scale(self.lo));
        TOP + (hi - self.scale(v)) / (hi - lo) * (H - TOP - BOTTOM)
    }

    /// Round values to label: 1, 2 or 5 times a power of ten (linear, about five of them;
    /// log, each such value in the range).
    fn ticks(&self) -> Vec<f64> {
        let (lo, hi) = (self.lo, self.hi);
        if self.log {
            let mut out = Vec::new();
            let mut decade = 10f64.powf(lo.log10().floor());
            while decade <= hi {
                for m in [1.0, 2.0, 5.0] {
                    let v = decade * m;
                    if v >= lo && v <= hi {
                        out.push(v);
                    }
                }
                decade *= 10.0;
            }
            return out;
        }
        let rough = (hi - lo) / 5.0;
        let power = 10f64.powf(rough.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * power)
            .find(|s| *s >= rough)
            .unwrap_or(power * 10.0);
        let mut v = (lo / step).ceil() * step;
        let mut out = Vec::new();
        while v <= hi + step * 1e-9 {
            out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
            v += step;
        }
        out
    }
}

/// Gridlines and labels of both axes.
fn axes(frame: &Frame, label: impl Fn(f64) -> String) -> String {
    let mut out = String::new();
    if frame.log {
        let _ = write!(
            out,
            "<text class=\"scale\" x=\"{LEFT}\" y=\"{:.1}\" font-size=\"11\">log scale</text>",
            TOP + 10.0
        );
    }
    for v in frame.ticks() {
        let y = frame.y(v);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            W - 10.0,
            LEFT - 4.0,
            y + 4.0,
            label(v)
        );
    }
    for (tick, text) in date_ticks(frame) {
        let x = frame.x(tick);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{text}</text>",
            H - BOTTOM,
            H - 10.0
        );
    }
    out
}

/// Dates to label on the x axis: each January over two years, each month over two months,
/// else each week from the first day.
fn date_ticks(frame: &Frame) -> Vec<(NaiveDate, String)> {
    let end = frame.first + chrono::Duration::days(frame.span as i64);
    let mut out = Vec::new();
    if frame.span <= 62.0 {
        let mut day = frame.first;
        while day <= end {
            out.push((day, day.format("%m-%d").to_string()));
            day += chrono::Duration::days(7);
        }
        return out;
    }
    let years = frame.span > 2.0 * 365.0;
    let mut tick = frame.first.with_day(1).unwrap_or(frame.first);
    while tick <= end {
        if tick >= frame.first && (!years || tick.month() == 1) {
            let text = if years {
                tick.format("%Y")
            } else {
                tick.format("%Y-%m")
            };
            out.push((tick, text.to_string()));
        }
        tick = tick
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(NaiveDate::MAX);
    }
    out
}

fn polyline(frame: &Frame, points: &[(NaiveDate, f64)], color: &str) -> String {
    let mut path = String::new();
    for (d, v) in points {
        let _ = write!(path, "{:.1},{:.1} ", frame.x(*d), frame.y(*v));
    }
    format!(
        "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>",
        path.trim_end()
    )
}

fn legend(names: &[(&str, &str)]) -> String {
    let mut out = String::from("<p class=\"legend\">");
    for (name, color) in names {
        let _ = write!(
            out,
            "<span><i style=\"background:{color}\"></i>{}</span>",
            esc(name)
        );
    }
    out.push_str("</p>");
    out
}

/// Currency with thousands separators.
fn money(v: f64) -> String {
    let whole = v.round() as i64;
    let digits = whole.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}${grouped}", if whole < 0 { "-" } else { "" })
}

fn equity_section(page: &Page) -> String {
    let dates: Vec<NaiveDate> = page
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .collect();
    let values = page.lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
    let mut out = String::from("<section id=\"equity\"><h2>Equity</h2>");
    let Some(frame) = Frame::of(&dates, values).map(Frame::logarithmic_for_growth) else {
        out.push_str("<p>No data.</p></section>\n");
        return out;
    };
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"equity\">"
    );
    out.push_str(&regime_shading(&frame, &page.cells));
    out.push_str(&axes(&frame, money));
    let mut names = Vec::new();
    for (i, line) in page.lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        out.push_str(&polyline(&frame, &line.points, color));
        names.push((line.name.as_str(), color));
    }
    out.push_str("</svg>");
    out.push_str(&legend(&names));
    if !page.cells.is_empty() {
        let pairs: Vec<(&str, &str)> = CELL_NAMES.into_iter().zip(CELL_COLORS).collect();
        out.push_str(
            "<p>Shading: the regime cell of each session, by the trend of the signal symbol \
             and its volatility state.</p>",
        );
        out.push_str(&legend(&pairs));
    }
    out.push_str("</section>\n");
    out
}

/// One band per run of sessions in the same cell.
fn regime_shading(frame: &Frame, cells: &[(NaiveDate, u8)]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < cells.len() {
        let (start, cell) = cells[i];
        let mut j = i;
        while j + 1 < cells.len() && cells[j + 1].1 == cell {
            j += 1;
        }
        let end = cells.get(j + 1).map_or(cells[j].0, |c| c.0);
        let color = CELL_COLORS[usize::from(cell.clamp(1, 6)) - 1];
        let (x0, x1) = (frame.x(start), frame.x(end));
        let _ = write!(
            out,
            "<rect class=\"cell{cell}\" x=\"{x0:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\" \
             fill=\"{color}\" opacity=\"0.18\"/>",
            (x1 - x0).max(0.5),
            H - TOP - BOTTOM
        );
        i = j + 1;
    }
    out
}

fn drawdown_section(line: Option<&Line>) -> String {
    let mut out = String::from("<section id=\"drawdown\"><h2>Drawdown</h2>");
    let mut peak = f64::MIN;
    let points: Vec<(NaiveDate, f64)> = line
        .map(|l| &l.points[..])
        .unwrap_or_default()
        .iter()
        .map(|&(d, v)| {
            peak = peak.max(v);
            (
                d,
                if peak > 0.0 {
                    (v / peak - 1.0) * 100.0
                } else {
                    0.0
                },
            )
        })
        .collect();
    let dates: Vec<NaiveDate> = points.iter().map(|p| p.0).collect();
    let Some(frame) = Frame::of(&dates, points.iter().map(|p| p.1).chain([0.0])) else {
        out.push_str("<p>No data.</p></section>\n");
        return out;
    };
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"drawdown\">"
    );
    out.push_str(&axes(&frame, |v| format!("{v:.0} %")));
    let mut area = format!("{:.1},{:.1} ", frame.x(frame.first), frame.y(0.0));
    for (d, v) in &points {
        let _ = write!(area, "{:.1},{:.1} ", frame.x(*d), frame.y(*v));
    }
    if let Some((d, _)) = points.last() {
        let _ = write!(area, "{:.1},{:.1}", frame.x(*d), frame.y(0.0));
    }
    let _ = write!(
        out,
        "<polygon fill=\"#d62728\" opacity=\"0.5\" points=\"{area}\"/></svg>"
    );
    let name = line.map_or(String::new(), |l| l.name.clone());
    out.push_str(&legend(&[(
        &format!("{name}: below its peak, %"),
        "#d62728",
    )]));
    out.push_str("</section>\n");
    out
}

fn weights_section(weights: &[(NaiveDate, Vec<f64>)], names: &[String]) -> String {
    let mut out = String::from("<section id=\"weights\"><h2>Target weights</h2>");
    let dates: Vec<NaiveDate> = weights.iter().map(|w| w.0).collect();
    let Some(frame) = Frame::of(&dates, [0.0, 100.0].into_iter()) else {
        out.push_str("<p>No decisions.</p></section>\n");
        return out;
    };
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"weights\">"
    );
    out.push_str(&axes(&frame, |v| format!("{v:.0} %")));
    let mut below = vec![0.0; weights.len()];
    let mut pairs = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let mut top = String::new();
        let mut bottom = Vec::new();
        for (i, (d, w)) in weights.iter().enumerate() {
            let base = below[i];
            let up = base + w.get(k).copied().unwrap_or(0.0) * 100.0;
            let _ = write!(top, "{:.1},{:.1} ", frame.x(*d), frame.y(up));
            bottom.push(format!("{:.1},{:.1}", frame.x(*d), frame.y(base)));
            below[i] = up;
        }
        bottom.reverse();
        let _ = write!(
            out,
            "<polygon fill=\"{color}\" opacity=\"0.8\" points=\"{top}{}\"/>",
            bottom.join(" ")
        );
        pairs.push((name.as_str(), color));
    }
    out.push_str("</svg>");
    out.push_str(&legend(&pairs));
    out.push_str("</section>\n");
    out
}

/// A return cell, in percent with one decimal, coloured by its sign (a return that rounds
/// to zero shows as 0.0 %, never -0.0 %).
fn signed(r: f64) -> String {
    let shown = (r * 1000.0).round() / 10.0;
    let class = if shown > 0.0 {
        "pos"
    } else if shown < 0.0 {
        "neg"
    } else {
        ""
    };
    format!("<td class=\"{class}\">{:.1} %</td>", shown + 0.0)
}

fn monthly_section(monthly: &[(i32, u32, f64)]) -> String {
    let mut out = String::from(
        "<section id=\"monthly\"><h2>Monthly returns</h2><table><tr><th class=\"l\">year</th>",
    );
    for m in [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ] {
        let _ = write!(out, "<th>{m}</th>");
    }
    out.push_str("<th>year</th></tr>");
    let mut years: Vec<i32> = monthly.iter().map(|m| m.0).collect();
    years.dedup();
    for year in years {
        let _ = write!(out, "<tr><td class=\"l\">{year}</td>");
        let mut total = 1.0;
        for month in 1..=12 {
            match monthly.iter().find(|m| m.0 == year && m.1 == month) {
                Some(&(_, _, r)) => {
                    total *= 1.0 + r;
                    out.push_str(&signed(r));
                }
                None => out.push_str("<td></td>"),
            }
        }
        out.push_str(&signed(total - 1.0));
        out.push_str("</tr>");
    }
    out.push_str("</table></section>\n");
    out
}

fn trades_section(trades: &[TradeLine]) -> String {
    // A column no trade fills (a backtest has no reference price nor slippage) is left out.
    let reference = trades.iter().any(|t| !t.reference.is_empty());
    let slippage = trades.iter().any(|t| !t.slippage_pct.is_empty());
    let mut out = String::from(
        "<section id=\"trades\"><h2>Trades</h2><table><tr><th class=\"l\">date</th>\
         <th class=\"l\">side</th><th class=\"l\">symbol</th><th>shares</th>",
    );
    if reference {
        out.push_str("<th>reference</th>");
    }
    out.push_str("<th>fill</th>");
    if slippage {
        out.push_str("<th>slippage %</th>");
    }
    out.push_str("<th>commission</th></tr>");
    for t in trades {
        let _ = write!(
            out,
            "<tr class=\"trade\"><td class=\"l\">{}</td><td class=\"l\">{}</td>\
             <td class=\"l\">{}</td><td>{}</td>",
            t.date,
            esc(&t.side),
            esc(&t.symbol),
            t.shares
        );
        if reference {
            let _ = write!(out, "<td>{}</td>", esc(&t.reference));
        }
        let _ = write!(out, "<td>{}</td>", esc(&t.fill));
        if slippage {
            let _ = write!(out, "<td>{}</td>", esc(&t.slippage_pct));
        }
        let _ = write!(out, "<td>{}</td></tr>", esc(&t.commission));
    }
    if trades.is_empty() {
        out.push_str("<tr><td class=\"l\" colspan=\"6\">no trades</td></tr>");
    }
    out.push_str("</table></section>\n");
    out
}

fn verdicts_section(verdicts: &[VerdictLine]) -> String {
    let mut out = String::from(
        "<section id=\"validation\"><h2>Validation</h2><table><tr><th class=\"l\">session</th>\
         <th class=\"l\">verdict</th><th>logic match %</th><th>max drift %</th></tr>",
    );
    for v in verdicts {
        let _ = write!(
            out,
            "<tr class=\"verdict\"><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&v.date),
            esc(&v.verdict),
            esc(&v.logic_match),
            esc(&v.max_drift)
        );
    }
    if verdicts.is_empty() {
        out.push_str("<tr><td class=\"l\" colspan=\"4\">no validation yet (`jutsu validate` after the close)</td></tr>");
    }
    out.push_str("</table></section>\n");
    out
}

/// A series of decimal values as a chart line.
pub fn line_of(name: &str, points: &[(NaiveDate, rust_decimal::Decimal)]) -> Line {
    Line {
        name: name.to_string(),
        points: points
            .iter()
            .map(|(d, v)| (*d, crate::domain::bars::decimal_to_f64(*v)))
            .collect(),
    }
}

/// The page of a backtest: the strategy against buy-and-hold of its signal symbol.
pub fn backtest_page(
    days: &[DayRecord],
    stats: &Statistics,
    benchmark: Option<&(Vec<(NaiveDate, rust_decimal::Decimal)>, Statistics)>,
    settings: &Settings,
) -> String {
    let symbol = &settings.params.signal_symbol;
    let strategy: Vec<_> = days.iter().map(|d| (d.date, d.portfolio_value)).collect();
    let mut page = Page {
        title: format!("jutsu backtest {} .. {}", stats.first, stats.last),
        lines: vec![line_of("strategy (v3.5b)", &strategy)],
        statistics: vec![("strategy".into(), stats.clone())],
        backtest: true,
        ..Page::default()
    };
    if let Some((values, bench)) = benchmark {
        page.lines
            .push(line_of(&format!("{symbol} buy and hold"), values));
        page.statistics
            .push((format!("{symbol} buy and hold"), bench.clone()));
    }
    fill_decisions(
        &mut page,
        days.iter().map(|d| (d.date, d.decision.as_ref())),
        settings,
    );
    let series = crate::domain::backtest::day_stats(days);
    page.monthly = crate::domain::statistics::monthly_returns(settings.initial_cash, &series);
    page.trades = days
        .iter()
        .flat_map(|d| d.fills.iter().map(move |f| (d.date, f)))
        .map(|(date, f)| TradeLine {
            date,
            side: f.side.as_str().to_string(),
            symbol: f.symbol.clone(),
            shares: f.quantity,
            reference: String::new(),
            fill: crate::domain::portfolio::cents(f.price),
            slippage_pct: String::new(),
            commission: crate::domain::portfolio::cents(f.commission),
        })
        .collect();
    render(&page)
}

/// The regime shading and the weights from each session's decision.
pub fn fill_decisions<'a>(
    page: &mut Page,
    decisions: impl Iterator<Item = (NaiveDate, Option<&'a Decision>)>,
    settings: &Settings,
) {
    page.weight_names = settings
        .params
        .traded_symbols()
        .iter()
        .map(|s| s.to_string())
        .chain(["cash".to_string()])
        .collect();
    for (date, decision) in decisions {
        let Some(d) = decision else { continue };
        page.cells.push((date, d.cell));
        let mut w: Vec<f64> = d.weights.legs.iter().map(|x| weight_f64(*x)).collect();
        w.push(weight_f64(d.weights.cash));
        page.weights.push((date, w));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_groups_thousands_and_text_is_escaped() {
        assert_eq!(money(1234567.4), "$1,234,567");
        assert_eq!(money(-999.6), "-$1,000");
        assert_eq!(money(12.0), "$12");
        assert_eq!(esc("<a&b>"), "&lt;a&amp;b&gt;");
    }
}
