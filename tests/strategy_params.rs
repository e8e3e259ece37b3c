//! The strategy with parameter sets other than the golden one: the port is general, so each
//! option must change exactly what the specification says it changes.

use crate::common;

use chrono::NaiveDate;
use jutsu::domain::backtest::{self, Settings};
use jutsu::domain::bars::History;
use jutsu::domain::portfolio::Costs;
use jutsu::domain::strategy::params::StrategyParams;
use jutsu::domain::strategy::{BondTrend, Decision, CORE, INVERSE, LEGS};
use rust_decimal::Decimal;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn run(params: StrategyParams, from: &str, to: &str) -> Vec<backtest::DayRecord> {
    let history = History::load_dir(&common::data_dir(), &params.all_symbols()).unwrap();
    let trading_start = d(from);
    let settings = Settings {
        history_start: Settings::default_history_start(&params, trading_start),
        params,
        costs: Costs {
            commission_per_share: Decimal::new(1, 2),
            slippage: Decimal::new(1, 3),
        },
        initial_cash: Decimal::new(10_000, 0),
        trading_start,
        end: Some(d(to)),
    };
    backtest::run(&history, &settings).unwrap().days
}

fn decisions(days: &[backtest::DayRecord]) -> Vec<Decision> {
    days.iter().filter_map(|d| d.decision).collect()
}

fn assert_weights_sum_to_one(days: &[backtest::DayRecord]) {
    for day in days {
        if let Some(dec) = &day.decision {
            let sum: Decimal = dec.weights.legs.iter().copied().sum::<Decimal>() + dec.weights.cash;
            assert!(
                (sum - Decimal::ONE).abs() < Decimal::new(1, 20),
                "{} {sum}",
                day.date
            );
            assert!(day.cash >= Decimal::ZERO, "{}: negative cash", day.date);
        }
    }
}

#[test]
fn default_history_start_is_the_originals_rule() {
    let start = Settings::default_history_start(&StrategyParams::default(), d("2010-01-01"));
    assert_eq!(start, d("2009-02-26"));
}

#[test]
fn psq_on_holds_psq_in_cell_6_and_no_bonds_there() {
    let params = StrategyParams {
        use_inverse_hedge: true,
        w_PSQ_max: 0.3,
        ..StrategyParams::default()
    };
    let days = run(params, "2022-01-01", "2022-12-31");
    assert_weights_sum_to_one(&days);
    let cell6: Vec<Decision> = decisions(&days)
        .into_iter()
        .filter(|d| d.cell == 6)
        .collect();
    assert!(!cell6.is_empty(), "2022 has BearStrong/High days");
    for dec in &cell6 {
        assert_eq!(dec.weights.legs[INVERSE], Decimal::new(3, 1));
        assert_eq!(dec.weights.cash, Decimal::new(7, 1));
        assert!(dec.weights.legs[3].is_zero() && dec.weights.legs[4].is_zero());
    }
    assert!(
        days.iter().any(|d| d.quantities[INVERSE] > 0),
        "PSQ was bought"
    );
}

#[test]
fn leverage_scalar_changes_only_cells_with_cash() {
    let base = decisions(&run(StrategyParams::default(), "2022-01-01", "2022-12-31"));
    let scaled = decisions(&run(
        StrategyParams {
            leverage_scalar: 1.2,
            ..StrategyParams::default()
        },
        "2022-01-01",
        "2022-12-31",
    ));
    assert_eq!(base.len(), scaled.len());
    let mut cell5 = 0;
    for (a, b) in base.iter().zip(&scaled) {
        assert_eq!(a.cell, b.cell);
        match a.cell {
            1..=3 => assert_eq!(a.weights, b.weights),
            5 if a.bond.is_some() => {
                // 0.5 x 1.2 = 0.6 QQQ, 0.2 bonds, 0.3 cash, normalised by 1.1.
                let want = Decimal::new(6, 1) / Decimal::new(11, 1);
                assert_eq!(b.weights.legs[CORE], want);
                cell5 += 1;
            }
            _ => {}
        }
    }
    assert!(cell5 > 0, "2022 has cell-5 days");
}

#[test]
fn asymmetric_volume_rule_and_osc_15_change_t_norm_but_keep_the_other_indicators() {
    let base = decisions(&run(StrategyParams::default(), "2015-01-01", "2016-12-31"));
    let live_like = decisions(&run(
        StrategyParams {
            symmetric_volume_adjustment: false,
            osc_smoothness: 15,
            ..StrategyParams::default()
        },
        "2015-01-01",
        "2016-12-31",
    ));
    assert_eq!(base.len(), live_like.len());
    let differing = base
        .iter()
        .zip(&live_like)
        .filter(|(a, b)| a.t_norm != b.t_norm)
        .count();
    assert!(differing > base.len() / 2, "{differing} of {}", base.len());
    for (a, b) in base.iter().zip(&live_like) {
        assert_eq!(a.sma_fast, b.sma_fast);
        assert_eq!(a.z_score, b.z_score);
        assert_eq!(a.bond, b.bond);
    }
}

#[test]
fn double_smoothing_and_treasury_off_run_clean() {
    let days = run(
        StrategyParams {
            double_smoothing: true,
            allow_treasury: false,
            ..StrategyParams::default()
        },
        "2020-01-01",
        "2020-12-31",
    );
    assert_weights_sum_to_one(&days);
    for dec in decisions(&days) {
        assert!(dec.bond.is_none());
        assert!(dec.weights.legs[3].is_zero() && dec.weights.legs[4].is_zero());
    }
}

#[test]
fn later_trading_start_reallocates_on_its_first_decision() {
    // With the original's history rule (309 calendar days before the start) the warmup ends
    // a few sessions into the trading period; the first decision allocates at once.
    let days = run(StrategyParams::default(), "2018-03-01", "2018-06-30");
    assert_eq!(days[0].date, d("2018-03-01"));
    let first = days.iter().find(|d| d.decision.is_some()).unwrap();
    assert!(first.decision.unwrap().rebalance);
    assert!(!first.fills.is_empty());
    assert!(days
        .iter()
        .take_while(|d| d.decision.is_none())
        .all(|d| d.fills.is_empty()));
    // A start far enough after the history start decides on its first day, after a warmup
    // in which decisions were taken but no order kept: it still allocates on day one.
    let days = run_with_history(
        StrategyParams::default(),
        "2009-02-26",
        "2018-03-01",
        "2018-03-31",
    );
    assert!(days[0].decision.unwrap().rebalance);
    assert!(!days[0].fills.is_empty());
    // Bond trend exists and decides TMF vs TMV in defensive cells.
    for dec in decisions(&days) {
        if matches!(dec.cell, 4 | 6) {
            let bond = dec.bond.unwrap().trend;
            let leg = if bond == BondTrend::Bull { 3 } else { 4 };
            assert_eq!(dec.weights.legs[leg], Decimal::new(4, 1));
        }
        assert!(dec.weights.legs[..LEGS].iter().all(|w| *w >= Decimal::ZERO));
    }
}

fn run_with_history(
    params: StrategyParams,
    history_start: &str,
    from: &str,
    to: &str,
) -> Vec<backtest::DayRecord> {
    let history = History::load_dir(&common::data_dir(), &params.all_symbols()).unwrap();
    let settings = Settings {
        history_start: d(history_start),
        params,
        costs: Costs {
            commission_per_share: Decimal::new(1, 2),
            slippage: Decimal::new(1, 3),
        },
        initial_cash: Decimal::new(10_000, 0),
        trading_start: d(from),
        end: Some(d(to)),
    };
    backtest::run(&history, &settings).unwrap().days
}

#[test]
fn backtest_reports_a_bad_data_row_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for sym in ["QQQ", "TLT", "TQQQ", "TMF", "TMV", "PSQ"] {
        std::fs::copy(
            common::data_dir().join(format!("{sym}.csv")),
            dir.path().join(format!("{sym}.csv")),
        )
        .unwrap();
    }
    let tlt = dir.path().join("TLT.csv");
    let text = std::fs::read_to_string(&tlt).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[100] = lines[100].replacen(',', ",-", 1); // negative open
    std::fs::write(&tlt, lines.join("\n")).unwrap();
    let (code, _, stderr) = common::run(common::jutsu().current_dir(dir.path()).args([
        "backtest",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("TLT.csv:101: "), "{stderr}");
    assert!(stderr.contains("prices must be positive"), "{stderr}");

    std::fs::write(&tlt, text).unwrap();
    std::fs::remove_file(dir.path().join("TMV.csv")).unwrap();
    let (code, _, stderr) = common::run(common::jutsu().current_dir(dir.path()).args([
        "backtest",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("TMV.csv:0: cannot read the file"),
        "{stderr}"
    );
}
