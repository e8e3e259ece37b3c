//! Two simulated weeks on the bundled bars with their corporate actions, a deposit, the
//! TQQQ split of 2025-11-20 and an emergency exit: afterwards every command tells the same
//! story (issue #24's acceptance), to the cent.

use std::path::Path;

use crate::common;

fn jutsu_in(config: &Path, args: &[&str]) -> String {
    let (code, out, err) = common::run(common::jutsu().arg("-c").arg(config).args(args));
    assert!(code == 0 || args[0] == "health", "{args:?}: {out}{err}");
    out
}

/// The number after `label` in `text` (`cash 11221.46`).
fn figure(text: &str, label: &str) -> String {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        + label.len();
    text[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches(',')
        .to_string()
}

#[test]
fn after_two_weeks_with_a_deposit_a_split_and_an_exit_every_command_tells_one_story() {
    let (_dir, config) = common::as_traded_paper_config();
    let sessions = [
        "2025-11-10",
        "2025-11-11",
        "2025-11-12",
        "2025-11-13",
        "2025-11-14",
        "2025-11-17",
        "2025-11-18",
        "2025-11-19",
        "2025-11-20",
        "2025-11-21",
    ];
    for day in sessions {
        let out = jutsu_in(&config, &["trade", "--as-of", day]);
        if day == "2025-11-13" {
            jutsu_in(&config, &["sim", "deposit", "2000"]);
        }
        if day == "2025-11-20" {
            assert!(out.contains("TQQQ split 2:1"), "{out}");
        }
    }
    let exit = jutsu_in(&config, &["emergency-exit", "--confirm"]);
    assert!(exit.contains("FLAT"), "{exit}");
    let exited = figure(
        exit.lines().find(|l| l.starts_with("cash ")).unwrap(),
        "cash ",
    );

    let status: serde_json::Value =
        serde_json::from_str(&jutsu_in(&config, &["status", "--json"])).unwrap();
    let cents = |v: &serde_json::Value| {
        let d: rust_decimal::Decimal = v.as_str().unwrap().parse().unwrap();
        jutsu::domain::portfolio::cents(d).to_string()
    };
    assert_eq!(cents(&status["cash"]), exited, "status: {status}");
    assert_eq!(cents(&status["equity"]), exited);
    assert!(
        status["as_of"].as_str().unwrap().starts_with("2025-11-21"),
        "{status}"
    );
    assert!(
        status["halted"]
            .as_str()
            .unwrap()
            .contains("emergency exit"),
        "{status}"
    );
    assert_eq!(
        status["last_run"]["outcome"], "EMERGENCY EXIT DONE",
        "{status}"
    );

    let hello = jutsu_in(&config, &["hello"]);
    assert_eq!(
        figure(hello.split("  account").nth(1).unwrap(), "cash "),
        exited
    );

    let health = jutsu_in(&config, &["health"]);
    assert!(
        health.contains(&format!("cash {exited}, 0 position(s)")),
        "{health}"
    );
    assert!(
        health.contains("last completed session 2025-11-21"),
        "{health}"
    );
    assert!(health.contains("no missed session"), "{health}");

    let report = jutsu_in(&config, &["report"]);
    assert!(
        report.contains(&format!("2025-11-21    {exited}")),
        "{report}"
    );
    assert!(report.contains(&format!("value {exited},")), "{report}");
    assert!(
        report.contains("deposits 2000.00 and withdrawals 0.00"),
        "{report}"
    );

    // The next session is halted until resume; then the run rebalances from the cash the
    // others named.
    let (code, out, _) = common::trade_at(&config, "2025-11-24");
    assert_eq!(code, 5, "{out}");
    jutsu_in(&config, &["resume"]);
    let out = jutsu_in(&config, &["trade", "--as-of", "2025-11-24"]);
    assert!(
        out.contains(&format!("with {exited} cash")) || out.contains(&format!("cash {exited}")),
        "{out}"
    );
}
