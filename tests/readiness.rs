//! `jutsu readiness` through the binary, on records a dry run and a paper account made on
//! the bundled bars, each criterion made to fail once; and the live gate against the fake
//! Schwab: refused without passing paper records, allowed with them or with a waiver.

use std::path::{Path, PathBuf};

use jutsu::domain::journal::Ledger;
use serde_json::Value;

use crate::common;
use crate::common::fake_schwab::FakeSchwab;

/// The sessions from `from` to `to`.
fn sessions(from: &str, to: &str) -> Vec<String> {
    jutsu::domain::calendar::sessions(from.parse().unwrap(), to.parse().unwrap())
        .map(|d| d.to_string())
        .collect()
}

/// A trade and a validation of each session, in `mode`, with `config`.
fn trade_and_validate(config: &Path, mode: &str, days: &[String]) {
    for day in days {
        let (code, out, err) = common::run(
            common::jutsu()
                .arg("-c")
                .arg(config)
                .args(["trade", "--mode", mode, "--as-of", day]),
        );
        assert_eq!(code, 0, "{day}: {out}{err}");
        let (code, out, err) = common::run(
            common::jutsu()
                .arg("-c")
                .arg(config)
                .args(["validate", "--mode", mode, "--date", day]),
        );
        assert_eq!(code, 0, "{day}: {out}{err}");
    }
}

/// `readiness --mode MODE` (text) and `--json`, with exit codes.
fn readiness(config: &Path, mode: &str) -> (i32, String, Value) {
    let (code, text, err) =
        common::run(
            common::jutsu()
                .arg("-c")
                .arg(config)
                .args(["readiness", "--mode", mode]),
        );
    let (jcode, json, _) = common::run(common::jutsu().arg("-c").arg(config).args([
        "readiness",
        "--mode",
        mode,
        "--json",
    ]));
    assert_eq!(code, jcode, "{text}{err}");
    let json: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    (code, text, json)
}

/// The criterion named `name` in the JSON verdict.
fn criterion<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no criterion {name}: {json}"))
}

/// Asserts that exactly `name` fails, in the text and the JSON, and the exit code is 1.
fn only_fails(config: &Path, mode: &str, name: &str) {
    let (code, text, json) = readiness(config, mode);
    assert_eq!(code, 1, "{name}: {text}");
    assert_eq!(json["passed"], false, "{json}");
    let failing: Vec<&str> = json["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["pass"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failing, vec![name], "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains(name)),
        "{text}"
    );
}

/// A copy of the folder `from` (the config, its state and logs) in a new temporary folder.
fn copy_of(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for (rel, bytes) in common::snapshot(from) {
        let path = to.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    to
}

/// Changes a ledger and seals it again (as jutsu would have written it).
fn reseal(path: &Path, change: impl FnOnce(&mut Ledger)) {
    let mut ledger = Ledger::load(path).unwrap().unwrap();
    change(&mut ledger);
    jutsu::storage::fsutil::write_sealed(path, &ledger).unwrap();
}

/// Rewrites validation.csv's rows of `mode` through `change` (a row as text fields).
fn edit_validation(dir: &Path, change: impl Fn(usize, &mut Vec<String>)) {
    let path = dir.join("logs/validation.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    for (i, line) in lines.enumerate() {
        let mut fields: Vec<String> = line.split(',').map(String::from).collect();
        change(i, &mut fields);
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

fn paper_days() -> Vec<String> {
    sessions("2025-11-03", "2025-12-01")
}

#[test]
fn a_paper_phase_passes_and_each_criterion_fails_once() {
    let (dir, config) = common::paper_config("");
    let days = paper_days();
    assert_eq!(days.len(), 20);
    trade_and_validate(&config, "paper", &days);
    let (code, text, json) = readiness(&config, "paper");
    assert_eq!(code, 0, "{text}");
    assert_eq!(json["passed"], true);
    assert_eq!(json["criteria"].as_array().unwrap().len(), 8, "{json}");
    assert!(
        text.contains("paper readiness over 2025-11-03 .. 2025-12-01"),
        "{text}"
    );
    assert!(text.contains("paper: every criterion passes"), "{text}");
    let fills = criterion(&json, "fill rate (filled / ordered shares)");
    assert_eq!(fills["pass"], true);
    assert!(fills["value"].as_str().unwrap().starts_with("100.000%"));

    let runs =
        |d: &tempfile::TempDir, day: &str| d.path().join(format!("state/paper/runs/{day}.json"));
    let cfg = |d: &tempfile::TempDir| d.path().join("jutsu.yaml");
    let fails = |name: &str, make: &dyn Fn(&tempfile::TempDir)| {
        let copy = copy_of(dir.path());
        make(&copy);
        only_fails(&cfg(&copy), "paper", name);
    };
    fails("consecutive sessions without a critical failure", &|d| {
        std::fs::remove_file(runs(d, "2025-11-20")).unwrap();
    });
    fails("fill rate (filled / ordered shares)", &|d| {
        // 101 TQQQ ordered on the first day, 90 filled: 167 of 178 shares.
        reseal(&runs(d, "2025-11-03"), |l| {
            l.orders[0].filled = 90.into();
        });
    });
    fails("mean adverse slippage", &|d| {
        for day in ["2025-11-03", "2025-11-07"] {
            reseal(&runs(d, day), |l| {
                for o in &mut l.orders {
                    o.slippage_pct = Some("0.4".parse().unwrap());
                }
            });
        }
    });
    fails("worst adverse slippage", &|d| {
        reseal(&runs(d, "2025-11-07"), |l| {
            l.orders[0].slippage_pct = Some("0.6".parse().unwrap());
        });
    });
    fails("mean logic match", &|d| {
        edit_validation(d.path(), |_, f| f[3] = "97".into());
    });
    fails("position drift (state vs broker), every session", &|d| {
        reseal(&runs(d, "2025-11-12"), |l| {
            let stage = l.stages.iter_mut().find(|s| s.name == "reconcile").unwrap();
            stage.summary = "1 difference(s), 2.50% of equity".into();
        });
    });
    fails("paper return against the backtest", &|d| {
        reseal(&runs(d, "2025-12-01"), |l| {
            l.equity_after = l
                .equity_after
                .map(|v| v * rust_decimal::Decimal::new(11, 1));
        });
    });
    fails("manual interventions", &|d| {
        std::fs::write(
            d.path().join("state/audit.csv"),
            "time,action,file,detail\n2025-11-25T22:00:00Z,adopt,state/paper/state.json,\
             bought by hand\n",
        )
        .unwrap();
    });
}

#[test]
fn a_dry_run_phase_passes_and_each_criterion_fails_once() {
    let (dir, config) = common::paper_config("");
    let days = sessions("2025-11-17", "2025-12-01");
    assert_eq!(days.len(), 10);
    trade_and_validate(&config, "dry_run", &days);
    let (code, text, json) = readiness(&config, "dry_run");
    assert_eq!(code, 0, "{text}");
    assert_eq!(json["mode"], "dry_run");
    assert_eq!(json["criteria"].as_array().unwrap().len(), 6, "{json}");
    // The paper phase has no records: it fails.
    assert_eq!(readiness(&config, "paper").0, 1);

    let runs =
        |d: &tempfile::TempDir, day: &str| d.path().join(format!("state/dry_run/runs/{day}.json"));
    let fails = |name: &str, make: &dyn Fn(&tempfile::TempDir)| {
        let copy = copy_of(dir.path());
        make(&copy);
        only_fails(&copy.path().join("jutsu.yaml"), "dry_run", name);
    };
    fails("consecutive completed runs", &|d| {
        reseal(&runs(d, "2025-11-24"), |l| {
            l.status = jutsu::domain::journal::RunStatus::Failed;
        });
    });
    fails("mean logic match", &|d| {
        edit_validation(d.path(), |_, f| f[3] = "94".into());
    });
    fails("mean price drift (15:55 vs close)", &|d| {
        edit_validation(d.path(), |_, f| {
            f[4] = "0.5".into();
            f[5] = "QQQ:0.5;TQQQ:0.5;PSQ:0.5;TLT:0.1;TMF:0.1;TMV:0.1".into();
        });
    });
    fails("worst price drift", &|d| {
        edit_validation(d.path(), |i, f| {
            if i == 4 {
                f[4] = "0.9".into();
            }
        });
    });
    fails("state and ledger files intact", &|d| {
        let path = runs(d, "2025-11-19");
        let text = std::fs::read_to_string(&path).unwrap();
        // Edited by hand: the content changes, the checksum stays.
        let mut v: Value = serde_json::from_str(&text).unwrap();
        v["message"] = "edited by hand".into();
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    });
    fails("sessions validated GREEN", &|d| {
        edit_validation(d.path(), |i, f| {
            if i < 3 {
                f[2] = "YELLOW".into();
            }
        });
    });
}

const SESSION: &str = "2025-06-10";
const NOW: &str = "2025-06-10T19:55:00Z"; // 15:55 ET

/// A live account on the fake Schwab in `dir`, on the repository's bars for the paper
/// phase, with the default waiver taken out (and `sections` in its place).
fn gated(dir: &Path, url: &str, sections: &str) -> PathBuf {
    let config = common::live_config(dir, url, "", "", "");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(common::LIVE_WAIVER, sections).replace(
        "data:\n  source: schwab\n",
        &format!(
            "data:\n  source: schwab\n  dir: {}\n",
            common::bars_dir().display()
        ),
    );
    std::fs::write(&config, text).unwrap();
    let now_s = chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .timestamp();
    common::token_file(
        dir,
        now_s - 86_400,
        ("R-secret-gate", "A-secret-gate"),
        now_s + 1200,
    );
    config
}

fn fake() -> FakeSchwab {
    FakeSchwab::start(SESSION, NOW, 20_000.0, &[], "A-secret-gate")
}

#[test]
fn the_first_live_run_is_refused_without_paper_readiness_and_nothing_is_sent() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    let config = gated(dir.path(), &fake.url, "");
    let (code, out, err) = common::run_live(&config, NOW, &["trade"]);
    assert_eq!(code, 3, "{out}{err}");
    let said = format!("{out}{err}");
    assert!(said.contains("needs the paper phase to pass"), "{said}");
    assert!(said.contains("readiness.waive_reason"), "{said}");
    assert!(fake.orders().is_empty());
    // No live ledger: the next run is still the first, and is refused again.
    assert!(!dir
        .path()
        .join(format!("state/runs/{SESSION}.json"))
        .exists());
}

#[test]
fn a_waiver_lets_the_first_live_run_go_records_it_and_health_shows_it() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    let config = gated(
        dir.path(),
        &fake.url,
        "readiness:\n  waive_reason: small account, paper done elsewhere\n",
    );
    let (code, out, err) = common::run_live(&config, NOW, &["trade"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("live trading under a readiness waiver (small account"),
        "{out}"
    );
    assert!(!fake.orders().is_empty());
    let audit = std::fs::read_to_string(dir.path().join("state/audit.csv")).unwrap();
    assert!(audit.contains(",readiness waiver,"), "{audit}");
    assert!(
        audit.contains("small account, paper done elsewhere"),
        "{audit}"
    );
    let (_, out, err) = common::run_live(&config, "2025-06-10T21:00:00Z", &["health"]);
    assert!(
        out.contains("live trading under a readiness waiver"),
        "{out}{err}"
    );
}

#[test]
fn passing_paper_records_open_the_gate() {
    let fake = fake();
    let dir = tempfile::tempdir().unwrap();
    let config = gated(dir.path(), &fake.url, "");
    // The paper phase, in the same folders, on the local bars.
    let paper = dir.path().join("paper.yaml");
    std::fs::write(
        &paper,
        format!(
            "mode: paper\npaths:\n  state_dir: state\n  logs_dir: logs\ndata:\n  dir: {}\n",
            common::bars_dir().display()
        ),
    )
    .unwrap();
    trade_and_validate(&paper, "paper", &sessions("2025-05-09", "2025-06-09"));
    let (code, text, _) = readiness(&paper, "paper");
    assert_eq!(code, 0, "{text}");
    let (code, out, err) = common::run_live(&config, NOW, &["trade"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("readiness waiver"), "{out}");
    assert!(!fake.orders().is_empty());
}
