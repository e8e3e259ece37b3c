//! The strategy and backtest against the original implementation's outputs in
//! tests/fixtures/reference (same bars in, same numbers out).

use crate::common;

use crate::common::{bars_dir, close_rel, data_dir, fixtures, read_csv};
use chrono::NaiveDate;
use jutsu::domain::backtest::{self, Engine, Settings};
use jutsu::domain::bars::History;
use jutsu::domain::portfolio::Costs;
use jutsu::domain::strategy::kalman::{KalmanParams, KalmanState};
use jutsu::domain::strategy::params::StrategyParams;
use jutsu::domain::strategy::Strategy;
use jutsu::storage::bars::load_csv;
use rust_decimal::Decimal;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn golden_settings() -> Settings {
    Settings {
        params: StrategyParams::default(),
        costs: Costs {
            commission_per_share: Decimal::new(1, 2),
            slippage: Decimal::new(1, 3),
        },
        initial_cash: Decimal::new(10_000, 0),
        history_start: d("2009-02-26"),
        trading_start: d("2010-01-01"),
        end: Some(d("2025-12-31")),
    }
}

fn history() -> History {
    History::load_dir(&data_dir(), &StrategyParams::default().all_symbols()).unwrap()
}

#[test]
fn kalman_trace_matches_reference_to_1e12() {
    let p = StrategyParams::default();
    let kp = KalmanParams {
        measurement_noise: p.measurement_noise,
        process_noise_1: p.process_noise_1,
        process_noise_2: p.process_noise_2,
        osc_smoothness: p.osc_smoothness,
        strength_smoothness: p.strength_smoothness,
        symmetric_volume: p.symmetric_volume_adjustment,
        double_smoothing: p.double_smoothing,
    };
    let bars = load_csv(&data_dir().join("QQQ.csv")).unwrap();
    let trace = read_csv(&fixtures().join("reference/kalman_trace_golden_params.csv"));
    let start = bars.partition_point(|b| b.date < d("2009-02-26"));
    let mut kalman = KalmanState::default();
    // The strategy's T_norm path (decimal division, clip) is checked through Strategy.
    let mut strategy = Strategy::new(p.clone()).unwrap();
    let mut worst = 0.0f64;
    assert!(trace.len() > 4000);
    for (row, bar) in trace.iter().zip(&bars[start..]) {
        assert_eq!(row["date"], bar.date.to_string());
        let step = kalman.update(&kp, bar.close_f64, bar.volume);
        let t_norm = strategy.on_signal_bar(bar.close_f64, bar.volume).t_norm;
        let num = |k: &str| row[k].parse::<f64>().ok();
        let checks = [
            ("R", num("R"), step.r),
            ("innovation", num("innovation"), step.innovation),
            ("x_level", num("x_level"), Some(step.level)),
            ("x_slope", num("x_slope"), Some(step.slope)),
            ("P00", num("P00"), Some(step.p[0][0])),
            ("P01", num("P01"), Some(step.p[0][1])),
            ("P11", num("P11"), Some(step.p[1][1])),
            (
                "max_abs_innov",
                num("max_abs_innov"),
                step.max_abs_innovation,
            ),
            ("oscillator", num("oscillator"), step.oscillator),
            ("strength", num("strength"), Some(step.strength)),
            (
                "T_norm",
                num("T_norm"),
                jutsu::domain::bars::decimal_to_f64(t_norm).into(),
            ),
        ];
        for (name, want, got) in checks {
            match (want, got) {
                (Some(w), Some(g)) => {
                    let rel = if w == g { 0.0 } else { (w - g).abs() / w.abs() };
                    worst = worst.max(rel);
                    assert!(
                        close_rel(w, g, 1e-12),
                        "{} {name}: reference {w} ours {g}",
                        row["date"]
                    );
                }
                (None, None) => {}
                (w, g) => panic!("{} {name}: reference {w:?} ours {g:?}", row["date"]),
            }
        }
    }
    eprintln!("kalman trace: worst relative difference {worst:e}");
}

#[test]
fn golden_backtest_reproduces_reference_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("daily.csv");
    let fills = dir.path().join("fills.csv");
    // Run in the test's own folder: the default configuration's logs go there, not into
    // the repository.
    let (code, stdout, stderr) = common::run(common::jutsu().current_dir(dir.path()).args([
        "backtest",
        "--data-dir",
        bars_dir().to_str().unwrap(),
        "--from",
        "2010-01-01",
        "--to",
        "2025-12-31",
        "--history-start",
        "2009-02-26",
        "--out",
        out.to_str().unwrap(),
        "--fills",
        fills.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("final value"), "{stdout}");
    assert!(stdout.contains("393687.76"), "{stdout}");

    let reference = read_csv(&fixtures().join("reference/v3_5b_golden_params_synced.csv"));
    let ours = read_csv(&out);
    assert_eq!(ours.len(), reference.len());
    let header_ref =
        std::fs::read_to_string(fixtures().join("reference/v3_5b_golden_params_synced.csv"))
            .unwrap();
    let header_ours = std::fs::read_to_string(&out).unwrap();
    assert_eq!(header_ours.lines().next(), header_ref.lines().next());
    let as_num = |s: &str| {
        if s.is_empty() {
            None
        } else {
            Some(s.parse::<f64>().unwrap())
        }
    };
    for (r, o) in reference.iter().zip(&ours) {
        let date = &r["date"];
        assert_eq!(date, &o["date"]);
        for k in ["vol_state", "trend_state", "bond_trend"] {
            assert_eq!(r[k], o[k], "{date} {k}");
        }
        for k in ["cell", "rebalance", "vol_crush"] {
            assert_eq!(as_num(&r[k]), as_num(&o[k]), "{date} {k}");
        }
        for k in [
            "T_norm",
            "z_score",
            "sma_fast",
            "sma_slow",
            "bond_sma_fast",
            "bond_sma_slow",
        ] {
            match (as_num(&r[k]), as_num(&o[k])) {
                (Some(a), Some(b)) => assert!(close_rel(a, b, 1e-9), "{date} {k}: {a} vs {b}"),
                (a, b) => assert_eq!(a, b, "{date} {k}"),
            }
        }
        for k in [
            "w_TQQQ", "w_QQQ", "w_PSQ", "w_TMF", "w_TMV", "w_CASH", "qty_TQQQ", "qty_QQQ",
            "qty_PSQ", "qty_TMF", "qty_TMV",
        ] {
            assert_eq!(as_num(&r[k]), as_num(&o[k]), "{date} {k}");
        }
        for k in ["portfolio_value", "cash"] {
            let (a, b) = (as_num(&r[k]).unwrap(), as_num(&o[k]).unwrap());
            assert!((a - b).abs() < 0.005, "{date} {k}: {a} vs {b}");
        }
    }
    let ref_fills =
        std::fs::read_to_string(fixtures().join("reference/v3_5b_golden_params_synced_fills.csv"))
            .unwrap();
    let our_fills = std::fs::read_to_string(&fills).unwrap();
    assert_eq!(our_fills.lines().count(), ref_fills.lines().count());
    for (a, b) in ref_fills.lines().zip(our_fills.lines()) {
        assert_eq!(a, b);
    }
}

#[test]
fn golden_portfolio_is_exact_to_the_cent_in_decimals() {
    let outcome = backtest::run(&history(), &golden_settings()).unwrap();
    let reference = read_csv(&fixtures().join("reference/v3_5b_golden_params_synced.csv"));
    for (r, day) in reference.iter().zip(&outcome.days) {
        let want: Decimal = r["portfolio_value"].parse().unwrap();
        assert_eq!(
            day.portfolio_value.round_dp(2),
            want.round_dp(2),
            "{}",
            r["date"]
        );
        let want: Decimal = r["cash"].parse().unwrap();
        assert_eq!(day.cash.round_dp(2), want.round_dp(2), "{}", r["date"]);
    }
}

#[test]
fn live_decision_equals_backtest_decision_every_session_2011_to_2025() {
    let history = history();
    let settings = golden_settings();
    let backtest = backtest::run(&history, &settings).unwrap();
    let mut engine = Engine::new(&settings).unwrap();
    let symbols: Vec<String> = engine.symbols().to_vec();
    let mut compared = 0;
    let mut by_date = backtest.days.iter();
    // Walk the history one day at a time; before stepping day D, ask the live path for D's
    // decision from the state at D-1 plus D's real bars.
    let all_dates: std::collections::BTreeSet<NaiveDate> = symbols
        .iter()
        .flat_map(|s| history.bars(s).iter().map(|b| b.date))
        .filter(|d| *d >= settings.history_start && *d <= d_end())
        .collect();
    for date in all_dates {
        let today: Vec<(String, jutsu::domain::bars::Bar)> = symbols
            .iter()
            .filter_map(|s| {
                history
                    .bars(s)
                    .iter()
                    .find(|b| b.date == date)
                    .map(|b| (s.clone(), *b))
            })
            .collect();
        let live = engine.decide_next(date, &today);
        let stepped = engine.step_named(date, &today);
        if date < d("2011-01-01") {
            continue;
        }
        let expected = by_date.find(|r| r.date == date).unwrap();
        let live = live.unwrap();
        assert_eq!(live.decision, expected.decision, "{date}");
        assert_eq!(stepped.unwrap().decision, expected.decision, "{date}");
        compared += 1;
    }
    // Every NYSE session of 2011..2025 was compared, none skipped.
    let sessions = jutsu::domain::calendar::sessions(d("2011-01-01"), d("2025-12-31")).count();
    assert_eq!(compared, sessions);
    eprintln!("live = backtest on {compared} sessions");

    // The full path from raw history (history to D-1 plus D's bars) on a spread of sessions.
    for date in [
        "2011-01-03",
        "2013-05-02",
        "2016-06-24",
        "2020-03-16",
        "2022-06-13",
        "2025-12-31",
    ] {
        let date = d(date);
        let today: Vec<(String, jutsu::domain::bars::Bar)> = symbols
            .iter()
            .filter_map(|s| {
                history
                    .bars(s)
                    .iter()
                    .find(|b| b.date == date)
                    .map(|b| (s.clone(), *b))
            })
            .collect();
        let live = backtest::decide_day(&history, date, &today, &settings).unwrap();
        let expected = backtest.days.iter().find(|r| r.date == date).unwrap();
        assert_eq!(live.decision, expected.decision, "{date}");
        assert_eq!(live.quantities, expected.quantities, "{date}");
    }
}

fn d_end() -> NaiveDate {
    d("2025-12-31")
}

#[test]
fn decision_on_a_different_synthetic_close_differs_only_through_the_bar() {
    // Feeding a synthetic bar (open = high = low = close = quote) changes nothing but the
    // signal close and volume: the decision is a function of the bars, not of their source.
    let history = history();
    let settings = golden_settings();
    let date = d("2024-08-05");
    let real: Vec<(String, jutsu::domain::bars::Bar)> = settings
        .params
        .all_symbols()
        .iter()
        .filter_map(|s| {
            history
                .bars(s)
                .iter()
                .find(|b| b.date == date)
                .map(|b| (s.clone(), *b))
        })
        .collect();
    let synthetic: Vec<(String, jutsu::domain::bars::Bar)> = real
        .iter()
        .map(|(s, b)| {
            let c = b.close;
            (
                s.clone(),
                jutsu::domain::bars::Bar::new(date, c, c, c, c, b.volume),
            )
        })
        .collect();
    let a = backtest::decide_day(&history, date, &real, &settings).unwrap();
    let b = backtest::decide_day(&history, date, &synthetic, &settings).unwrap();
    assert_eq!(a.decision, b.decision);
    assert!(a.decision.is_some());
}

/// The cached decision path against the replayed one (#28): on every session of 2011-2025
/// the engine is saved at the end of the day before, written to JSON and read back (as the
/// cache file holds it), resumed, and the session's bars stepped through it. Its record
/// equals the full replay's (the backtest's), bit for bit, on every day; so do the decisions
/// `decide_day_resumed` takes from a saved engine and without one, on sampled days.
#[test]
fn the_cached_engine_decides_as_the_full_replay_on_every_session_of_2011_to_2025() {
    use jutsu::domain::resume::{self, SavedEngine, Start};
    let history = history();
    let settings = golden_settings();
    let reference = backtest::run(&history, &settings).unwrap();
    let by_date: std::collections::BTreeMap<NaiveDate, &backtest::DayRecord> =
        reference.days.iter().map(|r| (r.date, r)).collect();
    let symbols = settings.params.all_symbols();
    let mut engine = Engine::new(&settings).unwrap();
    backtest::replay(&mut engine, &history, &settings, d("2010-12-31"));
    let mut compared = 0;
    for date in jutsu::domain::calendar::sessions(d("2011-01-01"), d("2025-12-31")) {
        let text = serde_json::to_string(&engine.saved()).unwrap();
        let state = serde_json::from_str(&text).unwrap();
        assert_eq!(state, engine.saved(), "round trip of the state of {date}");
        let mut resumed = Engine::resume(&settings, state).unwrap().unwrap();
        let bars: Vec<(String, jutsu::domain::bars::Bar)> = symbols
            .iter()
            .filter_map(|s| {
                let b = history.bars(s).iter().find(|b| b.date == date)?;
                Some((s.clone(), *b))
            })
            .collect();
        let got = resumed.step_named(date, &bars).unwrap();
        let want = by_date[&date];
        assert_eq!(got.decision, want.decision, "decision on {date}");
        assert_eq!(got.quantities, want.quantities, "shares on {date}");
        assert_eq!(got.cash, want.cash, "cash on {date}");
        assert_eq!(got.portfolio_value, want.portfolio_value, "value on {date}");
        // The next day carries on from the engine that was read back, not the original.
        engine = resumed;
        compared += 1;
    }
    assert!(compared > 3700, "only {compared} sessions compared");

    // decide_day_resumed: from the engine saved the day before, and from nothing.
    for date in ["2011-01-03", "2016-06-24", "2020-03-16", "2025-12-31"].map(d) {
        let before = History {
            series: history
                .series
                .iter()
                .map(|(s, b)| {
                    (
                        s.clone(),
                        b.iter().filter(|b| b.date < date).copied().collect(),
                    )
                })
                .collect(),
        };
        let today: Vec<_> = symbols
            .iter()
            .filter_map(|s| Some((s.clone(), *history.bars(s).iter().find(|b| b.date == date)?)))
            .collect();
        let digest = before.digest();
        let replayed =
            resume::decide_day_resumed(&before, date, &today, &settings, None, &digest).unwrap();
        assert_eq!(replayed.start, Start::Replayed);
        assert_eq!(replayed.record.decision, by_date[&date].decision, "{date}");
        let saved: SavedEngine =
            serde_json::from_str(&serde_json::to_string(&replayed.saved).unwrap()).unwrap();
        let again =
            resume::decide_day_resumed(&before, date, &today, &settings, Some(saved), &digest)
                .unwrap();
        // Saved as of the last session it consumed (2016-06-23 for 2016-06-24, the Friday
        // before for a Monday).
        let last_session = before.bars("QQQ").last().unwrap().date;
        assert_eq!(again.start, Start::Resumed(last_session));
        assert_eq!(again.saved.through, last_session);
        assert_eq!(again.record.decision, by_date[&date].decision, "{date}");

        // Any mismatch replays in full: other parameters, another version, other bars.
        let mut other = settings.clone();
        other.params.sma_fast += 1;
        let key_differs = resume::decide_day_resumed(
            &before,
            date,
            &today,
            &other,
            Some(replayed.saved.clone()),
            &digest,
        )
        .unwrap();
        assert_eq!(key_differs.start, Start::Replayed);
        let mut old = replayed.saved.clone();
        old.version += 1;
        let version_differs =
            resume::decide_day_resumed(&before, date, &today, &settings, Some(old), &digest)
                .unwrap();
        assert_eq!(version_differs.start, Start::Replayed);
        let mut revised = before.clone();
        let qqq = revised.series.get_mut("QQQ").unwrap();
        qqq[100].volume += 1.0;
        let revised_digest = revised.digest();
        let history_differs = resume::decide_day_resumed(
            &revised,
            date,
            &today,
            &settings,
            Some(replayed.saved.clone()),
            &revised_digest,
        )
        .unwrap();
        assert_eq!(history_differs.start, Start::Replayed);
    }
}
