//! `jutsu status`: where the account stands and what the strategy would decide if the session
//! closed at the current quote. Read-only: it takes no lock, writes no file, and never places
//! or cancels an order, so it may run while `trade` runs.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::brokers::sources::{self, SharedClock};
use crate::brokers::{Account, MarketData, Quote};
use crate::commands::cli::AsOf;
use crate::config::{Loaded, Mode};
use crate::domain::bars::History;
use crate::domain::calendar;
use crate::domain::journal::Ledger;
use crate::domain::portfolio::cents;
use crate::domain::portfolio::round_cents;
use crate::domain::strategy::{weight_f64, LEGS};
use crate::pipeline::{plan_input, synthetic_bars, Reconciled};
use crate::storage::fsutil::Sealed;
use crate::storage::state::{State, StatePaths};
use crate::support::error::{exit, Error, Result};

/// Money in JSON as the terminal prints it: a string with two decimals (`"54.10"`,
/// `"0.00"`), rounded half away from zero.
fn to_the_cent<S: serde::Serializer>(amount: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&cents(*amount))
}

/// One position against its target.
#[derive(Debug, Clone, Serialize)]
pub struct PositionRow {
    /// Symbol.
    pub symbol: String,
    /// Shares held.
    pub shares: Decimal,
    /// Last price.
    #[serde(serialize_with = "to_the_cent")]
    pub price: Decimal,
    /// Shares x price.
    #[serde(serialize_with = "to_the_cent")]
    pub value: Decimal,
    /// Value over equity, percent.
    pub weight_pct: Decimal,
    /// The last executed target, percent.
    pub target_pct: Option<Decimal>,
}

/// The decision if the session closed at the current quotes, and what it would trade.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewView {
    /// Cell 1..6.
    pub cell: u8,
    /// Trend.
    pub trend: String,
    /// Volatility state.
    pub vol_state: String,
    /// Normalised trend strength, and how far it is from the bull and bear thresholds.
    pub t_norm: f64,
    /// `t_norm_bull_thresh - t_norm`: positive means below the bull line.
    pub t_norm_to_bull: f64,
    /// `t_norm - t_norm_bear_thresh`: positive means above the bear line.
    pub t_norm_to_bear: f64,
    /// Volatility z-score, and its distance to the upper and lower thresholds.
    pub z_score: f64,
    /// `upper_thresh_z - z`.
    pub z_to_upper: f64,
    /// `z - lower_thresh_z`.
    pub z_to_lower: f64,
    /// Target weights by symbol (and cash), percent.
    pub weights: Vec<(String, f64)>,
    /// The orders the preview implies (`BUY 12 TQQQ`), after the same planner as `trade`.
    pub orders: Vec<String>,
}

/// The newest run of the mode.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    /// Its session.
    pub session: NaiveDate,
    /// When it started, New York time.
    pub started: String,
    /// DONE, FAILED, INCOMPLETE, ...
    pub outcome: String,
    /// Orders that reached the broker, and those filled.
    pub orders: usize,
    /// Filled orders.
    pub filled: usize,
    /// Its last message.
    pub message: String,
}

/// Everything `status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Mode.
    pub mode: &'static str,
    /// The instant of the quotes, New York time.
    pub as_of: String,
    /// Account value.
    #[serde(serialize_with = "to_the_cent")]
    pub equity: Decimal,
    /// Cash.
    #[serde(serialize_with = "to_the_cent")]
    pub cash: Decimal,
    /// What the account made from the previous close to the quote (today's fills count
    /// from their price, less their commissions).
    #[serde(serialize_with = "to_the_cent")]
    pub day_pnl: Decimal,
    /// Gross exposure over equity, percent.
    pub gross_exposure_pct: Decimal,
    /// Below the peak of the recorded runs, percent.
    pub drawdown_pct: Option<Decimal>,
    /// Below the previous run's value, percent.
    pub day_loss_pct: Option<Decimal>,
    /// How close the account is to each configured loss halt (empty with the halts off).
    pub loss_halts: Vec<String>,
    /// Positions.
    pub positions: Vec<PositionRow>,
    /// The newest run.
    pub last_run: Option<LastRun>,
    /// The newest validation: session, verdict.
    pub last_validation: Option<(NaiveDate, String)>,
    /// Hours left on the Schwab refresh token.
    pub token_hours_left: Option<i64>,
    /// Why trading is halted (the halt flag's words), when it is: the next run does
    /// nothing until `jutsu resume`.
    pub halted: Option<String>,
    /// The next run instant, New York time.
    pub next_run: Option<String>,
    /// Seconds until the next run.
    pub next_run_in_s: Option<i64>,
    /// Age of the oldest quote, seconds.
    pub quote_age_s: i64,
    /// Why the quotes are too old to trust, with what to check (older than
    /// `execution.max_quote_age_s`).
    pub quote_warning: Option<String>,
    /// The last daily bar of the signal symbol.
    pub last_bar: Option<NaiveDate>,
    /// The regime preview.
    pub preview: Option<PreviewView>,
}

/// The market a status reads: the source, the history (read once) and the latest quotes.
pub struct Market {
    /// Where bars and quotes come from.
    pub data: Arc<dyn MarketData + Send + Sync>,
    /// Daily bars up to the previous session.
    pub history: History,
    /// The latest quotes of every symbol.
    pub quotes: Vec<Quote>,
    /// When they were read.
    pub read_at: DateTime<Utc>,
}

/// The clock of a status: the account's, as for every command that takes `--as-of`
/// ([`crate::pipeline::dates::account_clock`]): `--as-of` fixes it (offline data only,
/// never after today, past the bars or before the last completed session); without it, on
/// offline data the close of its last completed session (so the preview, the dividends due
/// and the next run are the account's, not the machine's date), else the system's.
pub fn clock_for(loaded: &Loaded, as_of: Option<AsOf>, clock: SharedClock) -> Result<SharedClock> {
    let moment = as_of.map(|AsOf { date, time }| crate::pipeline::dates::AsOfMoment { date, time });
    crate::pipeline::dates::account_clock(loaded, loaded.config.mode, moment, clock)
}

impl Market {
    /// Reads the history and the quotes.
    pub fn read(loaded: &Loaded, clock: &SharedClock) -> Result<Market> {
        let as_of = sources::quote_instant(loaded, clock.as_ref())?;
        let data = sources::market_data(loaded, clock.clone(), as_of)?;
        let c = &loaded.config;
        let mut history = History::default();
        for symbol in c.strategy.parameters.all_symbols() {
            let bars = data.daily_bars(&symbol, c.data.history_start)?;
            history.series.insert(symbol, bars);
        }
        let mut market = Market {
            data,
            history,
            quotes: Vec::new(),
            read_at: clock.now_utc(),
        };
        market.refresh(loaded, clock)?;
        Ok(market)
    }

    /// Reads the quotes again.
    pub fn refresh(&mut self, loaded: &Loaded, clock: &SharedClock) -> Result<()> {
        self.quotes = self
            .data
            .quotes(&loaded.config.strategy.parameters.all_symbols())?;
        self.read_at = clock.now_utc();
        Ok(())
    }

    fn last(&self, symbol: &str) -> Option<Decimal> {
        self.quotes
            .iter()
            .find(|q| q.symbol == symbol)
            .map(|q| q.last)
    }

    /// The close of the session before the quote's day, as it traded (the history is
    /// split-adjusted). After the close the history holds the quote's own day already:
    /// that bar is today's, not the previous close.
    fn previous_close(&self, symbol: &str) -> Option<Decimal> {
        let quote = self.quotes.iter().find(|q| q.symbol == symbol);
        let basis = quote.map_or(Decimal::ONE, |q| q.history_basis);
        let bars = self.history.bars(symbol);
        let before = quote.map_or(bars.len(), |q| {
            let day = q
                .time
                .with_timezone(&chrono_tz::America::New_York)
                .date_naive();
            bars.partition_point(|b| b.date < day)
        });
        bars[..before].last().map(|b| b.close * basis)
    }
}

/// Prints the status once (`--json` for scripts).
pub(super) fn run(loaded: &Loaded, json: bool, clock: SharedClock) -> Result<u8> {
    let market = Market::read(loaded, &clock)?;
    let snapshot = snapshot(loaded, &market, &clock)?;
    if json {
        let text =
            serde_json::to_string_pretty(&snapshot).map_err(|e| Error::Other(e.to_string()))?;
        println!("{text}");
    } else {
        for line in lines(&snapshot) {
            println!("{}", crate::support::report::hinted(&line));
        }
    }
    Ok(exit::OK)
}

/// The snapshot of the account and the preview at the market's quotes.
pub fn snapshot(loaded: &Loaded, market: &Market, clock: &SharedClock) -> Result<Snapshot> {
    let c = &loaded.config;
    let mode = c.mode;
    let paths = StatePaths::new(loaded, mode);
    let account = sources::account_read_only(loaded, mode, &market.data, clock.clone())?;
    let legs = c.strategy.parameters.traded_symbols().map(String::from);
    let state = read_state(&paths, &legs);
    let targets = state.as_ref().and_then(|s| s.targets_of(&legs));
    let equity = account.liquidation_value;
    let positions = position_rows(&account, market, &legs, targets.as_ref());
    let gross: Decimal = positions.iter().map(|p| p.value.abs()).sum();
    let now = clock.now_et();
    let record = loss_record(loaded, &paths, now.date_naive(), equity)?;
    let next = calendar::next_run(now, c.schedule.minutes_before_close);
    let losses = record.losses(equity);
    let quoted_at = market.read_at.with_timezone(&chrono_tz::America::New_York);
    let today_fills = fills_of_day(loaded, &paths, quoted_at.date_naive());
    let quote_age_s = market
        .quotes
        .iter()
        .map(|q| (market.read_at - q.time).num_seconds())
        .max()
        .unwrap_or(0);
    Ok(Snapshot {
        mode: mode.as_str(),
        as_of: quoted_at.format("%Y-%m-%d %H:%M:%S ET").to_string(),
        // Money to the cent, in JSON as on the terminal.
        equity: round_cents(equity),
        cash: round_cents(account.cash),
        day_pnl: round_cents(day_pnl(&positions, &today_fills, |symbol| {
            market.previous_close(symbol)
        })),
        gross_exposure_pct: percent(gross, equity),
        drawdown_pct: losses.drawdown_pct,
        day_loss_pct: losses.day_loss_pct,
        loss_halts: c
            .risk
            .halt_distances(losses)
            .iter()
            .map(ToString::to_string)
            .collect(),
        positions,
        last_run: last_run(&paths),
        last_validation: last_validation(loaded, mode),
        token_hours_left: token_hours(loaded, clock),
        halted: std::fs::read_to_string(paths.halt_flag())
            .ok()
            .map(|why| why.trim().to_string()),
        next_run: next.map(|t| t.format("%Y-%m-%d %H:%M ET").to_string()),
        next_run_in_s: next.map(|t| (t - now).num_seconds()),
        quote_age_s,
        quote_warning: stale_quotes(loaded, quote_age_s),
        last_bar: market
            .history
            .bars(&c.strategy.parameters.signal_symbol)
            .last()
            .map(|b| b.date),
        preview: preview(
            loaded,
            market,
            &account,
            Saved {
                state: state.as_ref(),
                engine: crate::storage::fsutil::read_sealed_if_intact(&paths.engine_cache()),
            },
            &legs,
            now.date_naive(),
        ),
    })
}

/// A warning when the oldest quote is older than `execution.max_quote_age_s` (the age at
/// which `trade` refuses it): how old, in readable units, and what to check.
fn stale_quotes(loaded: &Loaded, age_s: i64) -> Option<String> {
    let limit = i64::try_from(loaded.config.execution.max_quote_age_s).unwrap_or(i64::MAX);
    if age_s <= limit {
        return None;
    }
    let check = match loaded.config.data.source {
        crate::config::DataSource::Local => {
            "the quotes are the local bars' last close: update the bars, or pass --as-of a \
             moment the bars cover"
        }
        crate::config::DataSource::Schwab => {
            "check that the market is open and that Schwab's quotes arrive (`jutsu hello`)"
        }
    };
    Some(format!(
        "WARNING: the quotes are {} old (over execution.max_quote_age_s, {} s): {check}",
        crate::domain::text::readable_age(age_s),
        limit
    ))
}

/// A fill of the quote's day, as [`day_pnl`] takes it.
struct DayFill {
    symbol: String,
    /// Shares bought, negative when sold.
    shares: Decimal,
    /// Average fill price.
    price: Decimal,
    /// The commission it paid.
    commission: Decimal,
}

/// What the account made since the previous close: each position's shares times its move
/// from the previous close, less what today's fills moved against that close and their
/// commissions. A position bought today counts from its fill price, one sold today until
/// it; so the sum is the account's own change, as `report`'s day return has it. Without a
/// previous close, the price itself (no move).
fn day_pnl(
    positions: &[PositionRow],
    fills: &[DayFill],
    previous_close: impl Fn(&str) -> Option<Decimal>,
) -> Decimal {
    let held: Decimal = positions
        .iter()
        .map(|p| p.shares * (p.price - previous_close(&p.symbol).unwrap_or(p.price)))
        .sum();
    let traded: Decimal = fills
        .iter()
        .map(|f| f.shares * (f.price - previous_close(&f.symbol).unwrap_or(f.price)) + f.commission)
        .sum();
    held - traded
}

/// The fills of `day`'s run and emergency exit in this mode's ledgers (none when the day
/// has none), with the commission the trade log charges them.
fn fills_of_day(loaded: &Loaded, paths: &StatePaths, day: NaiveDate) -> Vec<DayFill> {
    let per_share = match loaded.config.mode {
        crate::config::Mode::Paper => loaded.config.sim.commission_per_share,
        _ => Decimal::ZERO,
    };
    [paths.ledger(day), paths.exit_ledger(day)]
        .iter()
        .filter_map(|path| Ledger::read_only(path).ok().flatten())
        .flat_map(|ledger| ledger.orders)
        .filter_map(|o| {
            let price = o.average_price.filter(|_| !o.filled.is_zero())?;
            let shares = match o.side {
                crate::domain::portfolio::Side::Buy => o.filled,
                crate::domain::portfolio::Side::Sell => -o.filled,
            };
            Some(DayFill {
                symbol: o.symbol,
                shares,
                price,
                commission: o.filled * per_share,
            })
        })
        .collect()
}

/// The loss halts' record as the next run will meet it: the recorded runs up to `today`,
/// carried forward by the deposits and withdrawals made since the newest run (the
/// simulated account holds them, no run has listed them yet): neither is a gain or a loss.
fn loss_record(
    loaded: &Loaded,
    paths: &StatePaths,
    today: NaiveDate,
    equity: Decimal,
) -> Result<crate::domain::plan::EquityRecord> {
    let read_up_to = paths
        .ledger_files()
        .pop()
        .and_then(|p| Ledger::read_only(&p).ok().flatten())
        .and_then(|l| l.flows_through);
    let unlisted = read_up_to.map_or(Decimal::ZERO, |after| {
        sources::unlisted_sim_transfers(loaded, loaded.config.mode, after)
    });
    Ok(
        crate::storage::ledger::equity_record(paths, today.succ_opt().unwrap_or(NaiveDate::MAX))?
            .with_flow(unlisted, equity),
    )
}

fn percent(part: Decimal, whole: Decimal) -> Decimal {
    if whole.is_zero() {
        Decimal::ZERO
    } else {
        (part / whole * Decimal::ONE_HUNDRED).round_dp(2)
    }
}

fn read_state(paths: &StatePaths, legs: &[String; LEGS]) -> Option<State> {
    match State::load(&paths.state_file()) {
        Ok(Sealed::Good(mut s) | Sealed::Restored { value: mut s, .. }) => {
            s.migrate(legs);
            Some(s)
        }
        _ => None,
    }
}

fn position_rows(
    account: &Account,
    market: &Market,
    legs: &[String; LEGS],
    targets: Option<&[Decimal; LEGS]>,
) -> Vec<PositionRow> {
    let equity = account.liquidation_value;
    account
        .positions
        .iter()
        .filter(|p| !p.quantity.is_zero())
        .map(|p| {
            let price = market.last(&p.symbol).unwrap_or_default();
            let value = p.quantity * price;
            let leg = legs.iter().position(|l| *l == p.symbol);
            PositionRow {
                symbol: p.symbol.clone(),
                shares: p.quantity,
                price,
                value: round_cents(value),
                weight_pct: percent(value, equity),
                target_pct: leg
                    .and_then(|l| targets.map(|t| (t[l] * Decimal::ONE_HUNDRED).round_dp(1))),
            }
        })
        .collect()
}

/// The decision at the current quotes (a synthetic bar from each, through the backtest's
/// engine as `trade` does) and the orders the planner would make of it.
/// What the last run left that the preview reads (never writes): the state, and the engine
/// it saved, from which the decision carries on when the history still fits it.
struct Saved<'a> {
    state: Option<&'a State>,
    engine: Option<crate::domain::resume::SavedEngine>,
}

fn preview(
    loaded: &Loaded,
    market: &Market,
    account: &Account,
    saved: Saved<'_>,
    legs: &[String; LEGS],
    today: NaiveDate,
) -> Option<PreviewView> {
    let state = saved.state;
    let c = &loaded.config;
    let p = &c.strategy.parameters;
    let settings = c.backtest_settings(today);
    let bars = synthetic_bars(&market.quotes, today);
    let history = History {
        series: market
            .history
            .series
            .iter()
            .map(|(s, bars)| {
                (
                    s.clone(),
                    bars.iter().filter(|b| b.date < today).copied().collect(),
                )
            })
            .collect(),
    };
    let digest = history.digest();
    let d = crate::domain::resume::decide_day_resumed(
        &history,
        today,
        &bars,
        &settings,
        saved.engine,
        &digest,
    )
    .ok()?
    .record
    .decision?;
    // The run's own reconciliation: a split is recognised here as the run recognises it.
    let view = crate::domain::reconcile::MarketView {
        history: &history,
        quotes: &market.quotes,
    };
    let seen = crate::pipeline::observe(state, legs, account, view).ok()?;
    let state = crate::pipeline::with_splits(state, &seen);
    let reconciled = Reconciled {
        account: account.clone(),
        prices: legs.clone().map(|s| market.last(&s)),
        fraction_value: seen.fractions.0,
        positions: seen.positions,
    };
    let (input, _) = plan_input(c, c.mode, &d, state.as_ref(), legs, &reconciled);
    let plan = crate::domain::plan::plan(&input);
    let t_norm = d.t_norm.to_f64().unwrap_or(f64::NAN);
    let mut weights: Vec<(String, f64)> = legs
        .iter()
        .cloned()
        .zip(d.weights.legs.iter().map(|w| weight_f64(*w) * 100.0))
        .collect();
    weights.push(("cash".into(), weight_f64(d.weights.cash) * 100.0));
    Some(PreviewView {
        cell: d.cell,
        trend: format!("{:?}", d.trend),
        vol_state: format!("{:?}", d.vol_state),
        t_norm,
        t_norm_to_bull: p.t_norm_bull_thresh - t_norm,
        t_norm_to_bear: t_norm - p.t_norm_bear_thresh,
        z_score: d.z_score,
        z_to_upper: p.upper_thresh_z - d.z_score,
        z_to_lower: d.z_score - p.lower_thresh_z,
        weights,
        orders: plan
            .orders
            .iter()
            .map(|o| format!("{} {} {}", o.side.as_str(), o.quantity, o.symbol))
            .collect(),
    })
}

/// The newest run: the last session's trade run, or its emergency exit when that came
/// later (read only).
fn last_run(paths: &StatePaths) -> Option<LastRun> {
    let read = |path: Option<std::path::PathBuf>| path.and_then(|p| Ledger::read_only(&p).ok()?);
    let trade = read(paths.ledger_files().pop());
    let exit = read(paths.exit_ledger_files().pop());
    let is_exit = match (&trade, &exit) {
        (Some(t), Some(e)) => (e.session, e.started_at) > (t.session, t.started_at),
        (None, Some(_)) => true,
        _ => false,
    };
    let ledger = match is_exit {
        true => exit?,
        false => trade?,
    };
    let sent = |o: &&crate::domain::journal::LedgerOrder| {
        *o.state() != crate::domain::journal::OrderState::NotSent
    };
    Some(LastRun {
        session: ledger.session,
        started: ledger
            .started_at
            .with_timezone(&chrono_tz::America::New_York)
            .format("%Y-%m-%d %H:%M ET")
            .to_string(),
        outcome: match is_exit {
            true => format!("EMERGENCY EXIT {:?}", ledger.status).to_uppercase(),
            false => format!("{:?}", ledger.status).to_uppercase(),
        },
        orders: ledger.orders.iter().filter(sent).count(),
        filled: ledger.orders.iter().filter(|o| !o.filled.is_zero()).count(),
        message: ledger.message.unwrap_or_default(),
    })
}

fn last_validation(loaded: &Loaded, mode: Mode) -> Option<(NaiveDate, String)> {
    let rows =
        crate::storage::validation::read_rows(&loaded.logs_dir().join("validation.csv")).ok()?;
    rows.iter()
        .rev()
        .find(|r| r.mode == mode.as_str())
        .map(|r| (r.date, r.verdict.clone()))
}

fn token_hours(loaded: &Loaded, clock: &SharedClock) -> Option<i64> {
    let c = &loaded.config;
    if !c.uses_schwab(c.mode) {
        return None;
    }
    let token =
        crate::brokers::schwab::auth::TokenFile::load(&loaded.resolve(&c.schwab.token_file))
            .ok()?;
    Some(token.refresh_seconds_left(clock.now_utc().timestamp()) / 3600)
}

/// The snapshot as text lines (the one-shot output; the watch view lays out the same data).
pub fn lines(s: &Snapshot) -> Vec<String> {
    let mut out = vec![
        format!("jutsu status (mode {}) at {}", s.mode, s.as_of),
        format!(
            "  equity {}  cash {}  day P&L {}  exposure {}%  drawdown {}",
            cents(s.equity),
            cents(s.cash),
            cents(s.day_pnl),
            s.gross_exposure_pct,
            s.drawdown_pct
                .map_or("-".into(), |d| format!("{d:.2}% below the peak"))
        ),
    ];
    for p in &s.positions {
        out.push(format!(
            "  {:<5} {:>8} x {:>10} = {:>12}  {:>6}% (target {})",
            p.symbol,
            p.shares.normalize(),
            cents(p.price),
            cents(p.value),
            p.weight_pct,
            p.target_pct.map_or("-".into(), |t| format!("{t}%"))
        ));
    }
    if !s.loss_halts.is_empty() {
        out.push(format!("  loss halts: {}", s.loss_halts.join(", ")));
    }
    if let Some(why) = &s.halted {
        out.push(format!(
            "  HALTED ({why}): the next run does nothing until `jutsu resume`"
        ));
    }
    if let Some(v) = &s.preview {
        out.extend(preview_lines(v));
    }
    out.push(format!(
        "  last run {}; last validation {}; token {}; next run {}",
        s.last_run.as_ref().map_or("none".into(), |r| format!(
            "{} {} at {}, {} order(s), {} filled ({})",
            r.session, r.outcome, r.started, r.orders, r.filled, r.message
        )),
        s.last_validation
            .as_ref()
            .map_or("none".into(), |(d, v)| format!("{d} {v}")),
        s.token_hours_left
            .map_or("-".into(), |h| format!("{h} h left")),
        s.next_run.as_deref().unwrap_or("-")
    ));
    out.push(format!(
        "  data: quotes {} old, last bar {}",
        crate::domain::text::readable_age(s.quote_age_s),
        s.last_bar.map_or("-".into(), |d| d.to_string())
    ));
    out.extend(s.quote_warning.iter().map(|w| format!("  {w}")));
    out
}

/// The regime preview as text lines.
pub fn preview_lines(v: &PreviewView) -> Vec<String> {
    vec![
        format!("  preview if the session closed now: cell {} ({}, vol {})", v.cell, v.trend, v.vol_state),
        format!(
            "    T_norm {:.3} ({:+.3} to bull, {:+.3} to bear)  z {:.3} ({:+.3} to upper, {:+.3} to lower)",
            v.t_norm, v.t_norm_to_bull, v.t_norm_to_bear, v.z_score, v.z_to_upper, v.z_to_lower
        ),
        format!(
            "    targets {}",
            v.weights
                .iter()
                .filter(|(_, w)| *w > 0.0)
                .map(|(s, w)| format!("{s} {w:.1}%"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!(
            "    orders {}",
            if v.orders.is_empty() {
                "none".to_string()
            } else {
                v.orders.join(", ")
            }
        ),
    ]
}
