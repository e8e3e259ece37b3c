//! Performance of the runs: an equity curve and a per-session table built from the run
//! ledgers, compared with the backtest over the same sessions, as text, CSV or a
//! self-contained HTML page with SVG charts.

use std::fmt::Write as _;

use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::domain::journal::Ledger;

/// One session of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    /// Session.
    pub date: NaiveDate,
    /// Account value after the run.
    pub equity: Decimal,
    /// Return since the previous row (the first row: since before its run).
    pub return_pct: Decimal,
    /// Fall from the highest value so far.
    pub drawdown_pct: Decimal,
    /// Traded value over the value before the run.
    pub turnover_pct: Decimal,
    /// Mean adverse slippage of the session's fills.
    pub slippage_pct: Option<Decimal>,
    /// The backtest's value after the same session, when computed.
    pub backtest_equity: Option<Decimal>,
    /// Cumulative live return minus cumulative backtest return, in points.
    pub tracking_pct: Option<Decimal>,
}

fn pct(x: Decimal) -> Decimal {
    (x * Decimal::ONE_HUNDRED).round_dp(4)
}

/// Rows from the completed ledgers (ascending by session), with the backtest's values after
/// the same sessions when given.
pub fn rows(ledgers: &[Ledger], backtest: &[(NaiveDate, Decimal)]) -> Vec<SessionRow> {
    let mut out: Vec<SessionRow> = Vec::new();
    let start = ledgers.first().and_then(|l| l.equity_before);
    // The peak starts at the value before the first session, so that the first day's loss
    // is a drawdown too.
    let mut peak = start.unwrap_or_default();
    let bt_start = backtest.first().map(|_| start.unwrap_or_default());
    for l in ledgers {
        let (Some(before), Some(after)) = (l.equity_before, l.equity_after) else {
            continue;
        };
        let previous = out.last().map_or(before, |r| r.equity);
        peak = peak.max(after);
        let traded: Decimal = l
            .orders
            .iter()
            .filter_map(|o| o.average_price.map(|p| p * o.filled))
            .sum();
        let slips: Vec<Decimal> = l.orders.iter().filter_map(|o| o.slippage_pct).collect();
        let backtest_equity = backtest
            .iter()
            .find(|(d, _)| *d == l.session)
            .map(|(_, v)| *v);
        let tracking = match (backtest_equity, start, bt_start) {
            (Some(bt), Some(s), Some(bs)) if !s.is_zero() && !bs.is_zero() => {
                Some(pct(after / s - bt / bs))
            }
            _ => None,
        };
        out.push(SessionRow {
            date: l.session,
            equity: after,
            return_pct: if previous.is_zero() {
                Decimal::ZERO
            } else {
                pct(after / previous - Decimal::ONE)
            },
            drawdown_pct: if peak.is_zero() {
                Decimal::ZERO
            } else {
                pct(after / peak - Decimal::ONE)
            },
            turnover_pct: if before.is_zero() {
                Decimal::ZERO
            } else {
                pct(traded / before)
            },
            slippage_pct: (!slips.is_empty()).then(|| {
                (slips.iter().copied().sum::<Decimal>() / Decimal::from(slips.len())).round_dp(4)
            }),
            backtest_equity,
            tracking_pct: tracking,
        });
    }
    out
}

fn opt(d: Option<Decimal>) -> String {
    d.map_or(String::new(), |d| d.normalize().to_string())
}

/// The table as CSV.
pub fn csv(rows: &[SessionRow]) -> String {
    let mut s = String::from(
        "date,equity,return_pct,drawdown_pct,turnover_pct,slippage_pct,backtest_equity,tracking_pct\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{},{:.2},{},{},{},{},{},{}",
            r.date,
            r.equity,
            r.return_pct.normalize(),
            r.drawdown_pct.normalize(),
            r.turnover_pct.normalize(),
            opt(r.slippage_pct),
            r.backtest_equity
                .map_or(String::new(), |v| format!("{v:.2}")),
            opt(r.tracking_pct)
        );
    }
    s
}

/// The table for a terminal, with a summary line.
pub fn table(rows: &[SessionRow]) -> String {
    let mut s = String::from(
        "date          equity   return  drawdown  turnover  slippage    backtest  tracking\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{}  {:>10.2}  {:>6.2}%  {:>7.2}%  {:>7.2}%  {:>8}  {:>10}  {:>8}",
            r.date,
            r.equity,
            r.return_pct,
            r.drawdown_pct,
            r.turnover_pct,
            r.slippage_pct.map_or("-".into(), |v| format!("{:.3}%", v)),
            r.backtest_equity.map_or("-".into(), |v| format!("{v:.2}")),
            r.tracking_pct.map_or("-".into(), |v| format!("{:+.2}", v)),
        );
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let worst = rows
            .iter()
            .map(|r| r.drawdown_pct)
            .min()
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{} sessions {} .. {}: value {:.2}, max drawdown {:.2}%, tracking vs backtest {}",
            rows.len(),
            first.date,
            last.date,
            last.equity,
            worst,
            last.tracking_pct
                .map_or("-".into(), |v| format!("{:+.2} points", v))
        );
    }
    s
}

fn polyline(values: &[f64], x0: f64, width: f64, y0: f64, height: f64, lo: f64, hi: f64) -> String {
    let n = values.len().max(2) - 1;
    let span = if hi > lo { hi - lo } else { 1.0 };
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = x0 + width * i as f64 / n as f64;
            let y = y0 + height - height * (v - lo) / span;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A single self-contained HTML page (no external assets): the equity curve against the
/// backtest, the drawdown, and the table.
pub fn html(rows: &[SessionRow], title: &str) -> String {
    let f = |d: Decimal| d.to_f64().unwrap_or(0.0);
    let live: Vec<f64> = rows.iter().map(|r| f(r.equity)).collect();
    let bt: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.backtest_equity.map(f))
        .collect();
    let dd: Vec<f64> = rows.iter().map(|r| f(r.drawdown_pct)).collect();
    let all = live.iter().chain(bt.iter()).copied();
    let lo = all.clone().fold(f64::INFINITY, f64::min);
    let hi = all.fold(f64::NEG_INFINITY, f64::max);
    let dd_lo = dd.iter().copied().fold(0.0, f64::min).min(-1.0);
    let (w, h) = (900.0, 320.0);
    let first = rows.first().map_or(String::new(), |r| r.date.to_string());
    let last = rows.last().map_or(String::new(), |r| r.date.to_string());
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 960 560" width="960" height="560" role="img" aria-label="equity and drawdown">
<rect width="960" height="560" fill="#fff"/>
<text x="50" y="24" font-size="15" font-weight="bold">Account value</text>
<line x1="50" y1="40" x2="50" y2="{y1}" stroke="#999"/><line x1="50" y1="{y1}" x2="{x1}" y2="{y1}" stroke="#999"/>
<text x="44" y="46" font-size="11" text-anchor="end">{hi:.0}</text><text x="44" y="{y1}" font-size="11" text-anchor="end">{lo:.0}</text>
<text x="50" y="{yl}" font-size="11">{first}</text><text x="{x1}" y="{yl}" font-size="11" text-anchor="end">{last}</text>
"##,
        y1 = 40.0 + h,
        x1 = 50.0 + w,
        yl = 56.0 + h,
    );
    if bt.len() == live.len() && !bt.is_empty() {
        let _ = writeln!(
            svg,
            r##"<polyline fill="none" stroke="#999" stroke-width="2" stroke-dasharray="6 4" points="{}"/>"##,
            polyline(&bt, 50.0, w, 40.0, h, lo, hi)
        );
    }
    let _ = writeln!(
        svg,
        r##"<polyline fill="none" stroke="#1f5fbf" stroke-width="2.5" points="{}"/>
<rect x="720" y="12" width="12" height="4" fill="#1f5fbf"/><text x="738" y="18" font-size="12">live</text>
<rect x="790" y="12" width="12" height="4" fill="#999"/><text x="808" y="18" font-size="12">backtest</text>
<text x="50" y="410" font-size="15" font-weight="bold">Drawdown (%)</text>
<line x1="50" y1="420" x2="{x1}" y2="420" stroke="#999"/>
<text x="44" y="424" font-size="11" text-anchor="end">0</text><text x="44" y="540" font-size="11" text-anchor="end">{dd_lo:.1}</text>
<polyline fill="#f3c0c0" stroke="#c0392b" stroke-width="1.5" points="50,420 {} {x1},420"/>
</svg>"##,
        polyline(&live, 50.0, w, 40.0, h, lo, hi),
        polyline(&dd, 50.0, w, 420.0, 120.0, dd_lo, 0.0),
        x1 = 50.0 + w,
    );
    let table = table(rows)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;margin:24px;color:#222}}pre{{font-size:12px}}</style></head>\
         <body><h1>{title}</h1>\n{svg}\n<pre>{table}</pre></body></html>\n"
    )
}
