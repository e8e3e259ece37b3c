//! `jutsu readiness`: the phase criteria of a dry run or a paper account, from its own
//! records; exit 0 only when every one passes.

use crate::config::{Loaded, Mode};
use crate::domain::readiness;
use crate::storage::records;
use crate::support::error::{exit, Error, Result};

/// Prints the criteria (text or JSON); 0 when all pass, 1 otherwise.
pub(super) fn run(loaded: &Loaded, json: bool) -> Result<u8> {
    let mode = loaded.config.mode;
    if mode == Mode::Live {
        return Err(Error::Usage(
            "readiness judges a dry_run or paper phase: pass --mode dry_run or --mode paper".into(),
        ));
    }
    let v = records::verdict(loaded, mode)?;
    if json {
        let text = serde_json::to_string_pretty(&v)
            .map_err(|e| Error::Other(format!("encoding the verdict: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", readiness::text(&v));
    }
    Ok(if v.passed { exit::OK } else { exit::FAILURE })
}
