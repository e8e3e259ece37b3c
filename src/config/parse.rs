//! From YAML text to a [`Config`]: each section decoded on its own, so that every problem
//! is found in one pass, with unknown keys named (and the nearest known key suggested). The
//! lists of known keys are read from the structs' serialized defaults, never kept by hand.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_norway::Value;

use super::{Alerts, Config, Strategy};
use crate::domain::strategy::params::StrategyParams;

/// Parses and validates YAML text; on failure, every problem found.
pub fn parse(text: &str) -> std::result::Result<Config, Vec<String>> {
    let (config, problems) = parse_all(text)?;
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

/// The configuration as far as it can be read (defaults where a section is wrong), or
/// `None` when the text is not a YAML mapping at all.
pub(super) fn parse_lenient(text: &str) -> Option<Config> {
    parse_all(text).ok().map(|(config, _)| config)
}

/// Parses YAML text into a configuration (defaults where a section is wrong) and every
/// problem found; `Err` only when the text is not a YAML mapping at all.
fn parse_all(text: &str) -> std::result::Result<(Config, Vec<String>), Vec<String>> {
    let mut problems = Vec::new();
    let root: Value = match serde_norway::from_str(text) {
        Ok(Value::Null) => Value::Mapping(Default::default()),
        Ok(v) => v,
        Err(e) => return Err(vec![format!("not valid YAML: {e}")]),
    };
    let Value::Mapping(map) = root else {
        return Err(vec![
            "the file must be a mapping of sections (mode, schedule, ...)".into(),
        ]);
    };
    let mut sections: BTreeMap<String, Value> = BTreeMap::new();
    for (key, value) in map {
        match key {
            Value::String(k) => {
                sections.insert(k, value);
            }
            other => problems.push(format!("{other:?}: keys must be strings")),
        }
    }
    let known = keys_at::<Config>("");
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    for key in sections.keys() {
        if !known.contains(&key.as_str()) {
            problems.push(match suggest(key, &known) {
                Some(hint) => format!("{key}: unknown key (did you mean {hint}?)"),
                None => format!("{key}: unknown key (expected one of: {})", known.join(", ")),
            });
        }
    }
    let mut section = |name: &str| sections.remove(name);
    let config = Config {
        mode: decode(section("mode"), "mode", &mut problems),
        paths: decode(section("paths"), "paths", &mut problems),
        schedule: decode(section("schedule"), "schedule", &mut problems),
        data: decode(section("data"), "data", &mut problems),
        execution: decode(section("execution"), "execution", &mut problems),
        risk: decode(section("risk"), "risk", &mut problems),
        sim: decode(section("sim"), "sim", &mut problems),
        backtest: decode(section("backtest"), "backtest", &mut problems),
        schwab: decode(section("schwab"), "schwab", &mut problems),
        alerts: decode_alerts(section("alerts"), &mut problems),
        strategy: decode_strategy(section("strategy"), &mut problems),
        watch: decode(section("watch"), "watch", &mut problems),
        metrics: decode(section("metrics"), "metrics", &mut problems),
        readiness: decode(section("readiness"), "readiness", &mut problems),
    };
    problems.extend(config.problems());
    Ok((config, problems))
}

/// The known key closest to a mistyped one: the same but for case, or within two edits
/// (a letter added, dropped, changed or two swapped: `max_drfit_pct` -> `max_drift_pct`).
fn suggest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (strsim::osa_distance(&key, &k.to_ascii_lowercase()), *k))
        .filter(|(d, k)| *d <= 2 && *d < k.len().max(key.len()) / 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The keys a section's struct knows at `path` (dotted, within the section), read from
/// its defaults serialized: the list follows the struct, never a copy kept by hand.
fn keys_at<T: Serialize + Default>(path: &str) -> Vec<String> {
    let Ok(mut value) = serde_norway::to_value(T::default()) else {
        return Vec::new();
    };
    for part in path.split('.').filter(|p| !p.is_empty()) {
        value = match value {
            Value::Mapping(mut m) => m.remove(part).unwrap_or(Value::Null),
            _ => Value::Null,
        };
    }
    match value {
        Value::Mapping(m) => m
            .keys()
            .filter_map(|k| k.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// An unknown key's problem, with a suggestion when one is close.
fn unknown_key<T: Serialize + Default>(prefix: &str, path: &str) -> String {
    let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
    let known = keys_at::<T>(parent);
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    match suggest(key, &known) {
        Some(hint) => format!("{prefix}.{path}: unknown key (did you mean {hint}?)"),
        None => format!("{prefix}.{path}: unknown key"),
    }
}

/// Decodes one section, recording unknown keys and the first type error with their paths.
fn decode<T: DeserializeOwned + Serialize + Default>(
    value: Option<Value>,
    prefix: &str,
    problems: &mut Vec<String>,
) -> T {
    let Some(value) = value else {
        return T::default();
    };
    if value.is_null() {
        return T::default();
    }
    match decode_whole::<T>(value.clone(), prefix, problems) {
        Some(v) => v,
        // A type error: each key on its own, so that one bad value does not hide the
        // others (their range checks run on what did decode).
        None => decode_by_key(value, prefix, problems),
    }
}

/// Decodes a section at once: its unknown keys, and its value or its first type error.
fn decode_whole<T: DeserializeOwned + Serialize + Default>(
    value: Value,
    prefix: &str,
    problems: &mut Vec<String>,
) -> Option<T> {
    let mut unknown = Vec::new();
    let mut on_unknown = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let de = serde_ignored::Deserializer::new(value, &mut on_unknown);
    let result: std::result::Result<T, _> = serde_path_to_error::deserialize(de);
    for key in unknown {
        problems.push(unknown_key::<T>(prefix, &key));
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            let at = if path == "." || path.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix}.{path}")
            };
            problems.push(format!("{at}: {}", e.into_inner()));
            None
        }
    }
}

/// A mapping section whose whole decode failed (already reported), decoded key by key:
/// each bad key is reported, the good ones make up the section (defaults for the rest).
fn decode_by_key<T: DeserializeOwned + Serialize + Default>(
    value: Value,
    prefix: &str,
    problems: &mut Vec<String>,
) -> T {
    let Value::Mapping(map) = value else {
        return T::default();
    };
    let reported: Vec<String> = problems.clone();
    let mut good = serde_norway::Mapping::new();
    for (key, v) in map {
        let probe = Value::Mapping([(key.clone(), v.clone())].into_iter().collect());
        let mut found = Vec::new();
        if decode_whole::<T>(probe, prefix, &mut found).is_some() {
            good.insert(key, v);
        }
        // Each problem once: the whole decode reported the first already.
        problems.extend(found.into_iter().filter(|p| !reported.contains(p)));
    }
    decode_whole::<T>(Value::Mapping(good), prefix, &mut Vec::new()).unwrap_or_default()
}

/// Splits a mapping section into its keys, reporting unknown ones.
fn split(
    value: Option<Value>,
    prefix: &str,
    known: &[&str],
    problems: &mut Vec<String>,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(map)) => {
            for (k, v) in map {
                let key = match k {
                    Value::String(s) => s,
                    other => format!("{other:?}"),
                };
                if known.contains(&key.as_str()) {
                    out.insert(key, v);
                } else if let Some(hint) = suggest(&key, known) {
                    problems.push(format!(
                        "{prefix}.{key}: unknown key (did you mean {hint}?)"
                    ));
                } else {
                    problems.push(format!("{prefix}.{key}: unknown key"));
                }
            }
        }
        Some(_) => problems.push(format!("{prefix}: must be a mapping")),
    }
    out
}

/// Decodes `alerts`, each channel on its own so one bad channel does not hide another.
fn decode_alerts(value: Option<Value>, problems: &mut Vec<String>) -> Alerts {
    let known = keys_at::<Alerts>("");
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let mut parts = split(value, "alerts", &known, problems);
    let mut take = |key: &str| parts.remove(key);
    Alerts {
        email: decode(take("email"), "alerts.email", problems),
        sms: decode(take("sms"), "alerts.sms", problems),
        webhook_url: decode(take("webhook_url"), "alerts.webhook_url", problems),
        webhook_url_env: decode(take("webhook_url_env"), "alerts.webhook_url_env", problems),
        webhook_format: decode(take("webhook_format"), "alerts.webhook_format", problems),
        telegram_chat_id: decode(
            take("telegram_chat_id"),
            "alerts.telegram_chat_id",
            problems,
        ),
        deadman_url: decode(take("deadman_url"), "alerts.deadman_url", problems),
        notify: decode(take("notify"), "alerts.notify", problems),
    }
}

/// Decodes `strategy.parameters`, one parameter at a time.
fn decode_strategy(value: Option<Value>, problems: &mut Vec<String>) -> Strategy {
    let sections = keys_at::<Strategy>("");
    let sections: Vec<&str> = sections.iter().map(String::as_str).collect();
    let mut parts = split(value, "strategy", &sections, problems);
    let known = keys_at::<StrategyParams>("");
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let params = split(
        parts.remove("parameters"),
        "strategy.parameters",
        &known,
        problems,
    );
    // Each parameter on its own, so that every bad value is reported, not only the first.
    let mut merged = serde_norway::Mapping::new();
    for (key, value) in params {
        let probe: Value = Value::Mapping(
            [(Value::String(key.clone()), value.clone())]
                .into_iter()
                .collect(),
        );
        let before = problems.len();
        let _: StrategyParams = decode(Some(probe), "strategy.parameters", problems);
        if problems.len() == before {
            merged.insert(Value::String(key), value);
        }
    }
    Strategy {
        parameters: decode(
            Some(Value::Mapping(merged)),
            "strategy.parameters",
            problems,
        ),
        expect: decode(parts.remove("expect"), "strategy.expect", problems),
    }
}
