//! `jutsu replay SESSION`: the decision of a recorded run derived again and compared field
//! by field, with the digest of the bars it decided on.

use crate::config::Loaded;
use crate::support::error::{exit, Result};

/// `jutsu replay SESSION`: each field of the decision, recorded and replayed.
pub(super) fn run(loaded: &Loaded, session: chrono::NaiveDate) -> Result<u8> {
    let mode = loaded.config.mode;
    let r = crate::pipeline::replay::replay(loaded, mode, session)?;
    println!("replay of the {} run of {session}:", mode.as_str());
    for f in &r.fields {
        let mark = if f.recorded == f.replayed {
            "="
        } else {
            "DIFFERS"
        };
        match f.recorded == f.replayed {
            true => println!("  {:<10} {mark} {}", f.name, f.recorded),
            false => println!(
                "  {:<10} {mark}: recorded {}, replayed {}",
                f.name, f.recorded, f.replayed
            ),
        }
    }
    match r.same_history() {
        Some(true) => println!("  history    = the same bars (digest {})", short(&r.digest)),
        Some(false) => println!(
            "  history    DIFFERS: the run decided on other bars (digest {} then, {} now)",
            r.recorded_digest.as_deref().map_or("", short),
            short(&r.digest)
        ),
        None => println!("  history    not recorded in this ledger (written before digests)"),
    }
    let same = r.same_decision() && r.same_history() != Some(false);
    println!(
        "{}",
        if same {
            "the same decision"
        } else {
            "NOT the same decision"
        }
    );
    Ok(if same { exit::OK } else { exit::FAILURE })
}

/// The first 16 characters of a digest (all of a shorter one: a damaged ledger's value
/// never panics the command).
fn short(digest: &str) -> &str {
    digest.get(..16).unwrap_or(digest)
}
