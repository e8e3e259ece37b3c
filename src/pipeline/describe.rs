//! One-line summaries of a decision and a plan, for the checklist and the ledger.

use super::*;

pub(super) fn describe_decision(d: &Decision, legs: &[String; LEGS]) -> String {
    let mut targets: Vec<String> = legs
        .iter()
        .zip(d.weights.legs.iter())
        .filter(|(_, w)| !w.is_zero())
        .map(|(s, w)| format!("{s} {:.1}%", (*w * Decimal::ONE_HUNDRED).round_dp(1)))
        .collect();
    if !d.weights.cash.is_zero() {
        targets.push(format!(
            "cash {:.1}%",
            (d.weights.cash * Decimal::ONE_HUNDRED).round_dp(1)
        ));
    }
    format!(
        "cell {} ({}, vol {}{}), T_norm {:.3}, z {:.3}, bonds {}; targets {}",
        d.cell,
        d.trend,
        d.vol_state,
        if d.vol_crush { ", vol crush" } else { "" },
        d.t_norm.round_dp(3),
        d.z_score,
        d.bond.map_or("n/a".into(), |b| b.trend.to_string()),
        targets.join(", ")
    )
}

pub(super) fn describe_plan(plan: &Plan) -> String {
    match &plan.trigger {
        None => "no trade: target unchanged and positions as recorded".into(),
        Some(t) => format!(
            "rebalance ({}{}): {} order(s) on equity {}",
            t.reason(),
            match t {
                plan::Trigger::TargetChanged(d) => format!(", change {:.3}", d),
                plan::Trigger::PositionsDrifted(s) => format!(": {}", s.join(", ")),
                plan::Trigger::CashMoved(pct) => format!(", {}% of equity", pct.round_dp(2)),
                plan::Trigger::Adopted(_) | plan::Trigger::FirstRun => String::new(),
            },
            plan.orders.len(),
            crate::domain::portfolio::cents(plan.equity)
        ),
    }
}
