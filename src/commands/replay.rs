//! `jutsu replay SESSION`: the decision of a recorded run derived again and compared field
//! by field, with the digest of the bars it decided on: a table (recorded against replayed,
//! the weights by symbol), or one JSON object with `--json`.

use serde_json::{json, Value};

use crate::config::Loaded;
use crate::domain::text::prefix;
use crate::pipeline::replay::{Field, Replay};
use crate::support::error::{exit, Error, Result};

/// One row of the table: what a person compares.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    name: String,
    recorded: String,
    replayed: String,
    same: bool,
}

/// `jutsu replay SESSION`: each field of the decision, recorded and replayed.
pub(super) fn run(loaded: &Loaded, session: chrono::NaiveDate, json: bool) -> Result<u8> {
    let mode = loaded.config.mode;
    let r = crate::pipeline::replay::replay(loaded, mode, session)?;
    let same = r.same_decision() && r.same_history() != Some(false);
    if json {
        let text = serde_json::to_string_pretty(&as_json(&r, mode.as_str(), same))
            .map_err(|e| Error::Other(e.to_string()))?;
        println!("{text}");
    } else {
        let legs = loaded.config.strategy.parameters.traded_symbols();
        println!("replay of the {} run of {session}:", mode.as_str());
        for line in table(&rows(&r.fields, &legs)) {
            println!("{line}");
        }
        println!("  {}", history_line(&r));
        println!(
            "{}",
            if same {
                "the same decision"
            } else {
                "NOT the same decision"
            }
        );
    }
    Ok(if same { exit::OK } else { exit::FAILURE })
}

/// `replay --json`: the session, the verdicts, the digests and every field as recorded and
/// as replayed (the ledger's own JSON values).
fn as_json(r: &Replay, mode: &str, same: bool) -> Value {
    json!({
        "session": r.session,
        "mode": mode,
        "same_decision": same,
        "same_history": r.same_history(),
        "recorded_digest": r.recorded_digest,
        "digest": r.digest,
        "fields": r.fields.iter().map(|f| json!({
            "name": f.name,
            "recorded": f.recorded,
            "replayed": f.replayed,
            "same": f.recorded == f.replayed,
        })).collect::<Vec<_>>(),
    })
}

/// Whether the run decided on the same bars, with the digests' first 16 characters.
fn history_line(r: &Replay) -> String {
    let label = format!("{:<14}", "history");
    match r.same_history() {
        Some(true) => format!("{label} the same bars (digest {})", prefix(&r.digest, 16)),
        Some(false) => format!(
            "{label} DIFFERS: the run decided on other bars (digest {} then, {} now)",
            r.recorded_digest.as_deref().map_or("", |d| prefix(d, 16)),
            prefix(&r.digest, 16)
        ),
        None => format!("{label} not recorded in this ledger (written before digests)"),
    }
}

/// The rows of the fields: nested values one row each (`bond trend`), the weights by symbol.
fn rows(fields: &[Field], legs: &[&str; 5]) -> Vec<Row> {
    let mut out = Vec::new();
    for f in fields {
        match (&f.recorded, &f.replayed) {
            (Value::Object(a), b) if f.name == "weights" => {
                let b = b.as_object();
                let leg = |m: Option<&serde_json::Map<String, Value>>, i: usize| {
                    m.and_then(|m| m.get("legs")?.get(i).cloned())
                        .unwrap_or(Value::Null)
                };
                for (i, symbol) in legs.iter().enumerate() {
                    out.push(row(
                        &format!("{symbol} weight"),
                        &leg(Some(a), i),
                        &leg(b, i),
                        true,
                    ));
                }
                let cash = |m: Option<&serde_json::Map<String, Value>>| {
                    m.and_then(|m| m.get("cash").cloned())
                        .unwrap_or(Value::Null)
                };
                out.push(row("cash weight", &cash(Some(a)), &cash(b), true));
            }
            (Value::Object(a), b) => {
                for (key, value) in a {
                    let other = b.get(key).cloned().unwrap_or(Value::Null);
                    out.push(row(&format!("{} {key}", f.name), value, &other, false));
                }
            }
            (a, b) => out.push(row(&f.name, a, b, false)),
        }
    }
    out
}

fn row(name: &str, recorded: &Value, replayed: &Value, weight: bool) -> Row {
    let same = recorded == replayed;
    let (mut a, mut b) = (show(recorded, weight), show(replayed, weight));
    if !same && a == b {
        // Rounded alike but not equal: the whole values say where they part.
        (a, b) = (recorded.to_string(), replayed.to_string());
    }
    Row {
        name: name.to_string(),
        recorded: a,
        replayed: b,
        same,
    }
}

/// A value as a person reads it: text unquoted, a weight in %, a real number to 6 places.
fn show(value: &Value, weight: bool) -> String {
    let number = match value {
        Value::String(s) => s.parse::<f64>().ok(),
        Value::Number(n) if !n.is_i64() && !n.is_u64() => n.as_f64(),
        _ => None,
    };
    match (value, number) {
        (_, Some(x)) if weight => format!("{:.1}%", x * 100.0),
        (_, Some(x)) => format!("{x:.6}"),
        (Value::String(s), None) => s.clone(),
        (Value::Null, None) => "-".into(),
        (v, None) => v.to_string(),
    }
}

/// The rows under a header, in aligned columns; `=` or `DIFFERS` at the end of each.
fn table(rows: &[Row]) -> Vec<String> {
    let width = |f: fn(&Row) -> &str, title: &str| {
        rows.iter()
            .map(|r| f(r).chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let (wn, wa, wb) = (
        width(|r| &r.name, "field").max(13),
        width(|r| &r.recorded, "recorded"),
        width(|r| &r.replayed, "replayed"),
    );
    let mut out = vec![format!(
        "  {:<wn$} {:>wa$}  {:>wb$}",
        "field", "recorded", "replayed"
    )];
    for r in rows {
        let mark = if r.same { "=" } else { "DIFFERS" };
        out.push(format!(
            "  {:<wn$} {:>wa$}  {:>wb$}  {mark}",
            r.name, r.recorded, r.replayed
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, recorded: Value, replayed: Value) -> Field {
        Field {
            name: name.into(),
            recorded,
            replayed,
        }
    }

    #[test]
    fn weights_read_by_symbol_in_percent_and_a_difference_is_marked() {
        let legs = ["TQQQ", "QQQ", "PSQ", "TMF", "TMV"];
        let w = json!({"cash": "0", "legs": ["0", "0", "0", "0.40", "0"]});
        let other = json!({"cash": "0", "legs": ["0", "0", "0", "0.60", "0"]});
        let rows = rows(
            &[
                field("weights", w, other),
                field("cell", json!(3), json!(3)),
            ],
            &legs,
        );
        let tmf = rows.iter().find(|r| r.name == "TMF weight").unwrap();
        assert_eq!(
            (tmf.recorded.as_str(), tmf.replayed.as_str()),
            ("40.0%", "60.0%")
        );
        assert!(!tmf.same);
        let lines = table(&rows);
        assert!(lines
            .iter()
            .any(|l| l.contains("TMF weight") && l.ends_with("DIFFERS")));
        assert!(lines
            .iter()
            .any(|l| l.contains("cell") && l.ends_with(" =")));
        assert!(
            !lines.iter().any(|l| l.contains("legs") || l.contains('"')),
            "{lines:?}"
        );
    }

    #[test]
    fn values_that_round_alike_but_differ_show_in_full() {
        let r = row(
            "z_score",
            &json!(-0.3053738574720197),
            &json!(-0.3053738574720198),
            false,
        );
        assert_ne!(r.recorded, r.replayed);
        assert!(!r.same);
    }
}
