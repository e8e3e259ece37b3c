//! `jutsu hello` and `jutsu auth` through the binary, on the embedded default and against a
//! mock Schwab server.

use crate::common;

use crate::common::{jutsu, run};
use mockito::{Matcher, Server};

const NOW: &str = "2025-06-10T15:02:14Z"; // 11:02 ET, the fixtures' scenario
const NOW_S: i64 = 1_749_567_734;
const HASH: &str = "787052755BB0251F930B322BE3C6C6CCF5EFB28B4C0A438C0DBDE35238F91D39";

fn fixture(path: &str) -> String {
    std::fs::read_to_string(common::fixtures().join("schwab").join(path)).unwrap()
}

struct Env {
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

fn live_env(server: &Server, token_age_s: i64) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let config = dir.path().join("jutsu.yaml");
    std::fs::write(
        &config,
        format!(
            "mode: live\npaths:\n  state_dir: state\n  logs_dir: logs\ndata:\n  source: schwab\n\
             schwab:\n  app_key_env: T_APP_KEY\n  app_secret_env: T_APP_SECRET\n\
             \x20 account_number: \"31415926\"\n\
             \x20 oauth_base_url: {url}/v1/oauth\n  trader_base_url: {url}/trader/v1\n\
             \x20 marketdata_base_url: {url}/marketdata/v1\n  token_file: state/token.json\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    let token = format!(
        r#"{{"creation_timestamp": {}, "token": {{"expires_in": 1800, "token_type": "Bearer", "scope": "api", "refresh_token": "REFRESH-secret-value", "access_token": "ACCESS-secret-value", "expires_at": {}}}}}"#,
        NOW_S - token_age_s,
        NOW_S + 1500
    );
    jutsu::storage::fsutil::write_atomic(
        &dir.path().join("state/token.json"),
        token.as_bytes(),
        true,
    )
    .unwrap();
    Env { dir, config }
}

fn cmd(env: &Env) -> std::process::Command {
    let mut c = jutsu();
    c.env("JUTSU_NOW", NOW)
        .env("T_APP_KEY", "APPKEY0123456789")
        .env("T_APP_SECRET", "APPSECRET0123456")
        .args(["-c", env.config.to_str().unwrap()]);
    c
}

#[test]
fn hello_on_the_embedded_default() {
    // A copy of the embedded default, so the test leaves the repository's state/ alone.
    let (dir, config) = common::paper_config("");
    let (code, stdout, stderr) = run(jutsu().env("JUTSU_NOW", "2025-12-12T20:55:00Z").args([
        "-c",
        config.to_str().unwrap(),
        "hello",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("quotes as of 2025-12-12 15:55 ET"),
        "{stdout}"
    );
    assert!(stdout.contains("QQQ   last"), "{stdout}");
    assert!(stdout.contains("value 10000.00  cash 10000.00"), "{stdout}");
    assert!(stdout.contains("no positions"), "{stdout}");
    assert!(stdout.trim_end().ends_with("OK"), "{stdout}");
    // hello only reads: the simulated account is not created by it.
    assert!(!dir.path().join("state/sim/account.json").exists());
}

#[test]
fn hello_against_schwab_shows_token_quotes_and_account() {
    let mut server = Server::new();
    server
        .mock("GET", "/marketdata/v1/quotes")
        .match_query(Matcher::Any)
        .with_body(full_quotes())
        .create();
    server
        .mock("GET", "/trader/v1/accounts/accountNumbers")
        .with_body(fixture("trader/account_numbers.json"))
        .create();
    server
        .mock("GET", format!("/trader/v1/accounts/{HASH}").as_str())
        .match_query(Matcher::Any)
        .with_body(fixture("trader/account_margin_with_positions.json"))
        .create();
    server
        .mock("GET", "/trader/v1/accounts")
        .match_query(Matcher::Any)
        .with_body(fixture("trader/accounts_all_with_positions.json"))
        .create();
    let env = live_env(&server, 2 * 86_400);
    let (code, stdout, stderr) = run(cmd(&env).arg("hello"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("120.0 h left on the refresh token"),
        "{stdout}"
    );
    // Both linked accounts, masked, with their types; the configured one marked.
    assert!(
        stdout.contains("accounts      2 linked to this login"),
        "{stdout}"
    );
    assert!(stdout.contains("****5926  MARGIN  <- used"), "{stdout}");
    assert!(stdout.contains("****2818  CASH\n"), "{stdout}");
    assert!(
        stdout.contains("QQQ   last     527.42  bid     527.41  ask     527.43"),
        "{stdout}"
    );
    assert!(stdout.contains("value 76386.90"), "{stdout}");
    assert!(stdout.contains("TQQQ       420 shares"), "{stdout}");
    let all = format!("{stdout}{stderr}");
    assert!(!all.contains("secret-value"), "{all}");
    let _ = env.dir;
}

/// The five-symbol fixture plus PSQ (the strategy reads six symbols).
fn full_quotes() -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&fixture("marketdata/quotes_qqq_tlt_tqqq_tmf_tmv.json")).unwrap();
    let mut psq = v["QQQ"].clone();
    psq["symbol"] = "PSQ".into();
    psq["quote"]["lastPrice"] = 30.5.into();
    v["PSQ"] = psq;
    v.to_string()
}

#[test]
fn auth_status_counts_the_seven_days_from_the_login() {
    let server = Server::new();
    for (age_h, code_want, needle) in [
        (24, 0, "144.0 h left"),
        (150, 1, "18.0 h left"),
        (200, 1, "EXPIRED 32.0 h ago"),
    ] {
        let env = live_env(&server, age_h * 3600);
        let (code, stdout, stderr) = run(cmd(&env).args(["auth", "status"]));
        assert_eq!(code, code_want, "{age_h}: {stdout}{stderr}");
        assert!(stdout.contains(needle), "{age_h}: {stdout}");
        if code_want != 0 {
            assert!(stdout.contains("jutsu auth login"), "{stdout}");
        }
    }
}

#[test]
fn auth_login_exchanges_the_pasted_code_and_saves_a_private_token_file() {
    let mut server = Server::new();
    let env = live_env(&server, 10 * 86_400);
    let callback = "https://127.0.0.1:8182/?code=C0.b2F1dGgy.Fixture_CODE%40&session=x";
    let exchange = server
        .mock("POST", "/v1/oauth/token")
        .match_body(Matcher::AllOf(vec![
            Matcher::UrlEncoded("grant_type".into(), "authorization_code".into()),
            Matcher::UrlEncoded("code".into(), "C0.b2F1dGgy.Fixture_CODE@".into()),
        ]))
        .with_header("content-type", "application/json")
        .with_body(fixture("oauth/token_response_authorization_code.json"))
        .expect(1)
        .create();
    let (code, stdout, stderr) = run(cmd(&env).args(["auth", "login", "--callback-url", callback]));
    assert_eq!(code, 0, "{stderr}");
    exchange.assert();
    assert!(stdout.contains("logged in"), "{stdout}");
    assert!(stdout.contains("valid until 2025-06-17"), "{stdout}");
    let (code, stdout, _) = run(cmd(&env).args(["auth", "status"]));
    assert_eq!(code, 0);
    assert!(stdout.contains("168.0 h left"), "{stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.dir.path().join("state/token.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn auth_refresh_keeps_the_login_time() {
    let mut server = Server::new();
    let env = live_env(&server, 3 * 86_400);
    server
        .mock("POST", "/v1/oauth/token")
        .match_body(Matcher::UrlEncoded(
            "grant_type".into(),
            "refresh_token".into(),
        ))
        .with_header("content-type", "application/json")
        .with_body(fixture("oauth/token_response_refresh.json"))
        .expect(1)
        .create();
    let (code, stdout, stderr) = run(cmd(&env).args(["auth", "refresh"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("96.0 h left"), "{stdout}");
}

#[test]
fn auth_without_app_credentials_names_the_variables() {
    let server = Server::new();
    let env = live_env(&server, 0);
    let (code, _, stderr) = run(cmd(&env)
        .env_remove("T_APP_KEY")
        .env_remove("T_APP_SECRET")
        .args(["auth", "refresh"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("T_APP_KEY is not set"), "{stderr}");
    assert!(stderr.contains("T_APP_SECRET is not set"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn a_schwab_py_token_file_with_mode_0644_is_tightened_with_one_warning() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::new();
    let env = live_env(&server, 3600);
    let token = env.dir.path().join("state/token.json");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, stdout, stderr) = run(cmd(&env).args(["auth", "status"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("was readable by other users: its mode is now 0600"),
        "{stderr}"
    );
    assert!(stderr.contains("jutsu auth login"), "{stderr}");
    let mode = std::fs::metadata(&token).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Once: the next command finds a private file and says nothing about it.
    let (code, _, stderr) = run(cmd(&env).args(["auth", "status"]));
    assert_eq!(code, 0);
    assert!(!stderr.contains("readable by other users"), "{stderr}");
}

#[test]
fn auth_status_warns_and_alerts_when_the_login_ends_before_the_next_run() {
    let mut server = Server::new();
    let hook = server
        .mock("POST", "/hook")
        .match_body(Matcher::PartialJson(
            serde_json::json!({"level": "critical", "kind": "auth"}),
        ))
        .expect(1)
        .create();
    // The login ends Sunday 2025-06-15 20:00 ET; on Friday after the close that is 51.5 h
    // away (no "under 24 h"), but Monday's run at 15:55 comes after it.
    let login = 1_749_427_200; // 2025-06-09T00:00:00Z
    let env = live_env(&server, NOW_S - login);
    let mut config = std::fs::read_to_string(&env.config).unwrap();
    config.push_str(&format!("alerts:\n  webhook_url: {}/hook\n", server.url()));
    std::fs::write(&env.config, config).unwrap();
    let (code, stdout, stderr) = run(cmd(&env)
        .env("JUTSU_NOW", "2025-06-13T20:30:00Z")
        .args(["auth", "status"]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("the Schwab login ends Sun 2025-06-15 20:00 ET (51.5 h), before the next run (Mon 2025-06-16 15:55 ET)"),
        "{stdout}"
    );
    hook.assert();
    // On Tuesday morning with 144 h left, nothing to say.
    let fresh = live_env(&server, 24 * 3600);
    assert_eq!(run(cmd(&fresh).args(["auth", "status"])).0, 0);
}
