//! SMS for critical alerts, through Twilio's REST API, against a local HTTP server that
//! checks the path, the form and the basic auth: one message of at most 160 characters to
//! each number, an error answer recorded like the other channels' failures, nothing sent for
//! a run that is not critical.

use std::sync::{Arc, Mutex};

use crate::common::{self, jutsu, run};
use mockito::{Matcher, Server};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "tw-auth-token-4f9c2e";
const PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

/// Base64 (RFC 4648, with padding), for the expected basic-auth header.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The `alerts.sms` block for the server at `url`, sender line `sender`, and extra lines.
fn sms_config(url: &str, sender: &str, extra: &str) -> String {
    format!(
        "alerts:\n  sms:\n    enabled: true\n    api_url: {url}\n    account_sid: {SID}\n\
         \x20   auth_token_env: JUTSU_TEST_SMS_TOKEN\n    {sender}\n{extra}"
    )
}

/// `jutsu trade --as-of AS_OF` with the SMS token in the environment.
fn trade(config: &std::path::Path, as_of: &str) -> (i32, String, String) {
    run(jutsu()
        .env("JUTSU_TEST_SMS_TOKEN", TOKEN)
        .arg("-c")
        .arg(config)
        .args(["trade", "--as-of", as_of]))
}

/// The form fields of each request the mock answered, in order.
type Forms = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// A Twilio mock on `server` that answers `status` with `body`, expects `hits` requests
/// with the basic auth of the account, and keeps each request's form.
fn twilio(
    server: &mut Server,
    status: usize,
    body: &'static str,
    hits: usize,
) -> (mockito::Mock, Forms) {
    let forms: Forms = Arc::default();
    let kept = forms.clone();
    let auth = format!("Basic {}", base64(format!("{SID}:{TOKEN}").as_bytes()));
    let mock = server
        .mock("POST", PATH)
        .match_header("authorization", auth.as_str())
        .match_header("content-type", "application/x-www-form-urlencoded")
        .with_status(status)
        .with_header("content-type", "application/json")
        .with_body_from_request(move |request| {
            let form = url::form_urlencoded::parse(request.body().unwrap())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            kept.lock().unwrap().push(form);
            body.as_bytes().to_vec()
        })
        .expect(hits)
        .create();
    (mock, forms)
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    form.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// A paper run that fails at the risk gate: exit 3, a CRITICAL alert.
const CRITICAL: &str = "risk:\n  max_position_pct: 50\n";

#[test]
fn a_critical_run_texts_each_number_one_message_of_at_most_160_characters() {
    let mut server = Server::new();
    let (mock, forms) = twilio(
        &mut server,
        201,
        r#"{"sid": "SM0123", "status": "queued"}"#,
        2,
    );
    let (dir, config) = common::paper_config(&sms_config(
        &server.url(),
        "from: '+15550001111'",
        &format!("    to: ['+15552223333', '+15554445555']\n{CRITICAL}"),
    ));
    let (code, stdout, stderr) = trade(&config, "2025-12-12");
    assert_eq!(code, 3, "the run's own exit code: {stdout}{stderr}");
    assert!(!stdout.contains("not delivered"), "{stdout}");
    mock.assert();
    let forms = forms.lock().unwrap();
    let to: Vec<&str> = forms.iter().flat_map(|f| field(f, "To")).collect();
    assert_eq!(to, ["+15552223333", "+15554445555"]);
    for form in forms.iter() {
        assert_eq!(field(form, "From"), ["+15550001111"]);
        assert!(field(form, "MessagingServiceSid").is_empty());
        let body = field(form, "Body");
        assert_eq!(body.len(), 1, "{form:?}");
        let body = body[0];
        assert!(
            body.chars().count() <= 160,
            "{} characters: {body}",
            body.len()
        );
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(
            lines[0], "[jutsu CRITICAL] paper 2025-12-12 trade FAILED at plan",
            "{body}"
        );
        assert!(
            lines[1].starts_with("What to do: read the failed stage in the log"),
            "{body}"
        );
    }
    // The token is in no output and no log.
    assert!(!format!("{stdout}{stderr}").contains(TOKEN));
    for file in std::fs::read_dir(dir.path().join("logs")).unwrap() {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap_or_default();
        assert!(!text.contains(TOKEN), "{text}");
    }
}

#[test]
fn a_twilio_error_is_recorded_in_the_ledger_and_shown_by_health() {
    let mut server = Server::new();
    let refusal = r#"{"code": 21211, "message": "The 'To' number +15005550001 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#;
    // A refusal is final: it is not sent again.
    let (mock, _) = twilio(&mut server, 400, refusal, 1);
    let (dir, config) = common::paper_config(&sms_config(
        &server.url(),
        "from: '+15550001111'",
        &format!("    to: ['+15005550001']\n{CRITICAL}"),
    ));
    let (code, stdout, _) = trade(&config, "2025-12-12");
    assert_eq!(code, 3, "the run's own exit code: {stdout}");
    mock.assert();
    let said = "to +15005550001: HTTP 400: error 21211: The 'To' number +15005550001 is not a \
                valid phone number. (refused: not retried)";
    assert!(
        stdout.contains(&format!("warning: the sms alert was not delivered: {said}")),
        "{stdout}"
    );
    let ledger =
        jutsu::domain::journal::Ledger::load(&dir.path().join("state/paper/runs/2025-12-12.json"))
            .unwrap()
            .unwrap();
    assert_eq!(ledger.alert_failures.len(), 1);
    assert_eq!(ledger.alert_failures[0].channel, "sms");
    assert_eq!(ledger.alert_failures[0].error, said);
    let (code, stdout, _) = run(jutsu()
        .env("JUTSU_NOW", "2025-12-12T22:00:00Z")
        .env("JUTSU_TEST_SMS_TOKEN", TOKEN)
        .arg("-c")
        .arg(&config)
        .arg("health"));
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "[fail] alerts    the alerts of the 2025-12-12 run were not delivered: sms: {said}"
        )),
        "{stdout}"
    );
}

#[test]
fn a_server_error_is_retried_like_the_other_channels() {
    let mut server = Server::new();
    let (mock, _) = twilio(
        &mut server,
        503,
        r#"{"code": 20503, "message": "Service unavailable"}"#,
        3,
    );
    let (_dir, config) = common::paper_config(&sms_config(
        &server.url(),
        "from: '+15550001111'",
        &format!("    to: ['+15552223333']\n{CRITICAL}"),
    ));
    let (code, stdout, _) = trade(&config, "2025-12-12");
    assert_eq!(code, 3, "{stdout}");
    mock.assert();
    assert!(
        stdout.contains(
            "warning: the sms alert was not delivered: to +15552223333: HTTP 503: error 20503: \
             Service unavailable (after 3 attempts)"
        ),
        "{stdout}"
    );
}

#[test]
fn runs_that_are_not_critical_send_no_text_unless_levels_ask() {
    let mut server = Server::new();
    let (sms, _) = twilio(&mut server, 201, r#"{"sid": "SM1"}"#, 0);
    // The webhook says what each run alerted as.
    let info = server
        .mock("POST", "/hook")
        .match_body(Matcher::PartialJson(serde_json::json!({"level": "info"})))
        .expect(1)
        .create();
    let warning = server
        .mock("POST", "/hook")
        .match_body(Matcher::PartialJson(
            serde_json::json!({"level": "warning"}),
        ))
        .expect(1)
        .create();
    let hook = format!("  webhook_url: {}/hook\n", server.url());
    let numbers = "    to: ['+15552223333']\n";
    // An OK run.
    let (_a, ok) = common::paper_config(&sms_config(
        &server.url(),
        "from: '+15550001111'",
        &format!("{numbers}{hook}"),
    ));
    assert_eq!(trade(&ok, "2025-12-12").0, 0);
    // A run that went through with a warning: the fills slipped 0.4 %, over the 0.3 % warn
    // level.
    let slipped = "sim:\n  slippage_pct: 0.4\n";
    let (_b, warned) = common::paper_config(&sms_config(
        &server.url(),
        "from: '+15550001111'",
        &format!("{numbers}{hook}{slipped}"),
    ));
    let (code, stdout, _) = trade(&warned, "2025-12-12");
    assert_eq!(code, 0, "{stdout}");
    sms.assert();
    info.assert();
    warning.assert();
    sms.remove();
    // With `levels: [warning, critical]` the warning goes by SMS, from a Messaging Service.
    let (asked, forms) = twilio(&mut server, 201, r#"{"sid": "SM2"}"#, 1);
    let (_c, config) = common::paper_config(&sms_config(
        &server.url(),
        "messaging_service_sid: MG0123456789",
        &format!("{numbers}    levels: [warning, critical]\n{slipped}"),
    ));
    let (code, stdout, _) = trade(&config, "2025-12-12");
    assert_eq!(code, 0, "{stdout}");
    asked.assert();
    let forms = forms.lock().unwrap();
    assert_eq!(field(&forms[0], "MessagingServiceSid"), ["MG0123456789"]);
    assert!(field(&forms[0], "From").is_empty());
    assert!(
        field(&forms[0], "Body")[0].starts_with("[jutsu WARNING] paper 2025-12-12 trade OK"),
        "{forms:?}"
    );
}

#[test]
fn plain_http_to_another_host_and_a_missing_token_are_configuration_errors() {
    let (_dir, config) = common::paper_config(&sms_config(
        "http://sms.example.com",
        "from: '+15550001111'",
        "    to: ['+15552223333']\n",
    ));
    let (code, stdout, stderr) = run(jutsu()
        .env_remove("JUTSU_TEST_SMS_TOKEN")
        .arg("-c")
        .arg(&config)
        .args(["config", "check"]));
    assert_eq!(code, 2, "{stdout}{stderr}");
    for needle in [
        "alerts.sms.api_url (http://sms.example.com) must use https (plain http is allowed only for loopback)",
        "alerts.sms.auth_token_env: environment variable JUTSU_TEST_SMS_TOKEN is not set",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
}
