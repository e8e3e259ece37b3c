//! `jutsu emergency-exit`: cancel the strategy's open orders, sell its positions, halt.
//!
//! The exit moves money, so it keeps the books a trade keeps: its own ledger beside the
//! session's (`runs/<session>.exit.json`), each sell journaled PENDING before it is sent,
//! then SUBMITTED with the broker's id, then final; one row per filled order in
//! `logs/trades.csv` (reason `emergency-exit`); and `state.json` set to what the broker holds
//! afterwards, so that after `jutsu resume` the next `trade` rebalances without a drift stop.
//! A rerun of an exit that was killed settles its orders with the broker first and sells only
//! what is still held: nothing is sold twice. In dry-run mode it prints the orders it would
//! send and sends, cancels and sets nothing.

use std::path::Path;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::brokers::{
    follow_order, Account, Broker, BrokerError, Order, OrderRequest, OrderType, Side,
};
use crate::config::Mode;
use crate::domain::journal::{Ledger, LedgerOrder, RunStatus};
use crate::domain::portfolio::cents;
use crate::domain::portfolio::whole_shares;
use crate::domain::reconcile::{settle_entries, whole_positions};
use crate::domain::strategy::LEGS;
use crate::storage::ledger::Journal;
use crate::storage::state::{State, StatePaths};
use crate::support::clock::Clock;

use super::send::{self, Outgoing, Settled};

/// The `reason` of the exit's rows in trades.csv.
pub const REASON: &str = "emergency-exit";

/// What the exit is asked to do.
#[derive(Debug, Clone)]
pub struct ExitRequest {
    /// The mode (dry_run sends nothing).
    pub mode: Mode,
    /// The strategy's traded symbols.
    pub legs: [String; LEGS],
    /// Sell every position the broker reports, not only the strategy's.
    pub all_positions: bool,
    /// How long an order is followed before it is canceled (`execution.order_timeout_s`).
    pub timeout: std::time::Duration,
}

/// A position the exit sells or leaves.
#[derive(Debug, Clone, PartialEq)]
pub struct Holding {
    /// Symbol.
    pub symbol: String,
    /// Shares the broker reports.
    pub quantity: Decimal,
    /// Approximate value (the broker's market value).
    pub value: Option<Decimal>,
}

impl Holding {
    fn describe(&self) -> String {
        format!(
            "{:<6} {:>10} shares  ~{}",
            self.symbol,
            self.quantity.normalize(),
            self.value
                .map_or("value unknown".into(), |v| format!("{:.2}", v.round_dp(2)))
        )
    }
}

/// What the exit will do, worked out before anything is sent (pure).
#[derive(Debug, Clone, Default)]
pub struct ExitPlan {
    /// Open orders to cancel.
    pub cancel: Vec<Order>,
    /// Positions to sell (whole long shares).
    pub sell: Vec<Holding>,
    /// Positions left alone, with why.
    pub keep: Vec<(Holding, String)>,
}

impl ExitPlan {
    /// Sorts the broker's positions and open orders into what is sold, canceled and left.
    pub fn of(account: &Account, open: &[Order], legs: &[String; LEGS], all: bool) -> Self {
        let ours = |symbol: &str| all || legs.iter().any(|l| l == symbol);
        let mut plan = ExitPlan {
            cancel: open.iter().filter(|o| ours(&o.symbol)).cloned().collect(),
            ..ExitPlan::default()
        };
        for p in &account.positions {
            let holding = Holding {
                symbol: p.symbol.clone(),
                quantity: p.quantity,
                value: p.market_value,
            };
            if !ours(&p.symbol) {
                let why = match p.not_equity() {
                    Some(why) => format!("not a strategy symbol; {why}"),
                    None => "not a strategy symbol (--all-positions sells it)".into(),
                };
                plan.keep.push((holding, why));
            } else if let Some(why) = p.not_equity() {
                plan.keep.push((holding, why));
            } else if p.quantity < Decimal::ONE {
                plan.keep.push((
                    holding,
                    "short or under one share: not sold by an exit, close it by hand".into(),
                ));
            } else {
                plan.sell.push(holding);
            }
        }
        plan
    }

    /// The lines shown before the confirmation question.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for o in &self.cancel {
            lines.push(format!(
                "cancel  order {} ({} {} {})",
                o.id,
                o.side.as_str(),
                o.quantity.normalize(),
                o.symbol
            ));
        }
        if self.sell.is_empty() {
            lines.push("sell    nothing: no strategy position is held".into());
        }
        for h in &self.sell {
            lines.push(format!(
                "sell    {} (SELL {} at the market)",
                h.describe(),
                h.quantity.trunc().normalize()
            ));
        }
        for (h, why) in &self.keep {
            lines.push(format!("not touched {}: {why}", h.describe()));
        }
        lines
    }
}

/// How the exit ended.
#[derive(Debug, Clone)]
pub struct ExitOutcome {
    /// Every strategy position the exit meant to sell is gone and no order is unsettled.
    pub flat: bool,
    /// What it did, line by line (printed as it happened).
    pub lines: Vec<String>,
}

/// Where the exit writes.
pub struct ExitFiles<'a> {
    /// The mode's state folders.
    pub paths: &'a StatePaths,
    /// `logs/trades.csv`.
    pub trades_csv: std::path::PathBuf,
    /// The broker's commission per share (the simulator's; none at Schwab), for trades.csv.
    pub commission_per_share: rust_decimal::Decimal,
}

/// Runs the exit against `broker`: settles an earlier exit of the session, cancels the open
/// orders of the plan, sells what is still held, and records it all. `plan` must have been
/// shown to the user (and confirmed) before this is called.
pub fn execute(
    request: &ExitRequest,
    broker: &dyn Broker,
    clock: &dyn Clock,
    files: &ExitFiles<'_>,
    session: NaiveDate,
    plan: &ExitPlan,
) -> crate::support::error::Result<ExitOutcome> {
    let mut out = Lines::default();
    State::backup(&files.paths.state_file())?;
    let path = files.paths.exit_ledger(session);
    let mut journal = open_journal(&path, request, clock, session, &mut out)?;
    // Orders of an earlier, interrupted exit: find each at the broker and follow it.
    if journal
        .ledger()
        .orders
        .iter()
        .any(|o| !o.state().is_final())
    {
        let (found, never) = settle_journal(&mut journal, broker, clock, request.timeout)?;
        out.say(format!(
            "earlier exit orders settled: {found} found at the broker, {never} never placed"
        ));
    }
    let ctx = ExitCtx {
        broker,
        clock,
        journal: &mut journal,
    };
    let blocked = cancel_open(plan, &ctx, &mut out);
    let mut ctx = ctx;
    sell_holdings(request, plan, &blocked, &mut ctx, &mut out)?;
    let flat = keep_books(request, files, &blocked, &mut ctx, &mut out)?;
    State::backup(&files.paths.state_file())?;
    close_session_ledger(files, session, broker, clock)?;
    Ok(ExitOutcome { flat, lines: out.0 })
}

/// What the steps of an exit share: the broker, the clock and the exit's journal.
struct ExitCtx<'a> {
    broker: &'a dyn Broker,
    clock: &'a dyn Clock,
    journal: &'a mut Journal,
}

/// This session's exit journal: an earlier, interrupted exit's taken up again, or a new one.
fn open_journal(
    path: &Path,
    request: &ExitRequest,
    clock: &dyn Clock,
    session: NaiveDate,
    out: &mut Lines,
) -> crate::support::error::Result<Journal> {
    let mut ledger = match Ledger::load(path)? {
        Some(mut earlier) => {
            out.say(format!(
                "an earlier emergency exit of {session} is in {}: settling its orders first",
                path.display()
            ));
            earlier.status = RunStatus::Running;
            earlier
        }
        None => Ledger::new(session, request.mode, clock.now_utc()),
    };
    ledger.message = Some("emergency exit under way".into());
    Journal::open(ledger, path.to_path_buf())
}

/// Cancels the open orders and follows each cancel to its end (a canceled order may still
/// fill). Returns the symbols that must not be sold now: an order for them is still live
/// (or could not be read), here or in the earlier exit's journal.
fn cancel_open(plan: &ExitPlan, ctx: &ExitCtx<'_>, out: &mut Lines) -> Vec<String> {
    let (broker, clock, ledger) = (ctx.broker, ctx.clock, ctx.journal.ledger());
    let mut blocked: Vec<String> = Vec::new();
    for o in &plan.cancel {
        match follow_order(broker, clock, &o.id, std::time::Duration::ZERO) {
            Ok(order) if order.status.is_final() => out.say(format!(
                "order {} ({} {} {}): {:?}, {} filled",
                o.id,
                o.side.as_str(),
                o.quantity.normalize(),
                o.symbol,
                order.status,
                order.filled_quantity.normalize()
            )),
            Ok(order) => {
                blocked.push(o.symbol.clone());
                out.say(format!(
                    "order {} ({} {}) is still live after the cancel request ({:?}): {} is not \
                     sold beside it; run the exit again",
                    o.id,
                    o.side.as_str(),
                    o.symbol,
                    order.status,
                    o.symbol
                ));
            }
            Err(e) => {
                blocked.push(o.symbol.clone());
                out.say(format!(
                    "order {} ({}): could not be canceled or read ({e}); {} is not sold beside it",
                    o.id, o.symbol, o.symbol
                ));
            }
        }
    }
    for o in ledger.orders.iter().filter(|o| !o.state().is_final()) {
        blocked.push(o.symbol.clone());
        out.say(format!(
            "an earlier exit order for {} ({:?}{}) is still live: {} is not sold again",
            o.symbol,
            o.state(),
            o.broker_id
                .as_deref()
                .map_or(String::new(), |id| format!(", order {id}")),
            o.symbol
        ));
    }
    blocked
}

/// Sells what is held now, re-read after the cancels: a canceled order that filled after
/// all may have added a position the survey did not show.
fn sell_holdings(
    request: &ExitRequest,
    plan: &ExitPlan,
    blocked: &[String],
    ctx: &mut ExitCtx<'_>,
    out: &mut Lines,
) -> crate::support::error::Result<()> {
    let account = ctx.broker.account()?;
    let since = ctx.clock.now_utc() - chrono::Duration::minutes(1);
    let now_held = ExitPlan::of(&account, &[], &request.legs, request.all_positions);
    for holding in now_held
        .sell
        .iter()
        .filter(|h| !blocked.contains(&h.symbol))
    {
        if !plan.sell.iter().any(|h| h.symbol == holding.symbol) {
            out.say(format!(
                "{}: held now (a canceled order filled after all): selling it too",
                holding.symbol
            ));
        }
        let held = whole_shares(account.quantity(&holding.symbol))
            .map_err(crate::domain::journal::JournalError::from)?;
        let Some(shares) = u64::try_from(held).ok().filter(|q| *q > 0) else {
            out.say(format!("{}: nothing left to sell", holding.symbol));
            continue;
        };
        let reference = account
            .positions
            .iter()
            .find(|p| p.symbol == holding.symbol)
            .and_then(|p| p.market_value.map(|v| v / p.quantity))
            .unwrap_or_default();
        let order = Sell {
            symbol: &holding.symbol,
            shares,
            reference,
            since,
        };
        sell(ctx, request.timeout, &order, out)?;
    }
    Ok(())
}

/// The books after the sells: trades.csv, state.json and the ledger's verdict. True when
/// the account is flat in the exit's symbols and nothing is left unsettled.
fn keep_books(
    request: &ExitRequest,
    files: &ExitFiles<'_>,
    blocked: &[String],
    ctx: &mut ExitCtx<'_>,
    out: &mut Lines,
) -> crate::support::error::Result<bool> {
    let after = ctx.broker.account()?;
    let rows = crate::storage::trades::append_new(
        &files.trades_csv,
        crate::storage::trades::rows_of(ctx.journal.ledger(), REASON, files.commission_per_share),
        &crate::storage::ledger::recorded_splits(files.paths),
    )?;
    let session = ctx.journal.ledger().session;
    let state = record_state(files.paths, request, &after, ctx.clock, session)?;
    let left = still_held(request, &after, out);
    let unsettled = ctx
        .journal
        .ledger()
        .orders
        .iter()
        .any(|o| !o.state().is_final());
    let flat = left.is_empty() && !unsettled && blocked.is_empty();
    out.say(format!(
        "recorded: {} fill(s) in {}, state {} ({} of the strategy's symbols held)",
        rows.len(),
        files.trades_csv.display(),
        files.paths.state_file().display(),
        state.positions.len()
    ));
    out.say(format!(
        "cash {}, value {}",
        cents(after.cash),
        cents(after.liquidation_value)
    ));
    let verdict = if flat {
        "FLAT: every strategy position sold; trading halted until `jutsu resume`".to_string()
    } else {
        format!(
            "NOT FLAT: still held: {}{}; run `jutsu emergency-exit` again to finish; trading halted \
             until `jutsu resume`",
            if left.is_empty() {
                "nothing".into()
            } else {
                left.join(", ")
            },
            if unsettled {
                " (orders not yet settled)"
            } else {
                ""
            }
        )
    };
    out.say(verdict.clone());
    ctx.journal.update(|ledger| {
        ledger.status = if flat {
            RunStatus::Done
        } else {
            RunStatus::Incomplete
        };
        ledger.message = Some(verdict);
        ledger.equity_after = Some(after.liquidation_value);
    })?;
    Ok(flat)
}

/// Whole shares (and shorts) of the exit's symbols still held. A fraction (a split's or a
/// reinvested dividend's) and a holding that is not an equity (a money-market fund, an
/// option) cannot be sold by an equity order: they are only reported, with what to do.
fn still_held(request: &ExitRequest, after: &Account, out: &mut Lines) -> Vec<String> {
    let remaining = ExitPlan::of(after, &[], &request.legs, request.all_positions);
    let mut left: Vec<String> = remaining
        .sell
        .iter()
        .map(|h| format!("{} {}", h.quantity.normalize(), h.symbol))
        .collect();
    let ours = |symbol: &str| request.all_positions || request.legs.iter().any(|l| l == symbol);
    for (h, why) in remaining.keep.iter().filter(|(h, _)| ours(&h.symbol)) {
        let foreign = after
            .positions
            .iter()
            .any(|p| p.symbol == h.symbol && p.not_equity().is_some());
        if foreign {
            out.say(format!(
                "{}: {} not sold: {why}",
                h.symbol,
                h.quantity.normalize()
            ));
        } else if h.quantity > Decimal::ZERO {
            out.say(format!(
                "{}: {} share left, a fraction the API cannot sell: sell it in the Schwab app",
                h.symbol,
                h.quantity.normalize()
            ));
        } else {
            left.push(format!(
                "{} {} (short: close it by hand)",
                h.quantity.normalize(),
                h.symbol
            ));
        }
    }
    left
}

/// One sell of the exit.
struct Sell<'a> {
    symbol: &'a str,
    shares: u64,
    /// The broker's price of the position (market value per share), for slippage.
    reference: Decimal,
    /// A lost answer is looked for among the orders entered since then.
    since: chrono::DateTime<chrono::Utc>,
}

/// Sends one market sell through the one journaled send, and follows it.
fn sell(
    ctx: &mut ExitCtx<'_>,
    timeout: std::time::Duration,
    order: &Sell<'_>,
    out: &mut Lines,
) -> crate::support::error::Result<()> {
    let Sell {
        symbol,
        shares,
        reference,
        since,
    } = *order;
    let quantity = i64::try_from(shares)
        .map_err(|_| crate::support::error::Error::Other(format!("{shares} shares of {symbol}")))?;
    let entry = LedgerOrder::pending(
        ctx.journal.ledger().orders.len(),
        symbol,
        Side::Sell,
        quantity,
        reference,
        ctx.clock.now_utc(),
        Some("emergency exit".into()),
    );
    let request = OrderRequest {
        symbol: symbol.to_string(),
        side: Side::Sell,
        quantity: shares,
        order_type: OrderType::Market,
    };
    let outgoing = Outgoing {
        entry,
        request: &request,
        since,
        kill: send::EXIT,
    };
    let mut entry = match send::send_journaled(ctx.journal, ctx.broker, outgoing)? {
        Settled::Placed(entry) => entry,
        Settled::Lost(_, why) => {
            out.say(format!(
                "SELL {shares} {symbol}: outcome unknown ({why}) and not found among the \
                 broker's orders yet; the next exit settles it before selling again"
            ));
            return Ok(());
        }
        Settled::Refused(_, e) => {
            out.say(format!(
                "SELL {shares} {symbol}: refused, nothing placed ({e})"
            ));
            return Ok(());
        }
    };
    let id = entry.broker_id.clone().unwrap_or_default();
    let order = follow_order(ctx.broker, ctx.clock, &id, timeout)?;
    entry.record_report(&order)?;
    ctx.journal.update(|l| l.put(&entry))?;
    out.say(format!(
        "SELL {shares} {symbol}: order {id} {:?}, {} filled{}",
        order.status,
        order.filled_quantity.normalize(),
        order
            .average_fill_price
            .map_or(String::new(), |p| format!(" at {}", cents(p)))
    ));
    Ok(())
}

/// `state.json` after the exit: the broker's share counts of the strategy's symbols, and
/// all-cash targets, so that the next `trade` sees no drift and rebalances to its targets.
/// The exit's session is the account's newest: no run may go back before it.
fn record_state(
    paths: &StatePaths,
    request: &ExitRequest,
    after: &Account,
    clock: &dyn Clock,
    session: NaiveDate,
) -> crate::support::error::Result<State> {
    let path = paths.state_file();
    let mut state = State::load(&path)?
        .into_value()
        .unwrap_or_else(|| State::empty(request.mode, clock.now_utc()));
    state.positions = whole_positions(after, &request.legs)
        .map_err(crate::domain::journal::JournalError::from)?;
    state.set_targets(&request.legs, [Decimal::ZERO; LEGS]);
    state.last_outcome = Some(REASON.into());
    state.last_session = state.last_session.max(Some(session));
    state.updated_at = clock.now_utc();
    state.save(&path)?;
    Ok(state)
}

/// An unfinished trade ledger of the session ends with the exit: a `trade` later that day
/// must not resume a plan made before the account was emptied. Its orders are settled with
/// the broker first (the exit canceled the live ones) and its fills written to trades.csv,
/// so that nothing it did is lost.
fn close_session_ledger(
    files: &ExitFiles<'_>,
    session: NaiveDate,
    broker: &dyn Broker,
    clock: &dyn Clock,
) -> crate::support::error::Result<()> {
    let Some(mut journal) = Journal::resume(files.paths.ledger(session))? else {
        return Ok(());
    };
    if journal.ledger().status == RunStatus::Done {
        return Ok(());
    }
    if journal
        .ledger()
        .orders
        .iter()
        .any(|o| !o.state().is_final())
    {
        settle_journal(&mut journal, broker, clock, std::time::Duration::ZERO)?;
    }
    let ledger = journal.ledger();
    let reason = ledger
        .plan
        .as_ref()
        .and_then(|p| p.trigger.as_ref())
        .map_or("rebalance", |t| t.reason())
        .to_string();
    crate::storage::trades::append_new(
        &files.trades_csv,
        crate::storage::trades::rows_of(ledger, &reason, files.commission_per_share),
        &crate::storage::ledger::recorded_splits(files.paths),
    )?;
    let message = format!(
        "ended by the emergency exit at {} (its open orders were canceled, the positions sold)",
        clock.now_et().format("%H:%M ET")
    );
    journal.update(|ledger| {
        ledger.status = RunStatus::Done;
        ledger.message = Some(message);
    })
}

/// Settles a journal's unfinished entries with the broker's orders entered since it began,
/// following each found order for up to `timeout`; returns (found, never placed).
fn settle_journal(
    journal: &mut Journal,
    broker: &dyn Broker,
    clock: &dyn Clock,
    timeout: std::time::Duration,
) -> crate::support::error::Result<(usize, usize)> {
    let listed = broker.orders_since(journal.ledger().started_at - chrono::Duration::minutes(1))?;
    let mut claimed = journal.ledger().claimed_ids();
    journal.update(|ledger| {
        settle_entries::<crate::support::error::Error>(
            &mut ledger.orders,
            &listed,
            &mut claimed,
            |id| Ok(follow_order(broker, clock, id, timeout)?),
        )
    })?
}

/// Lines printed as they happen and kept for the alert.
#[derive(Default)]
struct Lines(Vec<String>);

impl Lines {
    fn say(&mut self, line: String) {
        crate::support::report::say(&line);
        self.0.push(line);
    }
}

/// In a cash account, the sells of `plan` that would be good-faith violations: shares
/// bought today while a sale of today (whose proceeds settle the next business day)
/// paid for them. `today` holds the broker's orders entered today. Schwab accepts such a
/// sell and restricts the account after repeated violations, so the exit only warns.
pub fn good_faith_warnings(account: &Account, today: &[Order], plan: &ExitPlan) -> Vec<String> {
    if account.kind != crate::domain::market::AccountKind::Cash {
        return Vec::new();
    }
    let sold_today = today
        .iter()
        .any(|o| o.side == Side::Sell && o.filled_quantity > Decimal::ZERO);
    if !sold_today {
        return Vec::new();
    }
    plan.sell
        .iter()
        .filter_map(|h| {
            let bought: Decimal = today
                .iter()
                .filter(|o| o.symbol == h.symbol && o.side == Side::Buy)
                .map(|o| o.filled_quantity)
                .sum();
            (bought > Decimal::ZERO).then(|| {
                format!(
                    "WARNING: this is a cash account and {} {} were bought today with the \
                     unsettled proceeds of today's sales (they settle the next business day): \
                     selling them before then is a good-faith violation, and Schwab restricts \
                     the account after repeated ones",
                    bought.normalize(),
                    h.symbol
                )
            })
        })
        .collect()
}

/// Reads what the exit needs to plan: the account and its open orders.
pub fn survey(broker: &dyn Broker) -> Result<(Account, Vec<Order>), BrokerError> {
    Ok((broker.account()?, broker.open_orders()?))
}
