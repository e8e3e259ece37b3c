//! A lost simulated account comes back as it was (issue #24 item 6): after the first run it
//! has a backup, and with neither file nor backup it is rebuilt from the paper ledgers'
//! fills, flows and splits and the transfers of audit.csv, never as a fresh account.

use crate::common;

use std::path::{Path, PathBuf};

fn account_file(dir: &Path) -> PathBuf {
    dir.join("state/sim/account.json")
}

/// Cash and positions as `status --json` shows them.
fn holdings(config: &Path) -> (String, serde_json::Value) {
    let (code, out, err) = common::run(
        common::jutsu()
            .arg("-c")
            .arg(config)
            .args(["status", "--json"]),
    );
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    (v["cash"].to_string(), v["positions"].clone())
}

fn trade(config: &Path, as_of: &str) {
    let (code, out, err) = common::trade_at(config, as_of);
    assert_eq!(code, 0, "{as_of}: {out}{err}");
}

fn deposit(config: &Path, amount: &str) {
    let (code, out, err) = common::run(
        common::jutsu()
            .arg("-c")
            .arg(config)
            .args(["sim", "deposit", amount]),
    );
    assert_eq!(code, 0, "{out}{err}");
}

/// Removes the account file and every backup of it.
fn lose_account(dir: &Path) {
    for entry in std::fs::read_dir(dir.join("state/sim")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("account.json") {
            std::fs::remove_file(path).unwrap();
        }
    }
}

const SESSIONS: [&str; 6] = [
    "2025-11-14",
    "2025-11-17",
    "2025-11-18",
    "2025-11-19",
    "2025-11-20",
    "2025-11-21",
];

#[test]
fn the_simulated_account_has_a_backup_after_its_first_run() {
    let (dir, config) = common::as_traded_paper_config();
    trade(&config, "2025-11-14T15:55");
    let backup = PathBuf::from(format!("{}.1", account_file(dir.path()).display()));
    assert!(backup.exists(), "no backup after the first run");
    let before = holdings(&config);
    std::fs::rename(account_file(dir.path()), dir.path().join("aside.json")).unwrap();
    assert_eq!(
        holdings(&config),
        before,
        "the backup holds the account as it was"
    );
}

#[test]
fn a_lost_simulated_account_is_rebuilt_from_the_ledgers_not_started_afresh() {
    let (twin_dir, twin) = common::as_traded_paper_config();
    let (dir, config) = common::as_traded_paper_config();
    for (i, day) in SESSIONS.iter().enumerate() {
        for c in [&twin, &config] {
            trade(c, &format!("{day}T15:55"));
            if i == 1 || i == SESSIONS.len() - 1 {
                deposit(c, "1500");
            }
        }
    }
    let kept = holdings(&twin);
    assert_ne!(kept.1, serde_json::json!([]), "the account holds positions");

    // Account and backups gone: the next command shows what the records say.
    lose_account(dir.path());
    let (code, out, err) = common::run(
        common::jutsu()
            .arg("-c")
            .arg(&config)
            .args(["status", "--json"]),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("rebuilt from 6 paper ledger(s)")
            && err.contains("1 transfer(s) of audit.csv"),
        "{err}"
    );
    assert_eq!(
        holdings(&config),
        kept,
        "rebuilt: the same cash and positions"
    );
    assert!(!account_file(dir.path()).exists(), "status wrote nothing");

    // The next run trades on the rebuilt account and lists the deposit no run had seen.
    for c in [&twin, &config] {
        let (code, out, err) = common::trade_at(c, "2025-11-24T15:55");
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("deposit"), "{out}");
        assert!(!out.contains("drift"), "{out}");
    }
    assert_eq!(holdings(&config), holdings(&twin));
    drop(twin_dir);
}
