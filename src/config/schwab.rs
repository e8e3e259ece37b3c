//! The `schwab` section: the API's endpoints, the app's credentials (by environment
//! variable name) and the token file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::rules::{check_url, env_name};

/// The Schwab API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Schwab {
    /// Environment variable holding the app key.
    pub app_key_env: String,
    /// Environment variable holding the app secret.
    pub app_secret_env: String,
    /// The callback URL registered with the app.
    pub callback_url: String,
    /// OAuth endpoints.
    pub oauth_base_url: String,
    /// Trader API.
    pub trader_base_url: String,
    /// Market data API.
    pub marketdata_base_url: String,
    /// Token file (schwab-py format, mode 0600), relative to the config file.
    pub token_file: PathBuf,
    /// Plain account number to trade; the first linked account when absent.
    pub account_number: Option<String>,
    /// Seconds to wait for one answer from Schwab.
    pub request_timeout_s: u64,
}

impl Default for Schwab {
    fn default() -> Self {
        Schwab {
            app_key_env: "SCHWAB_APP_KEY".into(),
            app_secret_env: "SCHWAB_APP_SECRET".into(),
            callback_url: "https://127.0.0.1:8182".into(),
            oauth_base_url: "https://api.schwabapi.com/v1/oauth".into(),
            trader_base_url: "https://api.schwabapi.com/trader/v1".into(),
            marketdata_base_url: "https://api.schwabapi.com/marketdata/v1".into(),
            token_file: "../state/token.json".into(),
            account_number: None,
            request_timeout_s: 30,
        }
    }
}

impl Schwab {
    /// Every problem of this section, each with its key path under `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (key, url) in [
            ("oauth_base_url", &self.oauth_base_url),
            ("trader_base_url", &self.trader_base_url),
            ("marketdata_base_url", &self.marketdata_base_url),
            ("callback_url", &self.callback_url),
        ] {
            if let Err(problem) = check_url(url) {
                out.push(format!("{prefix}.{key} ({url}) {problem}"));
            }
        }
        env_name(
            &mut out,
            &format!("{prefix}.app_key_env"),
            &self.app_key_env,
        );
        env_name(
            &mut out,
            &format!("{prefix}.app_secret_env"),
            &self.app_secret_env,
        );
        if !(1..=120).contains(&self.request_timeout_s) {
            out.push(format!(
                "{prefix}.request_timeout_s ({}) must be between 1 and 120",
                self.request_timeout_s
            ));
        }
        if let Some(n) = &self.account_number {
            if n.is_empty() || !n.chars().all(|ch| ch.is_ascii_digit()) {
                out.push(format!(
                    "{prefix}.account_number must be the plain account number (digits)"
                ));
            }
        }
        out
    }
}
