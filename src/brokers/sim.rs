//! The simulated broker of paper mode (Schwab has no paper-trading API). Its account lives
//! in `state/sim/account.json`, rewritten atomically after every change, so it survives a
//! restart. Fills are deterministic: the reference quote (ask for buys, bid for sells, else
//! last) plus slippage, commission per share, whole shares, cash never negative.
//!
//! Test hooks live in the same file (`faults`): partial fills, rejections, orders that stay
//! open for a number of polls, and placements whose answer is lost. Only builds with the
//! `test-hooks` feature honour them; any other build warns and ignores the block. The file carries a
//! checksum: a hand edit is refused until `jutsu state accept` seals it (or a file written
//! without a `checksum` line is taken as written by hand).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::brokers::{
    Account, Broker, BrokerError, MarketData, Order, OrderRequest, OrderStatus, OrderType,
    Placement, Position, Side,
};
use crate::domain::events::{Actions, CashFlow, FlowKind, Split};
use crate::domain::portfolio::{round_cents, Costs};
use crate::storage::fsutil;
use crate::support::clock::Clock;

/// Backups kept of the account file: the account after each of its last changes.
pub const BACKUPS: usize = 3;

/// Injected behaviour for tests (all off by default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Fraction (0..1] of each order filled at placement; the rest stays working.
    pub fill_ratio: Option<Decimal>,
    /// Orders for these symbols are rejected.
    pub reject_symbols: Vec<String>,
    /// Orders stay open (queued) until read this many times.
    pub polls_until_fill: u32,
    /// The answer to a placement is lost (the order is placed all the same).
    pub lose_placement_answer: bool,
}

/// One simulated order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimOrder {
    /// The order as the broker reports it.
    pub order: Order,
    /// Reads left before it fills (the `polls_until_fill` hook).
    pub polls_left: u32,
    /// Shares still to fill when the polls run out.
    pub pending: Decimal,
    /// The reference price the fills use.
    pub reference: Decimal,
    /// A limit order's price: no fill is worse than it.
    #[serde(default)]
    pub limit: Option<Decimal>,
}

/// A simulated fill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimFill {
    /// The order.
    pub order_id: String,
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Shares.
    pub quantity: Decimal,
    /// Price per share, slippage included.
    pub price: Decimal,
    /// Commission.
    pub commission: Decimal,
    /// When.
    pub time: DateTime<Utc>,
}

/// The account file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimAccount {
    /// Cash.
    pub cash: Decimal,
    /// Shares per symbol.
    pub positions: BTreeMap<String, Decimal>,
    /// Every order ever placed.
    pub orders: Vec<SimOrder>,
    /// Every fill.
    pub fills: Vec<SimFill>,
    /// The next order id.
    pub next_id: u64,
    /// Test hooks.
    #[serde(default)]
    pub faults: Faults,
    /// The last day whose corporate actions are applied (none before the first run).
    #[serde(default)]
    pub actions_through: Option<NaiveDate>,
    /// Cash that moved without a trade: dividends, cash in lieu, deposits, withdrawals.
    #[serde(default)]
    pub flows: Vec<CashFlow>,
    /// Splits applied to the positions.
    #[serde(default)]
    pub splits: Vec<SimSplit>,
}

/// A split the simulator applied to a position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimSplit {
    /// Effective date.
    pub date: NaiveDate,
    /// Symbol.
    pub symbol: String,
    /// New shares per old share.
    pub ratio: Decimal,
    /// Shares before.
    pub before: Decimal,
    /// Whole shares after (the fraction was paid in cash).
    pub after: Decimal,
}

impl SimAccount {
    /// Reads an account file (checksum verified, a damaged file restored from its backup).
    pub fn read(path: &std::path::Path) -> Result<Self, BrokerError> {
        match fsutil::read_sealed::<SimAccount>(path, BACKUPS)
            .map_err(|e| BrokerError::Storage(e.to_string()))?
        {
            fsutil::Sealed::Missing => Err(BrokerError::Storage(format!(
                "no simulated account at {}",
                path.display()
            ))),
            fsutil::Sealed::Good(a) | fsutil::Sealed::Restored { value: a, .. } => Ok(a),
        }
    }

    /// Reads an account file without changing anything (a damaged file as its newest good
    /// backup, left where it is).
    pub fn read_only(path: &std::path::Path) -> Result<Self, BrokerError> {
        fsutil::read_sealed_only(path, BACKUPS)
            .map_err(|e| BrokerError::Storage(e.to_string()))?
            .ok_or_else(|| {
                BrokerError::Storage(format!("no simulated account at {}", path.display()))
            })
    }

    /// What is wrong with the values of a file that reads as a simulated account: a
    /// negative or fractional share count (cash is a decimal number by its type; the
    /// simulator's fills carry fractions of a cent).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (s, q) in &self.positions {
            if *q < Decimal::ZERO {
                out.push(format!(
                    "positions.{s} is {q}: a share count is never negative"
                ));
            } else if q.fract() != Decimal::ZERO {
                out.push(format!(
                    "positions.{s} is {q}: the simulator holds whole shares"
                ));
            }
        }
        out
    }

    /// The faults this build honours: the file's in a `test-hooks` build, none otherwise.
    pub fn active_faults(&self) -> Faults {
        if cfg!(feature = "test-hooks") {
            return self.faults.clone();
        }
        if self.faults != Faults::default() {
            tracing::warn!(
                "the simulated account has a `faults` block: only test builds honour it; ignored"
            );
        }
        Faults::default()
    }

    /// A new account holding `cash`.
    pub fn new(cash: Decimal) -> Self {
        SimAccount {
            cash,
            positions: BTreeMap::new(),
            orders: Vec::new(),
            fills: Vec::new(),
            next_id: 1,
            faults: Faults::default(),
            actions_through: None,
            flows: Vec::new(),
            splits: Vec::new(),
        }
    }

    /// Applies the corporate actions effective after the last applied day up to `today`, in
    /// date order, splits before dividends on the same day: a split multiplies the shares by
    /// its ratio, whole shares kept and the fraction paid at that session's close; a
    /// dividend pays its amount per share held at the previous close. An account that never
    /// applied any starts from `today`. Returns whether anything changed.
    pub fn catch_up(&mut self, actions: &Actions, today: NaiveDate) -> bool {
        let after = match self.actions_through {
            Some(day) if day >= today => return false,
            Some(day) => day,
            None => {
                self.actions_through = Some(today);
                return true;
            }
        };
        let (splits, dividends) = actions.between(after, today);
        let mut days: Vec<NaiveDate> = splits.iter().map(|s| s.date).collect();
        days.extend(dividends.iter().map(|d| d.date));
        days.sort();
        days.dedup();
        for day in days {
            for split in splits.iter().filter(|s| s.date == day) {
                self.split(split);
            }
            for dividend in dividends.iter().filter(|d| d.date == day) {
                let held = self
                    .positions
                    .get(&dividend.symbol)
                    .copied()
                    .unwrap_or_default();
                if held > Decimal::ZERO {
                    self.credit(CashFlow {
                        date: day,
                        kind: FlowKind::Dividend,
                        amount: round_cents(held * dividend.per_share),
                        symbol: Some(dividend.symbol.clone()),
                        description: format!("{} x {} per share", held, dividend.per_share),
                        time: None,
                        id: None,
                    });
                }
            }
        }
        self.actions_through = Some(today);
        true
    }

    fn split(&mut self, split: &Split) {
        let Some(held) = self.positions.get(&split.symbol).copied() else {
            return;
        };
        let shares = held * split.ratio;
        let whole = shares.trunc();
        self.positions.insert(split.symbol.clone(), whole);
        self.splits.push(SimSplit {
            date: split.date,
            symbol: split.symbol.clone(),
            ratio: split.ratio,
            before: held,
            after: whole,
        });
        let fraction = shares - whole;
        if fraction > Decimal::ZERO {
            self.credit(CashFlow {
                date: split.date,
                kind: FlowKind::CashInLieu,
                amount: round_cents(fraction * split.close),
                symbol: Some(split.symbol.clone()),
                description: format!("{fraction} share(s) at {}", split.close),
                time: None,
                id: None,
            });
        }
    }

    fn credit(&mut self, flow: CashFlow) {
        self.cash += flow.amount;
        self.flows.push(flow);
    }

    /// Pays `amount` in (positive) or takes it out (negative) at `at` (dated by its New
    /// York day), recorded as a deposit or a withdrawal. A withdrawal larger than the cash is
    /// refused. It is posted after the account's last fill, as a bank posts a transfer made
    /// after the day's trades, so the next run lists it.
    pub fn transfer(&mut self, amount: Decimal, at: DateTime<Utc>) -> Result<CashFlow, String> {
        let date = at.with_timezone(&chrono_tz::America::New_York).date_naive();
        if amount == Decimal::ZERO {
            return Err("an amount of 0 moves nothing".into());
        }
        if amount.round_dp(2) != amount {
            return Err(format!("{amount} has fractions of a cent"));
        }
        if -amount > self.cash {
            return Err(format!(
                "withdrawing {} but the simulated account holds {} in cash: withdraw at most \
                 that; more cash comes free only when a run sells (or `jutsu emergency-exit` \
                 sells the positions and halts trading)",
                -amount,
                round_cents(self.cash)
            ));
        }
        let after_fills = self
            .fills
            .iter()
            .map(|f| f.time + chrono::Duration::seconds(1))
            .max();
        let posted = after_fills.map_or(at, |t| t.max(at));
        let id = format!("sim-{}", self.flows.len() + 1);
        let flow = transfer_flow(date, amount, Some(posted), Some(id));
        self.credit(flow.clone());
        Ok(flow)
    }
}

/// The flow a `jutsu sim deposit|withdraw` of `amount` (signed) puts in the account: a
/// deposit or a withdrawal, posted at `time`.
pub fn transfer_flow(
    date: NaiveDate,
    amount: Decimal,
    time: Option<DateTime<Utc>>,
    id: Option<String>,
) -> CashFlow {
    let (kind, words) = match amount > Decimal::ZERO {
        true => (FlowKind::Deposit, "jutsu sim deposit"),
        false => (FlowKind::Withdrawal, "jutsu sim withdraw"),
    };
    CashFlow {
        date,
        kind,
        amount,
        symbol: None,
        description: words.into(),
        time,
        id,
    }
}

/// The simulated broker.
pub struct SimBroker {
    path: PathBuf,
    costs: Costs,
    prices: Arc<dyn MarketData + Send + Sync>,
    clock: Arc<dyn Clock + Send + Sync>,
    account: Mutex<SimAccount>,
    /// Whether changes are written to the file (a paper run) or kept in memory (a dry run,
    /// a run that only plans).
    persist: bool,
}

impl SimBroker {
    /// Opens the account at `path` and writes every change to it; when the file is absent,
    /// `fresh` becomes the account (a new one, or one recovered by
    /// [`crate::brokers::sim_recovery`]).
    pub fn open(
        path: PathBuf,
        fresh: SimAccount,
        costs: Costs,
        prices: Arc<dyn MarketData + Send + Sync>,
        clock: Arc<dyn Clock + Send + Sync>,
    ) -> Result<Self, BrokerError> {
        let broker = Self::open_in_memory(path, fresh, costs, prices, clock)?;
        let broker = SimBroker {
            persist: true,
            ..broker
        };
        broker.save(&broker.lock())?;
        Ok(broker)
    }

    /// Opens the account at `path` without ever writing it: what happens stays in memory
    /// (a dry run, `trade --plan-only`).
    pub fn open_in_memory(
        path: PathBuf,
        fresh: SimAccount,
        costs: Costs,
        prices: Arc<dyn MarketData + Send + Sync>,
        clock: Arc<dyn Clock + Send + Sync>,
    ) -> Result<Self, BrokerError> {
        let account = match fsutil::read_sealed::<SimAccount>(&path, BACKUPS)
            .map_err(|e| BrokerError::Storage(e.to_string()))?
        {
            fsutil::Sealed::Missing => fresh,
            fsutil::Sealed::Good(a) => a,
            fsutil::Sealed::Restored {
                value,
                from,
                problem,
            } => {
                tracing::warn!(
                    "the simulated account {} was damaged ({problem}): restored from {}",
                    path.display(),
                    from.display()
                );
                value
            }
        };
        Ok(SimBroker {
            path,
            costs,
            prices,
            clock,
            account: Mutex::new(account),
            persist: false,
        })
    }

    fn lock(&self) -> MutexGuard<'_, SimAccount> {
        self.account.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the account and keeps it as the newest backup too (only a state that differs
    /// from the newest backup is kept): from its first run on, a lost or damaged file comes
    /// back from `account.json.1` as it last was.
    fn save(&self, account: &SimAccount) -> Result<(), BrokerError> {
        if !self.persist {
            return Ok(());
        }
        let storage = |e: crate::support::error::Error| BrokerError::Storage(e.to_string());
        fsutil::write_sealed(&self.path, account).map_err(storage)?;
        fsutil::backup_sealed::<SimAccount>(&self.path, BACKUPS).map_err(storage)
    }

    /// Applies the corporate actions due up to today (see [`SimAccount::catch_up`]), saved
    /// when that changed the account (and the broker writes its file).
    pub fn catch_up(&self, actions: &Actions) -> Result<(), BrokerError> {
        let mut account = self.lock();
        if account.catch_up(actions, self.clock.today_et()) {
            self.save(&account)?;
        }
        Ok(())
    }

    /// Moves cash in or out of the account (see [`SimAccount::transfer`]), dated today.
    pub fn transfer(&self, amount: Decimal) -> Result<CashFlow, BrokerError> {
        let mut account = self.lock();
        let flow = account
            .transfer(amount, self.clock.now_utc())
            .map_err(BrokerError::Rejected)?;
        self.save(&account)?;
        Ok(flow)
    }

    /// A copy of the account file's content.
    pub fn snapshot(&self) -> SimAccount {
        self.lock().clone()
    }

    /// Fills `quantity` of an order at its reference price, if cash and holdings allow.
    fn fill(
        &self,
        account: &mut SimAccount,
        index: usize,
        quantity: Decimal,
    ) -> Result<(), String> {
        let (symbol, side, reference, id, limit) = {
            let o = &account.orders[index];
            (
                o.order.symbol.clone(),
                o.order.side,
                o.reference,
                o.order.id.clone(),
                o.limit,
            )
        };
        if quantity <= Decimal::ZERO {
            return Ok(());
        }
        let market = self.costs.fill_price(side, reference);
        // A limit order fills at the market with its slippage, never worse than the limit.
        let price = match (side, limit) {
            (Side::Buy, Some(limit)) => market.min(limit),
            (Side::Sell, Some(limit)) => market.max(limit),
            (_, None) => market,
        };
        let commission = self.costs.commission_per_share * quantity;
        let held = account.positions.get(&symbol).copied().unwrap_or_default();
        match side {
            Side::Buy => {
                let cost = price * quantity + commission;
                if cost > account.cash {
                    return Err(format!(
                        "buying {quantity} {symbol} costs {} but the cash is {}",
                        cost.round_dp(2),
                        account.cash.round_dp(2)
                    ));
                }
                account.cash -= cost;
                account.positions.insert(symbol.clone(), held + quantity);
            }
            Side::Sell => {
                if quantity > held {
                    return Err(format!(
                        "selling {quantity} {symbol} but only {held} are held"
                    ));
                }
                account.cash += price * quantity - commission;
                if held == quantity {
                    account.positions.remove(&symbol);
                } else {
                    account.positions.insert(symbol.clone(), held - quantity);
                }
            }
        }
        let order = &mut account.orders[index].order;
        let before = order.filled_quantity;
        let notional = order.average_fill_price.unwrap_or_default() * before + price * quantity;
        order.filled_quantity = before + quantity;
        order.average_fill_price = Some(notional / order.filled_quantity);
        if order.filled_quantity >= order.quantity {
            order.status = OrderStatus::Filled;
        }
        account.fills.push(SimFill {
            order_id: id,
            symbol,
            side,
            quantity,
            price,
            commission,
            time: self.clock.now_utc(),
        });
        Ok(())
    }
}

/// The account as the broker reports it: the simulated holdings valued at `prices`' quotes.
/// `jutsu status` reads a simulated account this way, without opening (and backing up) it.
pub fn account_of(account: &SimAccount, prices: &dyn MarketData) -> Result<Account, BrokerError> {
    let symbols: Vec<String> = account.positions.keys().cloned().collect();
    let quotes = if symbols.is_empty() {
        Vec::new()
    } else {
        prices.quotes(&symbols)?
    };
    let mut value = account.cash;
    let positions = account
        .positions
        .iter()
        .zip(&quotes)
        .map(|((symbol, quantity), quote)| {
            let market_value = *quantity * quote.last;
            value += market_value;
            Position {
                symbol: symbol.clone(),
                quantity: *quantity,
                average_price: None,
                market_value: Some(market_value),
                asset_type: None,
                instrument_type: None,
            }
        })
        .collect();
    Ok(Account {
        positions,
        cash: account.cash,
        buying_power: account.cash,
        liquidation_value: value,
        kind: crate::domain::market::AccountKind::Unknown,
    })
}

impl Broker for SimBroker {
    fn account(&self) -> Result<Account, BrokerError> {
        account_of(&self.lock().clone(), self.prices.as_ref())
    }

    fn cash_flows(&self, since: DateTime<Utc>) -> Result<Vec<CashFlow>, BrokerError> {
        let today = self.clock.today_et();
        let since_day = since
            .with_timezone(&chrono_tz::America::New_York)
            .date_naive();
        // A transfer has its instant; a corporate action only its session.
        Ok(self
            .lock()
            .flows
            .iter()
            .filter(|f| match f.time {
                Some(t) => t > since && t <= self.clock.now_utc(),
                None => f.date > since_day && f.date <= today,
            })
            .cloned()
            .collect())
    }

    fn open_orders(&self) -> Result<Vec<Order>, BrokerError> {
        Ok(self
            .lock()
            .orders
            .iter()
            .filter(|o| !o.order.status.is_final())
            .map(|o| o.order.clone())
            .collect())
    }

    fn place_order(&self, request: &OrderRequest) -> Result<Placement, BrokerError> {
        if request.quantity == 0 {
            return Err(BrokerError::Rejected("an order of 0 shares".into()));
        }
        let quote = self
            .prices
            .quotes(std::slice::from_ref(&request.symbol))?
            .pop()
            .ok_or_else(|| BrokerError::Rejected(format!("no quote for {}", request.symbol)))?;
        let reference = quote.reference(request.side);
        let limit = match request.order_type {
            OrderType::Limit(limit) => Some(limit),
            OrderType::Market => None,
        };
        // A limit the quote does not reach rests, unfilled, until it is canceled (the
        // simulator's quote does not move during a run).
        let rests = limit.is_some_and(|limit| match request.side {
            Side::Buy => reference > limit,
            Side::Sell => reference < limit,
        });
        let mut account = self.lock();
        let id = account.next_id.to_string();
        account.next_id += 1;
        let quantity = Decimal::from(request.quantity);
        let faults = account.active_faults();
        let mut order = Order {
            id: id.clone(),
            symbol: request.symbol.clone(),
            side: request.side,
            quantity,
            filled_quantity: Decimal::ZERO,
            average_fill_price: None,
            status: OrderStatus::Open("QUEUED".into()),
            entered_time: Some(self.clock.now_utc()),
            instruction: None,
        };
        if faults.reject_symbols.contains(&request.symbol) {
            order.status = OrderStatus::Rejected(format!(
                "the simulator was told to reject {}",
                request.symbol
            ));
        }
        let immediate = match faults.fill_ratio {
            _ if rests => Decimal::ZERO,
            Some(ratio) => (quantity * ratio).trunc(),
            None => quantity,
        };
        account.orders.push(SimOrder {
            order,
            polls_left: faults.polls_until_fill,
            pending: immediate,
            reference,
            limit,
        });
        let index = account.orders.len() - 1;
        if account.orders[index].order.status.is_final() {
            // Rejected: nothing to fill.
        } else if faults.polls_until_fill == 0 {
            if let Err(why) = self.fill(&mut account, index, immediate) {
                account.orders[index].order.status = OrderStatus::Rejected(why);
            } else if account.orders[index].order.status == OrderStatus::Open("QUEUED".into()) {
                account.orders[index].order.status = OrderStatus::Open("WORKING".into());
            }
            account.orders[index].pending = Decimal::ZERO;
        }
        self.save(&account)?;
        if faults.lose_placement_answer {
            return Ok(Placement::Unknown(
                "the simulator lost the answer to this placement".into(),
            ));
        }
        Ok(Placement::Placed(id))
    }

    fn order(&self, id: &str) -> Result<Order, BrokerError> {
        let mut account = self.lock();
        let index = account
            .orders
            .iter()
            .position(|o| o.order.id == id)
            .ok_or_else(|| BrokerError::Http {
                endpoint: "sim order".into(),
                status: 404,
                message: format!("no order {id}"),
            })?;
        let mut changed = false;
        if !account.orders[index].order.status.is_final() && account.orders[index].polls_left > 0 {
            account.orders[index].polls_left -= 1;
            if account.orders[index].polls_left == 0 {
                let pending = account.orders[index].pending;
                account.orders[index].pending = Decimal::ZERO;
                match self.fill(&mut account, index, pending) {
                    Err(why) => account.orders[index].order.status = OrderStatus::Rejected(why),
                    Ok(()) if !account.orders[index].order.status.is_final() => {
                        account.orders[index].order.status = OrderStatus::Open("WORKING".into());
                    }
                    Ok(()) => {}
                }
            }
            changed = true;
        }
        let order = account.orders[index].order.clone();
        if changed {
            self.save(&account)?;
        }
        Ok(order)
    }

    fn orders_since(&self, since: DateTime<Utc>) -> Result<Vec<Order>, BrokerError> {
        Ok(self
            .lock()
            .orders
            .iter()
            .filter(|o| o.order.entered_time.is_some_and(|t| t >= since))
            .map(|o| o.order.clone())
            .collect())
    }

    fn cancel_order(&self, id: &str) -> Result<(), BrokerError> {
        let mut account = self.lock();
        let order = account
            .orders
            .iter_mut()
            .find(|o| o.order.id == id)
            .ok_or_else(|| BrokerError::Http {
                endpoint: "sim cancel".into(),
                status: 404,
                message: format!("no order {id}"),
            })?;
        if order.order.status.is_final() {
            return Err(BrokerError::Http {
                endpoint: "sim cancel".into(),
                status: 400,
                message: format!("order {id} is already {:?}", order.order.status),
            });
        }
        order.order.status = OrderStatus::Canceled;
        order.pending = Decimal::ZERO;
        self.save(&account)
    }
}
