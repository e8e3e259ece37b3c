//! `jutsu auth login|status|refresh`.

use std::io::{BufRead, Write};
use std::path::Path;

use crate::brokers::schwab::auth::{self, TokenFile};
use crate::brokers::sources::{self, SharedClock};
use crate::commands::cli::AuthAction;
use crate::config::Loaded;
use crate::support::error::{exit, Error, Result};

/// Below this many hours left on the refresh token, `auth status` exits non-zero.
const STATUS_MIN_HOURS: i64 = 24;

/// `auth status`, `auth refresh` or `auth login`.
pub(super) fn run(action: &AuthAction, loaded: &Loaded, clock: SharedClock) -> Result<u8> {
    let token_path = loaded.resolve(&loaded.config.schwab.token_file);
    match action {
        AuthAction::Status => status(loaded, &token_path, clock.as_ref()),
        AuthAction::Refresh => {
            let client = sources::schwab_client(loaded, clock.clone())?;
            let current = client.token()?;
            let now = clock.now_utc().timestamp();
            let fresh = auth::refresh(&client.settings().oauth, client.http(), &current, now)?;
            fresh.save(&token_path)?;
            println!(
                "access token refreshed; refresh token has {:.1} h left",
                fresh.refresh_seconds_left(now) as f64 / 3600.0
            );
            Ok(exit::OK)
        }
        AuthAction::Login { callback_url } => {
            login(loaded, clock, &token_path, callback_url.as_deref())
        }
    }
}

/// Hours left on the tokens; exit 1, and a CRITICAL alert on the configured channels, when
/// the refresh token is expired, has under 24 h left, or ends before the next scheduled run
/// (with a margin): a Sunday timer running this reaches the user before Monday fails.
fn status(
    loaded: &Loaded,
    token_path: &Path,
    clock: &dyn crate::support::clock::Clock,
) -> Result<u8> {
    let token = TokenFile::load(token_path)?;
    let now = clock.now_utc().timestamp();
    let left = token.refresh_seconds_left(now);
    let hours = left as f64 / 3600.0;
    let access = token.token.expires_at - now;
    let problem = if left <= 0 {
        Some(format!(
            "the Schwab refresh token EXPIRED {:.1} h ago: run `jutsu auth login`",
            -hours
        ))
    } else {
        println!("refresh token: {hours:.1} h left (7 days from the login)");
        println!(
            "access token:  {}",
            if access > 0 {
                format!("valid for {} more minutes", access / 60)
            } else {
                "expired; it is refreshed automatically".to_string()
            }
        );
        login_problem(loaded, clock, left)
    };
    let Some(problem) = problem else {
        return Ok(exit::OK);
    };
    println!("{problem}");
    let alert = crate::alert::Alert::brief(
        crate::alert::Level::Critical,
        "auth",
        loaded.config.mode,
        clock.today_et(),
        "the Schwab login must be renewed".into(),
        "run `jutsu auth login` on the server before the next run.",
        problem,
    );
    super::send_alert(loaded, clock, &alert);
    Ok(exit::FAILURE)
}

/// Why the login will not do, if it will not: under 24 h left, or it ends before the next run.
fn login_problem(
    loaded: &Loaded,
    clock: &dyn crate::support::clock::Clock,
    left: i64,
) -> Option<String> {
    let now = clock.now_et();
    let ends = now + chrono::Duration::seconds(left);
    let minutes = loaded.config.schedule.minutes_before_close;
    let next = crate::domain::calendar::next_run(now, minutes);
    if let Some(run) = next.filter(|run| crate::domain::calendar::login_ends_before(ends, *run)) {
        return Some(format!(
            "the Schwab login ends {} ({:.1} h), before the next run ({}) with {} h to spare: \
             run `jutsu auth login` before then",
            ends.format("%a %Y-%m-%d %H:%M ET"),
            left as f64 / 3600.0,
            run.format("%a %Y-%m-%d %H:%M ET"),
            crate::domain::calendar::LOGIN_MARGIN_HOURS
        ));
    }
    (left < STATUS_MIN_HOURS * 3600).then(|| {
        format!(
            "under {STATUS_MIN_HOURS} h left: run `jutsu auth login` before the next trading day"
        )
    })
}

/// The OAuth login: the user opens the authorize URL, logs in, and pastes the address the
/// browser was sent to (or passes it with `--callback-url`); the code in it buys the tokens.
fn login(
    loaded: &Loaded,
    clock: SharedClock,
    token_path: &Path,
    callback_url: Option<&str>,
) -> Result<u8> {
    let client = sources::schwab_client(loaded, clock.clone())?;
    let settings = &client.settings().oauth;
    let (url, state) = auth::authorize_url(settings)?;
    let callback = match callback_url {
        Some(url) => url.to_string(),
        None => ask_for_callback(&url, &settings.callback_url)?,
    };
    // A URL given on the command line comes from an earlier run's state.
    let expected = callback_url.is_none().then_some(state.as_str());
    let code = auth::code_from_callback(&callback, expected)?;
    let now = clock.now_utc().timestamp();
    let token = auth::exchange_code(settings, client.http(), &code, now)?;
    token.save(token_path)?;
    let until = chrono::DateTime::from_timestamp(now + auth::REFRESH_TOKEN_LIFE_S, 0)
        .map(|t| {
            t.with_timezone(&chrono_tz::America::New_York)
                .format("%Y-%m-%d %H:%M ET")
                .to_string()
        })
        .unwrap_or_default();
    println!(
        "logged in; tokens saved to {} (mode 0600)",
        token_path.display()
    );
    println!("the refresh token is valid until {until}: log in again before then");
    Ok(exit::OK)
}

fn ask_for_callback(url: &str, callback_url: &str) -> Result<String> {
    println!(
        "1. Open this URL in a browser and log in with your Schwab brokerage account:\n\n   {url}\n"
    );
    println!("2. The browser then goes to {callback_url} (the page may not load).");
    print!("   Paste that whole address here within 30 seconds: ");
    std::io::stdout()
        .flush()
        .map_err(|e| Error::io("writing", "stdout", e))?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io("reading", "stdin", e))?;
    Ok(line)
}
