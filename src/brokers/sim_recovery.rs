//! A lost simulated account comes back, never as a fresh one. When `state/sim/account.json`
//! is missing (moved aside, deleted, a disk restored without it), jutsu looks first for its
//! newest good backup (`account.json.1` .. `.3`, taken after every change), then rebuilds it
//! from the paper ledgers: the starting cash, every fill at its price with its commission,
//! every cash flow a run listed, every split a run recognised, and the `jutsu sim
//! deposit|withdraw` transfers in `audit.csv` that no run has listed yet. Only an account
//! that never ran starts from `sim.initial_cash`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::America::New_York;
use rust_decimal::Decimal;

use crate::brokers::sim::SimAccount;
use crate::brokers::Side;
use crate::domain::events::CashFlow;
use crate::domain::journal::Ledger;
use crate::domain::portfolio::{round_cents, Costs};

/// A transfer `jutsu sim deposit|withdraw` recorded in `audit.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditedTransfer {
    /// The New York date the account dated it.
    pub date: NaiveDate,
    /// Signed: positive in, negative out.
    pub amount: Decimal,
}

impl AuditedTransfer {
    /// Reads one `audit.csv` row of `sim deposit` / `sim withdraw` (its detail is
    /// `deposit 5000.00 on 2025-12-15: cash 15000.00`); `None` for any other row.
    pub fn of_row(action: &str, detail: &str) -> Option<Self> {
        let sign = match action {
            "sim deposit" => Decimal::ONE,
            "sim withdraw" => -Decimal::ONE,
            _ => return None,
        };
        let mut words = detail.split_whitespace();
        let _verb = words.next()?;
        let amount: Decimal = words.next()?.parse().ok()?;
        (words.next()? == "on").then_some(())?;
        let date = words.next()?.trim_end_matches(':').parse().ok()?;
        Some(AuditedTransfer {
            date,
            amount: sign * amount,
        })
    }
}

/// What a rebuild found, for the warning it prints.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuilt {
    /// The account as the records say it stands.
    pub account: SimAccount,
    /// Ledgers read.
    pub ledgers: usize,
    /// Transfers taken from audit.csv that no ledger listed.
    pub unseen_transfers: usize,
}

/// The account `ledgers` (paper, any order) describe, from `initial_cash` with `costs`:
/// positions are the fills and the recognised splits, cash the starting cash plus every
/// listed flow plus the sells less the buys and every commission. Corporate actions are
/// applied through the last session a ledger ran (the next run applies those after it), and
/// order ids go on after the highest one a ledger holds, so no id is used twice.
pub fn rebuild(
    initial_cash: Decimal,
    costs: &Costs,
    ledgers: &[Ledger],
    transfers: &[AuditedTransfer],
) -> Rebuilt {
    let mut account = SimAccount::new(initial_cash);
    let mut positions: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut flows: Vec<CashFlow> = Vec::new();
    for ledger in ledgers {
        for order in &ledger.orders {
            let price = order.average_price.unwrap_or_default();
            let value = price * order.filled;
            let commission = costs.commission_per_share * order.filled;
            let held = positions.entry(order.symbol.clone()).or_default();
            match order.side {
                Side::Buy => {
                    *held += order.filled;
                    account.cash -= value + commission;
                }
                Side::Sell => {
                    *held -= order.filled;
                    account.cash += value - commission;
                }
            }
            let id = order
                .broker_id
                .as_deref()
                .and_then(|i| i.parse::<u64>().ok());
            account.next_id = account.next_id.max(id.map_or(0, |i| i + 1));
        }
        for split in &ledger.splits {
            *positions.entry(split.symbol.clone()).or_default() +=
                Decimal::from(split.after - split.before);
        }
        flows.extend(ledger.flows.iter().cloned());
        account.actions_through = account.actions_through.max(Some(ledger.session));
    }
    let unseen = unlisted(transfers, &flows, last_read(ledgers));
    let unseen_transfers = unseen.len();
    flows.extend(unseen);
    for flow in flows {
        account.cash += flow.amount;
        account.flows.push(flow);
    }
    positions.retain(|_, q| !q.is_zero());
    account.positions = positions;
    Rebuilt {
        account,
        ledgers: ledgers.len(),
        unseen_transfers,
    }
}

/// The latest instant up to which a run read the account's cash movements.
fn last_read(ledgers: &[Ledger]) -> Option<DateTime<Utc>> {
    ledgers.iter().filter_map(|l| l.flows_through).max()
}

/// The audited transfers no ledger lists (matched by date, kind and amount, each listed flow
/// used once), as the flows the account held: posted after the last read, so the next run
/// lists them.
fn unlisted(
    transfers: &[AuditedTransfer],
    listed: &[CashFlow],
    after: Option<DateTime<Utc>>,
) -> Vec<CashFlow> {
    let mut listed: Vec<&CashFlow> = listed.iter().filter(|f| f.kind.is_external()).collect();
    let mut out = Vec::new();
    for t in transfers {
        if let Some(i) = listed
            .iter()
            .position(|f| f.date == t.date && f.amount == t.amount)
        {
            listed.swap_remove(i);
            continue;
        }
        let noon = New_York
            .from_local_datetime(
                &t.date
                    .and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default()),
            )
            .earliest()
            .map(|t| t.with_timezone(&Utc));
        let time = match (noon, after) {
            (Some(n), Some(a)) => Some(n.max(a + chrono::Duration::seconds(1))),
            (n, a) => n.or(a),
        };
        out.push(crate::brokers::sim::transfer_flow(
            t.date, t.amount, time, None,
        ));
    }
    out
}

/// One line for the log and the terminal: what the rebuilt account holds and from what.
pub fn describe(rebuilt: &Rebuilt, path: &Path) -> String {
    let holdings: Vec<String> = rebuilt
        .account
        .positions
        .iter()
        .map(|(s, q)| format!("{q} {s}"))
        .collect();
    format!(
        "the simulated account {} was missing and had no backup: rebuilt from {} paper \
         ledger(s){}: cash {}, {}",
        path.display(),
        rebuilt.ledgers,
        match rebuilt.unseen_transfers {
            0 => String::new(),
            n => format!(" and {n} transfer(s) of audit.csv no run had listed"),
        },
        round_cents(rebuilt.account.cash),
        match holdings.is_empty() {
            true => "no positions".to_string(),
            false => holdings.join(", "),
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_row_of_a_transfer_reads_back_signed() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            AuditedTransfer::of_row("sim withdraw", "withdraw 250.50 on 2025-12-15: cash 9.00"),
            Some(AuditedTransfer {
                date: d("2025-12-15"),
                amount: "-250.50".parse().unwrap()
            })
        );
        assert_eq!(
            AuditedTransfer::of_row("state accept", "deposit 1 on 2025-12-15:"),
            None
        );
        assert_eq!(AuditedTransfer::of_row("sim deposit", "garbled"), None);
    }
}
