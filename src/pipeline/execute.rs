//! Stages 7 and 8: the plan sent (reductions, a fresh look at the account, increases), each
//! order journaled before it is sent and followed to its end, and its fill checked.

use super::*;

/// What stages 7 and 8 leave: the stop that ended the sending early, if one did (the
/// record stage writes what happened either way, then the run stops with it).
pub(super) struct Executed {
    pub(super) stopped: Option<Stop>,
}

impl Run<'_> {
    /// Stages 7 and 8: send the plan and check the fills. The outcome is returned, not
    /// raised: the record stage writes what happened either way.
    pub(super) fn execute_stage(
        &mut self,
        journal: &mut Journal,
        broker: &dyn Broker,
        planned: &Planned,
        market: &Market,
    ) -> Result<Executed, Stop> {
        self.stage = Stage::Execute;
        let t = Instant::now();
        let outcome = self.execute_plan(
            journal,
            broker,
            &planned.plan,
            &market.quotes,
            &planned.costs,
        );
        let orders = &journal.ledger().orders;
        let filled = orders
            .iter()
            .filter(|o| *o.state() == OrderState::Filled)
            .count();
        let summary = format!("{} order(s) sent, {filled} filled", orders.len());
        let mark = if outcome.is_ok() {
            Mark::Ok
        } else {
            Mark::Fail
        };
        self.record(journal, mark, summary, t)?;
        Ok(Executed {
            stopped: outcome.err(),
        })
    }

    /// Sends the plan: reductions, then a fresh look at the account, then increases. Every
    /// order is journaled PENDING before it is sent.
    pub(super) fn execute_plan(
        &mut self,
        journal: &mut Journal,
        broker: &dyn Broker,
        plan: &plan::Approved<Plan>,
        quotes: &[Quote],
        costs: &Costs,
    ) -> Result<(), Stop> {
        let c = &self.loaded.config;
        let since = journal.ledger().started_at - chrono::Duration::minutes(1);
        for phase in [Phase::Reduce, Phase::Increase] {
            let orders: Vec<&PlannedOrder> =
                plan.orders.iter().filter(|o| o.phase == phase).collect();
            if orders.is_empty() {
                continue;
            }
            let mut account = broker.account()?;
            for planned in orders {
                let quote = quotes.iter().find(|q| q.symbol == planned.symbol);
                let reference = quote.map_or(planned.price, |q| q.reference(planned.side));
                let mut quantity = planned.quantity;
                match planned.side {
                    Side::Sell => {
                        let held = whole_shares(account.quantity(&planned.symbol))?;
                        quantity = quantity.min(held);
                    }
                    Side::Buy => {
                        let available = plan::spendable(
                            account.buying_power,
                            account.cash,
                            c.execution.max_buying_power_pct,
                        );
                        let unit = reference * (Decimal::ONE + costs.slippage)
                            + costs.commission_per_share;
                        let affordable = if unit > Decimal::ZERO {
                            whole_shares(available / unit)?
                        } else {
                            0
                        };
                        quantity = quantity.min(affordable);
                    }
                }
                if quantity < planned.quantity && quantity > 0 {
                    let why = match planned.side {
                        Side::Sell => "only that many are held",
                        Side::Buy => "buying power (execution.max_buying_power_pct of the cash at the fresh quote)",
                    };
                    self.report.warn(&format!(
                        "{} {} {} planned, {quantity} sent: {why}",
                        planned.side.as_str(),
                        planned.quantity,
                        planned.symbol
                    ));
                }
                if quantity <= 0 {
                    self.report.warn(&format!(
                        "{} {} skipped: nothing left to trade",
                        planned.side.as_str(),
                        planned.symbol
                    ));
                    continue;
                }
                let line = Line {
                    planned,
                    quantity,
                    intended: quantity,
                    reference,
                    attempt: 0,
                };
                self.send_with_retries(journal, broker, line, since)?;
                account = broker.account()?;
            }
            if phase == Phase::Reduce {
                crate::support::fault::kill_point("after-sells");
            }
        }
        Ok(())
    }

    /// Sends a plan line, then its unfilled remainder, up to `execution.max_order_retries`
    /// times.
    pub(super) fn send_with_retries(
        &mut self,
        journal: &mut Journal,
        broker: &dyn Broker,
        line: Line<'_>,
        since: DateTime<Utc>,
    ) -> Result<(), Stop> {
        let c = &self.loaded.config;
        let (planned, quantity) = (line.planned, line.quantity);
        let mut remaining = quantity;
        let mut attempt = 0;
        while remaining > 0 {
            let this = Line {
                quantity: remaining,
                attempt,
                ..line
            };
            let filled = self.send_one(journal, broker, this, since)?;
            remaining -= filled;
            if remaining == 0 {
                break;
            }
            if let OrderType::Limit(limit) = self.order_type(&line) {
                // A limit that did not fill is not chased: a new order would pay more.
                return Err(Stop::incomplete(format!(
                    "limit {} {remaining} of {quantity} {} at {limit} ({} {} {} {}% collar) did not \
                     fill within execution.order_timeout_s ({} s): canceled, {} filled; not \
                     chased beyond the collar",
                    planned.side.as_str(),
                    planned.symbol,
                    if planned.side == Side::Buy { "ask" } else { "bid" },
                    line.reference,
                    if planned.side == Side::Buy { "+" } else { "-" },
                    c.execution.limit_collar_pct,
                    c.execution.order_timeout_s,
                    quantity - remaining
                )));
            }
            if attempt >= c.execution.max_order_retries {
                return Err(Stop::incomplete(format!(
                    "{} {} {}: {remaining} of {quantity} shares still unfilled after {} retries",
                    planned.side.as_str(),
                    quantity,
                    planned.symbol,
                    attempt
                )));
            }
            attempt += 1;
            self.report.warn(&format!(
                "{} {}: {remaining} shares unfilled, retry {attempt}",
                planned.side.as_str(),
                planned.symbol
            ));
        }
        Ok(())
    }

    /// Sends one order and follows it to a final state; returns the shares filled.
    pub(super) fn send_one(
        &mut self,
        journal: &mut Journal,
        broker: &dyn Broker,
        line: Line<'_>,
        since: DateTime<Utc>,
    ) -> Result<i64, Stop> {
        let Line {
            planned,
            quantity,
            intended,
            reference,
            attempt,
        } = line;
        let request = OrderRequest {
            symbol: planned.symbol.clone(),
            side: planned.side,
            quantity: u64::try_from(quantity).map_err(|_| {
                Stop::preflight(format!("an order of {quantity} shares cannot be sent"))
            })?,
            order_type: self.order_type(&line),
        };
        let previewed = self.preview(broker, &request)?;
        let retry = (attempt > 0).then(|| format!("retry {attempt} of the unfilled remainder"));
        let note = [retry, previewed].into_iter().flatten().collect::<Vec<_>>();
        let seq = journal.ledger().orders.len();
        let mut entry = LedgerOrder::pending(
            seq,
            &planned.symbol,
            planned.side,
            quantity,
            reference,
            self.clock.now_utc(),
            (!note.is_empty()).then(|| note.join("; ")),
        );
        entry.intended = Some(intended);
        if let OrderType::Limit(limit) = request.order_type {
            entry.limit_price = Some(limit);
            self.report.detail(&format!(
                "{} {quantity} {}: limit {limit} ({} {reference} {} {}% collar)",
                request.side.as_str(),
                request.symbol,
                if request.side == Side::Buy {
                    "ask"
                } else {
                    "bid"
                },
                if request.side == Side::Buy { "+" } else { "-" },
                self.loaded.config.execution.limit_collar_pct
            ));
        }
        let outgoing = send::Outgoing {
            entry,
            request: &request,
            since,
            kill: send::TRADE,
        };
        let mut e = placed(send::send_journaled(journal, broker, outgoing)?, &request)?;
        let id = e.broker_id.clone().unwrap_or_default();
        let order = self.follow(broker, &id)?;
        let filled = whole_shares(order.filled_quantity)?;
        e.record_report(&order)?;
        let slippage = e.slippage_pct;
        journal.update(|l| l.put(&e))?;
        ended(&request, &id, &order)?;
        if let Some(slip) = slippage {
            let fill = order.average_fill_price.unwrap_or_default();
            self.check_slippage(&request, filled, reference, fill, slip)?;
        }
        Ok(filled)
    }

    /// Market, or with `execution.order_type: limit` a limit at the collar around the
    /// line's reference (ask for a buy, bid for a sell).
    fn order_type(&self, line: &Line<'_>) -> OrderType {
        let ex = &self.loaded.config.execution;
        match ex.order_type {
            OrderKind::Market => OrderType::Market,
            OrderKind::Limit => OrderType::Limit(crate::domain::market::collar_limit(
                line.planned.side,
                line.reference,
                ex.limit_collar_pct,
            )),
        }
    }

    /// Live mode with `execution.preview`: Schwab's previewOrder first. A reject (or a
    /// warning listed in `execution.preview_stop_codes`) stops the order before it is
    /// placed; other warnings are shown and returned for the journal's note.
    fn preview(&self, broker: &dyn Broker, request: &OrderRequest) -> Result<Option<String>, Stop> {
        let ex = &self.loaded.config.execution;
        if !ex.preview || self.options.mode != Mode::Live {
            return Ok(None);
        }
        let preview = broker.preview_order(request)?;
        let what = format!(
            "{} {} {}",
            request.side.as_str(),
            request.quantity,
            request.symbol
        );
        let stops = preview.stops(&ex.preview_stop_codes);
        let show = |f: &crate::brokers::Finding| format!("{}: {}", f.code, f.message);
        if !stops.is_empty() {
            let list: Vec<String> = stops.into_iter().map(show).collect();
            return Err(Stop::preflight(format!(
                "the preview of {what} stops it before it is placed: {}",
                list.join("; ")
            )));
        }
        if preview.warnings.is_empty() {
            return Ok(None);
        }
        let list: Vec<String> = preview.warnings.iter().map(show).collect();
        self.report
            .detail(&format!("preview of {what}: {}", list.join("; ")));
        Ok(Some(format!("preview: {}", list.join("; "))))
    }

    /// Stage 8 for one fill: adverse slippage against the reference, reported at the warn
    /// and error levels; at the abort level no further order is sent.
    fn check_slippage(
        &self,
        request: &OrderRequest,
        filled: Shares,
        reference: Decimal,
        fill: Decimal,
        slip: Decimal,
    ) -> Result<(), Stop> {
        let ex = &self.loaded.config.execution;
        let text = format!(
            "{} {} {}: filled at {} vs {}, slippage {slip:.3}%",
            request.side.as_str(),
            filled,
            request.symbol,
            crate::domain::portfolio::cents(fill),
            crate::domain::portfolio::cents(reference),
        );
        if slip >= ex.slippage_abort_pct {
            return Err(Stop::incomplete(format!(
                "{text}, at or over execution.slippage_abort_pct ({}): no further orders",
                ex.slippage_abort_pct
            )));
        } else if slip >= ex.slippage_error_pct {
            self.report.warn(&format!(
                "{text} (over the error level {})",
                ex.slippage_error_pct
            ));
        } else if slip >= ex.slippage_warn_pct {
            self.report.warn(&text);
        } else {
            self.report.detail(&text);
        }
        Ok(())
    }

    /// Follows an order to a final state; one still open at the timeout is canceled and
    /// followed again (see [`follow_order`]). The order returned may still be live.
    pub(super) fn follow(
        &self,
        broker: &dyn Broker,
        id: &str,
    ) -> Result<crate::brokers::Order, Stop> {
        Ok(follow_order(
            broker,
            self.clock.as_ref(),
            id,
            self.loaded.config.execution.order_timeout(),
        )?)
    }
}

/// The journal entry of an order the broker has; a lost answer (not found at the broker)
/// or a refusal stops the run.
fn placed(settled: send::Settled, request: &OrderRequest) -> Result<LedgerOrder, Stop> {
    let what = format!(
        "{} {} {}",
        request.side.as_str(),
        request.quantity,
        request.symbol
    );
    match settled {
        send::Settled::Placed(entry) => Ok(entry),
        send::Settled::Lost(_, why) => Err(Stop::incomplete(format!(
            "{what}: outcome unknown ({why}) and not found among the broker's orders; check \
             the account before running again"
        ))),
        // Nothing placed: exit 3, unless earlier orders went out (the rule in Stop).
        send::Settled::Refused(_, e) => Err(Stop::preflight(format!("{what}: {e}"))),
    }
}

/// An order followed to its end: one still live (a cancel is only a request: it may still
/// fill, so nothing is sent beside it) or rejected stops the run.
fn ended(request: &OrderRequest, id: &str, order: &crate::brokers::Order) -> Result<(), Stop> {
    let what = format!(
        "{} {} {}",
        request.side.as_str(),
        request.quantity,
        request.symbol
    );
    if !order.status.is_final() {
        return Err(Stop::incomplete(format!(
            "{what}: order {id} is still live at the broker ({:?}, {} filled) after the cancel \
             request; nothing more is sent for {} while it lives",
            order.status, order.filled_quantity, request.symbol
        )));
    }
    if let OrderStatus::Rejected(why) = &order.status {
        return Err(Stop::incomplete(format!("{what} was rejected: {why}")));
    }
    Ok(())
}

/// One plan line as this run sends it: `intended` is what the line trades in this run after
/// the buying-power cap, `quantity` what this order asks for (less on a retry of the
/// remainder), `attempt` 0 for the first order.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line<'p> {
    pub(super) planned: &'p PlannedOrder,
    pub(super) quantity: i64,
    pub(super) intended: i64,
    pub(super) reference: Decimal,
    pub(super) attempt: u32,
}
