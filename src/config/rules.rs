//! Small value rules shared by the sections' checks.

use rust_decimal::Decimal;

/// Records a problem when `value` is outside `lo..=hi`.
pub(super) fn pct_in(out: &mut Vec<String>, key: &str, value: Decimal, lo: Decimal, hi: Decimal) {
    if value < lo || value > hi {
        out.push(format!("{key} ({value}) must be between {lo} and {hi}"));
    }
}

/// `https`, or `http` to a loopback host (tests and local mocks).
pub(super) fn check_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("is not a URL: {e}"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host_str().is_some_and(is_loopback_host) => Ok(()),
        "http" => Err("must use https (plain http is allowed only for loopback)".into()),
        other => Err(format!("has scheme {other}; expected https")),
    }
}

/// `localhost` or a loopback IP address.
pub(super) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Records a problem when `name` is not an environment variable's name: a `*_env` key
/// holding the secret itself is the mistake this catches.
pub(super) fn env_name(out: &mut Vec<String>, key: &str, name: &str) {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        out.push(format!(
            "{key} must name an environment variable (letters, digits and _), \
             not hold the secret itself"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rules() {
        assert!(check_url("https://api.schwabapi.com/trader/v1").is_ok());
        assert!(check_url("http://127.0.0.1:9000/x").is_ok());
        assert!(check_url("http://[::1]:9000/x").is_ok());
        assert!(check_url("http://localhost:9000").is_ok());
        assert!(check_url("http://api.schwabapi.com").is_err());
        assert!(check_url("ftp://127.0.0.1").is_err());
    }

    #[test]
    fn env_names() {
        let mut out = Vec::new();
        env_name(&mut out, "k", "SCHWAB_APP_KEY");
        env_name(&mut out, "k", "_X1");
        assert!(out.is_empty());
        env_name(&mut out, "k", "abc-123=secret");
        env_name(&mut out, "k", "1ABC");
        assert_eq!(out.len(), 2);
    }
}
