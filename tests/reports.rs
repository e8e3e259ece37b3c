//! Reports a trader reads: the statistics against hand-computed and reference values, and
//! the HTML page of `backtest --html` and `report --html`, read with a real HTML parser.

use crate::common;

use scraper::{Html, Selector};

fn select<'a>(doc: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    doc.select(&Selector::parse(css).unwrap()).collect()
}

fn text(e: &scraper::ElementRef<'_>) -> String {
    e.text().collect::<String>().trim().to_string()
}

#[test]
fn the_statistics_of_the_golden_backtest_match_the_reference_daily_values() {
    // The reference's own end-of-day values, with the formulas written out here.
    let reference =
        common::read_csv(&common::fixtures().join("reference/v3_5b_golden_params_synced.csv"));
    let values: Vec<f64> = std::iter::once(10_000.0)
        .chain(
            reference
                .iter()
                .map(|r| r["portfolio_value"].parse::<f64>().unwrap()),
        )
        .collect();
    let returns: Vec<f64> = values.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let sd = (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let sharpe = mean / sd * 252f64.sqrt();
    let (mut peak, mut mdd) = (f64::MIN, 0.0f64);
    for v in &values {
        peak = peak.max(*v);
        mdd = mdd.min(v / peak - 1.0);
    }
    let first: chrono::NaiveDate = reference[0]["date"].parse().unwrap();
    let last: chrono::NaiveDate = reference.last().unwrap()["date"].parse().unwrap();
    let years = (last - first).num_days() as f64 / 365.25;
    let cagr = (values.last().unwrap() / values[0]).powf(1.0 / years) - 1.0;

    let params = jutsu::domain::strategy::params::StrategyParams::default();
    let history =
        jutsu::domain::bars::History::load_dir(&common::data_dir(), &params.all_symbols()).unwrap();
    let config = jutsu::config::Config::default();
    let settings = config.backtest_settings("2025-12-31".parse().unwrap());
    let outcome = jutsu::domain::backtest::run(&history, &settings).unwrap();
    let s =
        jutsu::domain::backtest::statistics(&outcome.days, settings.initial_cash, &settings.costs)
            .unwrap();
    assert!((s.cagr - cagr).abs() < 1e-6, "CAGR {} vs {cagr}", s.cagr);
    assert!(
        (s.sharpe - sharpe).abs() < 1e-6,
        "Sharpe {} vs {sharpe}",
        s.sharpe
    );
    assert!(
        (s.max_drawdown.depth - mdd).abs() < 1e-6,
        "max drawdown {} vs {mdd}",
        s.max_drawdown.depth
    );
    assert_eq!(s.max_drawdown.trough.to_string(), "2016-01-13");
    assert_eq!(s.fills, 555);
}

#[test]
fn backtest_html_has_every_section_the_legend_the_monthly_table_and_the_trades() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bt.html");
    // In the test's folder: the default configuration's logs go there, not into the repo.
    let (code, stdout, stderr) = common::run(common::jutsu().current_dir(dir.path()).args([
        "backtest",
        "--data-dir",
        common::bars_dir().to_str().unwrap(),
        "--from",
        "2024-01-01",
        "--to",
        "2025-12-31",
        "--html",
        page.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("QQQ buy and hold"), "{stdout}");
    assert!(stdout.contains("Sortino"), "{stdout}");
    // The buy-and-hold column starts where its header does on every row, however long the
    // strategy's drawdown text is.
    let header = stdout
        .lines()
        .find(|l| l.contains("QQQ buy and hold"))
        .unwrap();
    let at = header.find("QQQ buy and hold").unwrap();
    for label in [
        "period",
        "final value",
        "max drawdown",
        "Sortino",
        "worst day",
    ] {
        let row = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap();
        let before = &row[..at];
        assert!(
            before.ends_with(' ') && !row[at..].starts_with(' '),
            "{label}: {stdout}"
        );
    }
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("<script") && !html.contains("http"),
        "self-contained"
    );
    let doc = Html::parse_document(&html);
    for id in [
        "statistics",
        "equity",
        "drawdown",
        "weights",
        "monthly",
        "trades",
    ] {
        assert_eq!(
            select(&doc, &format!("section#{id}")).len(),
            1,
            "section {id}"
        );
    }
    // A backtest has no run to validate, and its fills no reference price nor slippage.
    assert!(select(&doc, "section#validation").is_empty());
    let heads: Vec<String> = select(&doc, "section#trades th").iter().map(text).collect();
    assert_eq!(
        heads,
        ["date", "side", "symbol", "shares", "fill", "commission"]
    );
    let legend: Vec<String> = select(&doc, "section#equity .legend span")
        .iter()
        .map(text)
        .collect();
    assert!(
        legend.contains(&"strategy (v3.5b)".to_string()),
        "{legend:?}"
    );
    assert!(
        legend.contains(&"QQQ buy and hold".to_string()),
        "{legend:?}"
    );
    assert!(
        legend.contains(&"cell 1: bull, low volatility".to_string()),
        "regime shading legend {legend:?}"
    );
    let weights: Vec<String> = select(&doc, "section#weights .legend span")
        .iter()
        .map(text)
        .collect();
    assert_eq!(weights, ["TQQQ", "QQQ", "PSQ", "TMF", "TMV", "cash"]);
    // Two years x (year + 12 months + total).
    let rows = select(&doc, "section#monthly tr");
    assert_eq!(rows.len(), 3, "header and two years");
    let cells: Vec<String> = rows[1]
        .select(&Selector::parse("td").unwrap())
        .map(|c| text(&c))
        .collect();
    assert_eq!(cells.len(), 14);
    assert_eq!(cells[0], "2024");
    assert!(cells[1..].iter().all(|c| c.ends_with('%')), "{cells:?}");
    // Every fill of the period is a row of the trades table, and one statistics row per figure.
    let fills = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("fills"))
        .unwrap();
    let count: usize = fills.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(select(&doc, "section#trades tr.trade").len(), count);
    let labels: Vec<String> = select(&doc, "section#statistics td.l")
        .iter()
        .map(text)
        .collect();
    for label in [
        "CAGR",
        "Sharpe",
        "Sortino",
        "max drawdown",
        "exposure",
        "turnover",
        "best day",
    ] {
        assert!(labels.contains(&label.to_string()), "{label}: {labels:?}");
    }
    assert!(
        select(&doc, "svg[viewBox]").len() >= 3,
        "charts scale with the window"
    );
    assert!(
        select(&doc, "section#equity rect").len() > 3,
        "regime shading"
    );
}

#[test]
fn report_html_shows_the_account_against_the_backtest_and_the_validations() {
    let (dir, config) = common::paper_config("");
    let cfg = config.to_str().unwrap();
    for day in ["2025-12-08", "2025-12-09", "2025-12-10"] {
        let (code, out, err) =
            common::run(common::jutsu().args(["-c", cfg, "trade", "--as-of", day]));
        assert_eq!(code, 0, "{out}{err}");
        let (code, out, err) =
            common::run(common::jutsu().args(["-c", cfg, "validate", "--date", day]));
        assert_eq!(code, 0, "{out}{err}");
    }
    let page = dir.path().join("report.html");
    let (code, stdout, _) =
        common::run(common::jutsu().args(["-c", cfg, "report", "--html", page.to_str().unwrap()]));
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("paper account"), "{stdout}");
    let doc = Html::parse_document(&std::fs::read_to_string(&page).unwrap());
    let legend: Vec<String> = select(&doc, "section#equity .legend span")
        .iter()
        .map(text)
        .collect();
    assert!(
        legend.starts_with(&[
            "paper account".into(),
            "backtest".into(),
            "QQQ buy and hold".into()
        ]),
        "{legend:?}"
    );
    let verdicts = select(&doc, "section#validation tr.verdict");
    assert_eq!(verdicts.len(), 3);
    assert!(text(&verdicts[0]).contains("2025-12-08"));
    let trades = select(&doc, "section#trades tr.trade");
    let csv = common::read_csv(&dir.path().join("logs/trades.csv"));
    assert_eq!(
        trades.len(),
        csv.len(),
        "one row per fill, as in trades.csv"
    );
    let headings: Vec<String> = select(&doc, "section#statistics th")
        .iter()
        .map(text)
        .collect();
    assert_eq!(
        headings[1..],
        ["paper account", "backtest", "QQQ buy and hold"]
    );
}

#[test]
fn trades_csv_has_the_new_york_time_the_commission_and_the_realized_pnl() {
    let (dir, config) = common::paper_config("");
    let cfg = config.to_str().unwrap();
    // A first run buys; a regime change sells (the dates of the bundled bars where it does).
    for day in [
        "2025-11-03",
        "2025-11-04",
        "2025-11-05",
        "2025-11-06",
        "2025-11-07",
    ] {
        let (code, out, err) =
            common::run(common::jutsu().args(["-c", cfg, "trade", "--as-of", day]));
        assert_eq!(code, 0, "{out}{err}");
    }
    let rows = common::read_csv(&dir.path().join("logs/trades.csv"));
    let sell = rows
        .iter()
        .find(|r| r["side"] == "SELL")
        .expect("a sell in the period");
    let buys: Vec<_> = rows
        .iter()
        .filter(|r| r["side"] == "BUY" && r["symbol"] == sell["symbol"])
        .collect();
    // Average cost with the commission in it, as the README states.
    let (mut shares, mut cost) = (0.0, 0.0);
    for b in &buys {
        let q: f64 = b["quantity"].parse().unwrap();
        shares += q;
        cost +=
            q * b["fill_price"].parse::<f64>().unwrap() + b["commission"].parse::<f64>().unwrap();
    }
    let q: f64 = sell["quantity"].parse().unwrap();
    let expected = q * (sell["fill_price"].parse::<f64>().unwrap() - cost / shares)
        - sell["commission"].parse::<f64>().unwrap();
    let got: f64 = sell["realized_pnl"].parse().unwrap();
    assert!((got - expected).abs() < 0.006, "{got} vs {expected}");
    assert!(rows
        .iter()
        .filter(|r| r["side"] == "BUY")
        .all(|r| r["realized_pnl"].is_empty()));
    for r in &rows {
        assert!(r["time_new_york"].ends_with("-05:00"), "{r:?}");
        let q: f64 = r["quantity"].parse().unwrap();
        assert_eq!(r["commission"], format!("{:.2}", q * 0.01), "{r:?}");
    }
}

#[test]
fn a_first_format_trades_csv_is_kept_and_rewritten() {
    let (dir, config) = common::paper_config("");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let old = "session,time,symbol,side,quantity,reference_price,fill_price,slippage_pct,notional,reason,mode,order_id\n\
               2025-12-01,2025-12-01T20:55:00Z,QQQ,BUY,5,600,600.6,0.1000,3003.00,first run,paper,7\n";
    std::fs::write(logs.join("trades.csv"), old).unwrap();
    let (code, out, err) = common::run(common::jutsu().args([
        "-c",
        config.to_str().unwrap(),
        "trade",
        "--as-of",
        "2025-12-12",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(logs.join("trades.csv.v1")).unwrap(),
        old
    );
    let rows = common::read_csv(&logs.join("trades.csv"));
    assert_eq!(rows[0]["order_id"], "7");
    assert_eq!(rows[0]["time_new_york"], "2025-12-01T15:55:00-05:00");
    assert_eq!(rows[0]["commission"], "");
    assert!(rows.len() > 1, "the new run's rows follow");
}
