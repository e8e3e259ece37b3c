//! Alerts that arrive: a real SMTP conversation with a server on 127.0.0.1, a webhook and a
//! dead-man's-switch ping against a local HTTP server, and failures that are recorded
//! without changing the run's outcome.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::common::{jutsu, run};
use mockito::{Matcher, Server};

/// What the SMTP server received.
#[derive(Debug, Default, Clone)]
struct Received {
    from: String,
    to: Vec<String>,
    data: String,
}

/// A minimal SMTP server (EHLO, MAIL, RCPT, DATA, QUIT) on 127.0.0.1 for `sessions`
/// connections; it stops by itself.
fn smtp_server(sessions: usize) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mail = Arc::new(Mutex::new(Vec::new()));
    let store = mail.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(sessions) {
            let Ok(stream) = stream else { continue };
            let mut out = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            let mut current = Received::default();
            let _ = write!(out, "220 127.0.0.1 ESMTP test\r\n");
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let upper = line.to_ascii_uppercase();
                if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                    let _ = write!(out, "250-127.0.0.1\r\n250 8BITMIME\r\n");
                } else if upper.starts_with("MAIL FROM:") {
                    current.from = line[10..].trim().to_string();
                    let _ = write!(out, "250 OK\r\n");
                } else if upper.starts_with("RCPT TO:") {
                    current.to.push(line[8..].trim().to_string());
                    let _ = write!(out, "250 OK\r\n");
                } else if upper.starts_with("DATA") {
                    let _ = write!(out, "354 go ahead\r\n");
                    let mut data = String::new();
                    loop {
                        let mut l = String::new();
                        if reader.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                            break;
                        }
                        data.push_str(&l);
                    }
                    current.data = data;
                    store.lock().unwrap().push(current.clone());
                    let _ = write!(out, "250 queued\r\n");
                } else if upper.starts_with("QUIT") {
                    let _ = write!(out, "221 bye\r\n");
                    break;
                } else {
                    let _ = write!(out, "250 OK\r\n");
                }
            }
        }
    });
    (port, mail)
}

fn env_with(alerts: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    common::paper_config(&format!("alerts:\n{alerts}"))
}

fn decode(data: &str) -> String {
    // Bodies are quoted-printable: undo soft line breaks and the common escapes.
    data.replace("=\r\n", "")
        .replace("=3D", "=")
        .replace("=20", " ")
}

#[test]
fn trade_summary_email_arrives_with_subject_recipients_verdict_and_numbers() {
    let (port, mail) = smtp_server(1);
    let (dir, config) = env_with(&format!(
        "  email:\n    enabled: true\n    smtp_host: 127.0.0.1\n    smtp_port: {port}\n    security: plain\n\
         \x20   from: jutsu@example.com\n    to: [me@example.com, desk@example.com]\n"
    ));
    let (code, stdout, stderr) = run(jutsu().args([
        "-c",
        config.to_str().unwrap(),
        "trade",
        "--as-of",
        "2025-12-12",
    ]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!stdout.contains("not delivered"), "{stdout}");
    let mail = mail.lock().unwrap();
    assert_eq!(mail.len(), 1);
    let m = &mail[0];
    assert_eq!(m.from, "<jutsu@example.com>");
    assert_eq!(m.to, ["<me@example.com>", "<desk@example.com>"]);
    let data = decode(&m.data);
    assert!(
        data.contains("Subject: [jutsu] OK paper 2025-12-12"),
        "{data}"
    );
    assert!(
        data.contains("OK: rebalanced (first run), 2 order(s) filled"),
        "{data}"
    );
    assert!(data.contains("cell 3 (Sideways, vol Low)"), "{data}");
    assert!(data.contains("BUY 37 TQQQ at ~52.82"), "{data}");
    assert!(data.contains("slippage 0.100%"), "{data}");
    assert!(data.contains("(exit code 0)"), "{data}");
    let _ = dir;
}

#[test]
fn a_failed_run_sends_a_critical_email_naming_the_stage() {
    let (port, mail) = smtp_server(1);
    let (dir, config) = env_with(&format!(
        "  email:\n    enabled: true\n    smtp_host: 127.0.0.1\n    smtp_port: {port}\n    security: plain\n\
         \x20   from: jutsu@example.com\n    to: [me@example.com]\n"
    ));
    std::fs::write(
        &config,
        std::fs::read_to_string(&config).unwrap() + "risk:\n  max_position_pct: 50\n",
    )
    .unwrap();
    let (code, stdout, _) = run(jutsu().args([
        "-c",
        config.to_str().unwrap(),
        "trade",
        "--as-of",
        "2025-12-12",
    ]));
    assert_eq!(code, 3, "{stdout}");
    let data = decode(&mail.lock().unwrap()[0].data);
    assert!(
        data.contains("Subject: [jutsu CRITICAL] FAILED paper 2025-12-12 at plan"),
        "{data}"
    );
    assert!(data.contains("the risk gate refused the plan"), "{data}");
    assert!(data.contains("(exit code 3)"), "{data}");
    let _ = dir;
}

#[test]
fn an_unreachable_mail_server_is_recorded_and_keeps_the_exit_code() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (dir, config) = env_with(&format!(
        "  email:\n    enabled: true\n    smtp_host: 127.0.0.1\n    smtp_port: {port}\n    security: plain\n\
         \x20   from: jutsu@example.com\n    to: [me@example.com]\n"
    ));
    let (code, stdout, _) = run(jutsu().args([
        "-c",
        config.to_str().unwrap(),
        "trade",
        "--as-of",
        "2025-12-12",
    ]));
    assert_eq!(code, 0, "the trade itself succeeded: {stdout}");
    assert!(stdout.contains("OK: rebalanced"), "{stdout}");
    assert!(
        stdout.contains("warning: the email alert was not delivered"),
        "{stdout}"
    );
    assert!(stdout.contains("(after 3 attempts)"), "{stdout}");
    let ledger =
        jutsu::domain::journal::Ledger::load(&dir.path().join("state/paper/runs/2025-12-12.json"))
            .unwrap()
            .unwrap();
    assert_eq!(ledger.alert_failures.len(), 1);
    assert_eq!(ledger.alert_failures[0].channel, "email");
    let (code, stdout, _) = run(jutsu().env("JUTSU_NOW", "2025-12-12T22:00:00Z").args([
        "-c",
        config.to_str().unwrap(),
        "health",
    ]));
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(
            "[fail] alerts    the alerts of the 2025-12-12 run were not delivered: email"
        ),
        "{stdout}"
    );
}

#[test]
fn webhook_and_dead_man_ping_arrive_and_a_failing_webhook_is_recorded() {
    let mut server = Server::new();
    let hook = server
        .mock("POST", "/hook")
        .match_header("content-type", "application/json")
        .match_body(Matcher::PartialJson(
            serde_json::json!({"level": "info", "kind": "trade", "subject": "OK paper 2025-12-12"}),
        ))
        .expect(1)
        .create();
    let ping = server.mock("GET", "/ping").expect(1).create();
    let url = server.url();
    let (dir, config) = env_with(&format!(
        "  webhook_url: {url}/hook\n  deadman_url: {url}/ping\n"
    ));
    let (code, stdout, _) = run(jutsu().args([
        "-c",
        config.to_str().unwrap(),
        "trade",
        "--as-of",
        "2025-12-12",
    ]));
    assert_eq!(code, 0, "{stdout}");
    hook.assert();
    ping.assert();
    drop(dir);

    let broken = server
        .mock("POST", "/broken")
        .with_status(500)
        .expect(3)
        .create();
    let (dir, config) = env_with(&format!("  webhook_url: {url}/broken\n"));
    let (code, stdout, _) = run(jutsu().args([
        "-c",
        config.to_str().unwrap(),
        "trade",
        "--as-of",
        "2025-12-12",
    ]));
    assert_eq!(code, 0, "{stdout}");
    broken.assert();
    assert!(
        stdout
            .contains("warning: the webhook alert was not delivered: HTTP 500 (after 3 attempts)"),
        "{stdout}"
    );
    let ledger =
        jutsu::domain::journal::Ledger::load(&dir.path().join("state/paper/runs/2025-12-12.json"))
            .unwrap()
            .unwrap();
    assert_eq!(ledger.alert_failures[0].channel, "webhook");
}

#[test]
fn a_failing_dead_man_endpoint_does_not_fail_the_run() {
    let mut server = Server::new();
    let ping = server
        .mock("GET", "/ping")
        .with_status(503)
        .expect(3)
        .create();
    let (dir, config) = env_with(&format!("  deadman_url: {}/ping\n", server.url()));
    let (code, stdout, _) = run(jutsu().args([
        "-c",
        config.to_str().unwrap(),
        "trade",
        "--as-of",
        "2025-12-12",
    ]));
    assert_eq!(code, 0, "{stdout}");
    ping.assert();
    assert!(
        stdout.contains("warning: the deadman alert was not delivered: HTTP 503"),
        "{stdout}"
    );
    let _ = dir;
}

#[test]
fn emergency_exit_sends_a_critical_alert() {
    let mut server = Server::new();
    let hook = server
        .mock("POST", "/hook")
        .match_body(Matcher::PartialJson(serde_json::json!({"level": "critical", "kind": "emergency-exit", "subject": "EMERGENCY EXIT paper: flat"})))
        .expect(1)
        .create();
    let (dir, config) = env_with("");
    let cfg = config.to_str().unwrap();
    assert_eq!(
        run(jutsu().args(["-c", cfg, "trade", "--as-of", "2025-12-12"])).0,
        0
    );
    std::fs::write(
        &config,
        std::fs::read_to_string(&config).unwrap()
            + &format!("  webhook_url: {}/hook\n", server.url()),
    )
    .unwrap();
    let (code, stdout, _) = run(jutsu().env("JUTSU_NOW", "2025-12-12T21:00:00Z").args([
        "-c",
        cfg,
        "emergency-exit",
        "--confirm",
    ]));
    assert_eq!(code, 0, "{stdout}");
    hook.assert();
    let _ = dir;
}

/// Runs `trade` at each of `runs` with `alerts.notify: notify` and checks the webhook got
/// exactly `expected` alerts.
fn assert_hooks(server: &mut Server, notify: Option<&str>, runs: &[&str], expected: usize) {
    let path = format!("/hook-{}", notify.unwrap_or("default"));
    let hook = server.mock("POST", path.as_str()).expect(expected).create();
    let level = notify.map_or(String::new(), |n| format!("  notify: {n}\n"));
    let (dir, config) = env_with(&format!("  webhook_url: {}{path}\n{level}", server.url()));
    for as_of in runs {
        let (code, stdout, _) =
            run(jutsu().args(["-c", config.to_str().unwrap(), "trade", "--as-of", as_of]));
        assert_eq!(code, 0, "{stdout}");
    }
    hook.assert();
    drop(dir);
}

#[test]
fn notify_levels_keep_the_quiet_no_ops_out_of_the_inbox() {
    let mut server = Server::new();
    // A start three hours early is a no-op; the real run trades (a first run); the same
    // session again is a no-op ("already done").
    let day = ["2025-12-12T12:50", "2025-12-12T15:55", "2025-12-12T16:10"];
    assert_hooks(&mut server, None, &day, 1);
    assert_hooks(&mut server, Some("all"), &day, 3);
    assert_hooks(&mut server, Some("problems"), &day, 0);
}
