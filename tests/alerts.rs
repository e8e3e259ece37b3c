//! Alerts that arrive: a real SMTP conversation with a server on 127.0.0.1, a webhook and a
//! dead-man's-switch ping against a local HTTP server, and failures that are recorded
//! without changing the run's outcome.

use crate::common;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{jutsu, run};
use mockito::{Matcher, Server};

/// A real SMTP server on 127.0.0.1: Python's aiosmtpd (from PyPI; `.ci/run` installs it),
/// keeping every message it accepts in a maildir. Stopped when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpServer {
    /// The server, or None when python3 with aiosmtpd is not here (the test is skipped, see
    /// `common::have`).
    fn start() -> Option<Self> {
        if !common::have(&common::AIOSMTPD, "the email test") {
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let maildir = tempfile::tempdir().unwrap();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 starts");
        let server = SmtpServer {
            child,
            port,
            maildir,
        };
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("aiosmtpd did not start on port {port} within 10 s");
    }

    /// The messages received, each parsed by Python's `email` package: its headers (the
    /// envelope in `X-MailFrom` / `X-RcptTo`, added by the server) and its decoded text.
    fn messages(&self) -> Vec<Mail> {
        let dir = self.maildir.path().join("mail/new");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.sort();
        files.iter().map(|f| Mail::parse(f)).collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message as a mail reader sees it.
#[derive(Debug)]
struct Mail {
    headers: Vec<(String, String)>,
    text: String,
}

impl Mail {
    fn parse(file: &std::path::Path) -> Self {
        let script = "import email, email.policy, json, sys\n\
            m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)\n\
            print(json.dumps({'headers': [[k, str(v)] for k, v in m.items()], 'text': m.get_content()}))";
        let out = Command::new("python3")
            .args(["-c", script])
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        Mail {
            headers: v["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into()))
                .collect(),
            text: v["text"].as_str().unwrap().replace("\r\n", "\n"),
        }
    }

    fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn one(&self, name: &str) -> &str {
        let values = self.header(name);
        assert_eq!(values.len(), 1, "{name} in {:#?}", self.headers);
        values[0]
    }
}

fn env_with(alerts: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    common::paper_config(&format!("alerts:\n{alerts}"))
}

fn email_config(port: u16, to: &str) -> String {
    format!(
        "  email:\n    enabled: true\n    smtp_host: 127.0.0.1\n    smtp_port: {port}\n    security: plain\n\
         \x20   from: jutsu@example.com\n    to: {to}\n"
    )
}

/// No non-empty line of `text` appears twice.
fn assert_no_line_twice(text: &str) {
    let mut seen = std::collections::HashSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        assert!(seen.insert(line), "printed twice: {line:?}\n{text}");
    }
}

#[test]
fn trade_summary_email_arrives_with_headers_subject_summary_then_checklist() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let (dir, config) = env_with(&email_config(
        smtp.port,
        "[me@example.com, desk@example.com]",
    ));
    let (code, stdout, stderr) = common::trade_at(&config, "2025-12-12");
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!stdout.contains("not delivered"), "{stdout}");
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1);
    let m = &mail[0];
    assert_eq!(m.one("X-MailFrom"), "jutsu@example.com");
    assert_eq!(m.one("X-RcptTo"), "me@example.com, desk@example.com");
    assert_eq!(m.one("MIME-Version"), "1.0");
    let id = m.one("Message-ID");
    assert!(
        id.starts_with("<jutsu.trade.2025-12-12.") && id.ends_with("@example.com>"),
        "{id}"
    );
    // An RFC 5322 date that Python's parser reads.
    assert!(m.one("Date").contains(" +0000"), "{}", m.one("Date"));
    assert!(
        m.one("Content-Type").starts_with("text/plain"),
        "{:?}",
        m.headers
    );
    assert_eq!(
        m.one("Subject"),
        "[jutsu] paper 2025-12-12 trade OK: 2 order(s), 2 filled"
    );
    let text = &m.text;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "Outcome: OK: 2 order(s), 2 filled (exit 0)",
        "{text}"
    );
    for expected in [
        "  BUY 37 TQQQ filled at 52.87 (slippage 0.100%)",
        "  BUY 12 QQQ filled at 614.23 (slippage 0.100%)",
        "Allocation after the run (held / target):",
        "  QQQ    73.7% /  80.0%  (12 shares, 7363.44)",
        "  TQQQ   19.6% /  20.0%  (37 shares, 1954.34)",
        "  cash    6.7% /   0.0%  (672.41)",
        "Equity 9990.19 (no earlier run to compare)",
        "What to do: nothing.",
    ] {
        assert!(lines.contains(&expected), "{expected:?} missing:\n{text}");
    }
    // The summary first, then the checklist, which ends with the verdict.
    let checklist = text.find("\nChecklist\n").expect("a checklist");
    assert!(text.find("What to do").unwrap() < checklist);
    assert!(
        text[checklist..].contains("cell 3 (Sideways, vol Low)"),
        "{text}"
    );
    assert!(
        text.trim_end()
            .ends_with("Next run 2025-12-15 at 15:55 ET."),
        "{text}"
    );
    assert_no_line_twice(text);
    let _ = dir;
}

#[test]
fn a_failed_run_sends_a_critical_email_naming_the_stage_and_what_to_do() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let (dir, config) = env_with(&email_config(smtp.port, "[me@example.com]"));
    std::fs::write(
        &config,
        std::fs::read_to_string(&config).unwrap() + "risk:\n  max_position_pct: 50\n",
    )
    .unwrap();
    let (code, stdout, _) = common::trade_at(&config, "2025-12-12");
    assert_eq!(code, 3, "{stdout}");
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1);
    let m = &mail[0];
    assert_eq!(
        m.one("Subject"),
        "[jutsu CRITICAL] paper 2025-12-12 trade FAILED at plan"
    );
    assert!(
        m.text.starts_with("Outcome: FAILED at plan (exit 3)\n"),
        "{}",
        m.text
    );
    assert!(
        m.text.contains("What to do: read the failed stage below"),
        "{}",
        m.text
    );
    assert!(
        m.text.contains("the risk gate refused the plan"),
        "{}",
        m.text
    );
    assert_no_line_twice(&m.text);
    let _ = dir;
}

#[test]
fn a_no_op_before_the_session_names_the_date_not_a_dash() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let (dir, config) =
        env_with(&(email_config(smtp.port, "[me@example.com]") + "  notify: all\n"));
    let (code, stdout, _) = common::trade_at(&config, "2025-12-13T15:55");
    assert_eq!(code, 0, "{stdout}");
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "{stdout}");
    assert_eq!(
        mail[0].one("Subject"),
        "[jutsu] paper 2025-12-13 trade NO-OP"
    );
    assert_no_line_twice(&mail[0].text);
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
    let (code, stdout, _) = common::trade_at(&config, "2025-12-12");
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

/// A trade run on the embedded default with `alerts` added; its exit code and stdout.
fn trade_with(alerts: &str, as_of: &str) -> (tempfile::TempDir, i32, String) {
    let (dir, config) = env_with(alerts);
    let (code, stdout, _) = common::trade_at(&config, as_of);
    (dir, code, stdout)
}

#[test]
fn the_json_webhook_and_the_dead_man_pings_follow_the_run() {
    let mut server = Server::new();
    let agent = Matcher::Regex("^jutsu/[0-9.]+$".into());
    let hook = server
        .mock("POST", "/hook")
        .match_header("content-type", "application/json")
        .match_header("user-agent", agent.clone())
        .match_body(Matcher::PartialJson(serde_json::json!({
            "level": "info", "kind": "trade", "mode": "paper", "date": "2025-12-12",
            "subject": "[jutsu] paper 2025-12-12 trade OK: 2 order(s), 2 filled",
        })))
        .expect(1)
        .create();
    // The healthchecks convention: /start, then the plain URL with the checklist as the body.
    let start = server
        .mock("GET", "/ping/start")
        .match_header("user-agent", agent.clone())
        .expect(1)
        .create();
    let done = server
        .mock("POST", "/ping")
        .match_body(Matcher::Regex("OK: rebalanced \\(first run\\)".into()))
        .expect(1)
        .create();
    let fail = server.mock("POST", "/ping/fail").expect(0).create();
    let url = server.url();
    let (_dir, code, stdout) = trade_with(
        &format!("  webhook_url: {url}/hook\n  deadman_url: {url}/ping\n"),
        "2025-12-12",
    );
    assert_eq!(code, 0, "{stdout}");
    for mock in [hook, start, done, fail] {
        mock.assert();
    }
}

#[test]
fn a_failed_run_pings_fail_and_a_failing_webhook_is_recorded() {
    let mut server = Server::new();
    let start = server.mock("GET", "/ping/start").expect(1).create();
    let fail = server
        .mock("POST", "/ping/fail")
        .match_body(Matcher::Regex(
            "FAILED.* at plan: the risk gate refused".into(),
        ))
        .expect(1)
        .create();
    let done = server.mock("POST", "/ping").expect(0).create();
    let broken = server
        .mock("POST", "/broken")
        .with_status(500)
        .expect(3)
        .create();
    let url = server.url();
    let (dir, code, stdout) = trade_with(
        &format!("  webhook_url: {url}/broken\n  deadman_url: {url}/ping\nrisk:\n  max_position_pct: 50\n"),
        "2025-12-12",
    );
    assert_eq!(code, 3, "the run's own exit code: {stdout}");
    for mock in [start, fail, done, broken] {
        mock.assert();
    }
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
fn chat_formats_put_the_alert_where_each_tool_reads_it() {
    let mut server = Server::new();
    let url = server.url();
    let subject = "[jutsu] paper 2025-12-12 trade OK: 2 order(s), 2 filled";
    let slack = server
        .mock("POST", "/slack")
        .match_header("content-type", "application/json")
        .match_body(Matcher::Regex(format!(
            r#"^\{{"text":"\*{}\*\\nOutcome: OK"#,
            regex_escape(subject)
        )))
        .expect(1)
        .create();
    let discord = server
        .mock("POST", "/discord")
        .match_body(Matcher::AllOf(vec![
            Matcher::PartialJson(serde_json::json!({"username": "jutsu"})),
            Matcher::Regex(r#""content":"\*\*\[jutsu\] paper 2025-12-12"#.into()),
        ]))
        .expect(1)
        .create();
    let ntfy = server
        .mock("POST", "/ntfy-topic")
        .match_header("content-type", "text/plain; charset=utf-8")
        .match_header("title", subject)
        .match_header("priority", "default")
        .match_body(Matcher::Regex(
            "^Outcome: OK: 2 order\\(s\\), 2 filled \\(exit 0\\)\n".into(),
        ))
        .expect(1)
        .create();
    let telegram = server
        .mock("POST", "/botTOKEN1234/sendMessage")
        .match_body(Matcher::AllOf(vec![
            Matcher::PartialJson(serde_json::json!({"chat_id": "-100123"})),
            Matcher::Regex(r#""text":"\[jutsu\] paper 2025-12-12 trade OK"#.into()),
        ]))
        .expect(1)
        .create();
    for (format, path) in [
        ("slack", "/slack"),
        ("discord", "/discord"),
        ("ntfy", "/ntfy-topic"),
    ] {
        let (_dir, code, stdout) = trade_with(
            &format!("  webhook_url: {url}{path}\n  webhook_format: {format}\n"),
            "2025-12-12",
        );
        assert_eq!(code, 0, "{stdout}");
    }
    // Telegram's URL carries the bot token: it comes from the environment, and no output
    // shows it.
    let (dir, config) = env_with(
        "  webhook_url_env: JUTSU_TEST_WEBHOOK\n  webhook_format: telegram\n  telegram_chat_id: '-100123'\n",
    );
    let (code, stdout, stderr) = run(jutsu()
        .env(
            "JUTSU_TEST_WEBHOOK",
            format!("{url}/botTOKEN1234/sendMessage"),
        )
        .args([
            "-c",
            config.to_str().unwrap(),
            "trade",
            "--as-of",
            "2025-12-12",
        ]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    for mock in [slack, discord, ntfy, telegram] {
        mock.assert();
    }
    let logs = std::fs::read_dir(dir.path().join("logs")).unwrap();
    for file in logs {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap_or_default();
        assert!(!text.contains("TOKEN1234"), "{text}");
    }
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '[' | ']' | '(' | ')' | '*' | '.' | '+' | '?' | '{' | '}' | '|' | '^' | '$' | '\\' => {
                format!("\\{c}")
            }
            c => c.to_string(),
        })
        .collect()
}

#[test]
fn a_telegram_webhook_without_a_chat_id_is_a_configuration_error() {
    let (_dir, config) = env_with(
        "  webhook_url: https://api.telegram.org/botX/sendMessage\n  webhook_format: telegram\n",
    );
    let (code, stdout, stderr) =
        run(jutsu().args(["-c", config.to_str().unwrap(), "config", "check"]));
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("alerts.telegram_chat_id is required with alerts.webhook_format telegram"),
        "{stderr}"
    );
}

#[test]
fn a_failing_dead_man_endpoint_does_not_fail_the_run() {
    let mut server = Server::new();
    let start = server.mock("GET", "/ping/start").expect(1).create();
    let ping = server
        .mock("POST", "/ping")
        .with_status(503)
        .expect(3)
        .create();
    let (_dir, code, stdout) = trade_with(
        &format!("  deadman_url: {}/ping\n", server.url()),
        "2025-12-12",
    );
    assert_eq!(code, 0, "{stdout}");
    start.assert();
    ping.assert();
    assert!(
        stdout.contains("warning: the deadman alert was not delivered: HTTP 503"),
        "{stdout}"
    );
}

#[test]
fn emergency_exit_sends_a_critical_alert() {
    let mut server = Server::new();
    let hook = server
        .mock("POST", "/hook")
        .match_body(Matcher::PartialJson(serde_json::json!({"level": "critical", "kind": "emergency-exit", "subject": "[jutsu CRITICAL] paper 2025-12-12 emergency-exit EMERGENCY EXIT: flat"})))
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

#[test]
fn the_alert_states_each_fill_and_each_holding_once_with_prices_to_the_cent() {
    let mut server = Server::new();
    let bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let kept = bodies.clone();
    let hook = server
        .mock("POST", "/ntfy-topic")
        .with_body_from_request(move |request| {
            let body = String::from_utf8_lossy(request.body().unwrap()).into_owned();
            kept.lock().unwrap().push(body);
            Vec::new()
        })
        .expect(1)
        .create();
    let url = server.url();
    let (_dir, code, stdout) = trade_with(
        &format!("  webhook_url: {url}/ntfy-topic\n  webhook_format: ntfy\n"),
        "2025-12-12",
    );
    assert_eq!(code, 0, "{stdout}");
    hook.assert();
    let text = bodies.lock().unwrap()[0].clone();
    // The summary's Traded lines are the fills; the checklist does not repeat them.
    assert_eq!(text.matches("filled at").count(), 2, "{text}");
    assert!(
        text.contains("  BUY 37 TQQQ filled at 52.87 (slippage 0.100%)"),
        "{text}"
    );
    // The allocation is the holdings; the checklist's holdings block is left out.
    assert!(!text.contains("holdings after the run"), "{text}");
    assert_eq!(text.matches("7363.44").count(), 1, "{text}");
    assert_no_line_twice(&text);
    // stdout, the checklist a person watches, still has both.
    assert!(stdout.contains("holdings after the run:"), "{stdout}");
}
