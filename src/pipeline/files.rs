//! Sealed files in the run: a damaged file restored or rebuilt, and the rule that `--as-of`
//! never goes back.

use super::*;

impl Run<'_> {
    /// The outcome of reading a sealed file, reported: a file restored from its backup is
    /// used; a damaged one with no good backup is moved aside and `(None, true)` returned, so
    /// that the caller rebuilds it from the broker (`rebuild` says how, for the message).
    pub(super) fn read_or_rebuild<T>(
        &self,
        path: &std::path::Path,
        read: crate::support::error::Result<Sealed<T>>,
        rebuild: &str,
    ) -> Result<(Option<T>, bool), Stop> {
        match read {
            Ok(Sealed::Missing) => Ok((None, false)),
            Ok(Sealed::Good(value)) => Ok((Some(value), false)),
            Ok(Sealed::Restored {
                value,
                from,
                problem,
            }) => {
                self.report.warn(&format!(
                    "{} was damaged ({problem}): restored from {}",
                    path.display(),
                    from.display()
                ));
                Ok((Some(value), false))
            }
            Err(crate::support::error::Error::Corrupt { problem, .. }) => {
                let aside = set_aside(path)?;
                self.report.warn(&format!(
                    "{} is damaged ({problem}) and has no good backup: moved to {aside}; {rebuild}",
                    path.display()
                ));
                Ok((None, true))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `--as-of` may replay the last completed session (a no-op) or go forward, never back:
    /// a run for an earlier session would rewrite the mode's history.
    pub(super) fn refuse_rewriting_history(&self, today: NaiveDate) -> Result<(), Stop> {
        Ok(super::dates::refuse_going_back(
            &self.paths,
            self.options.mode,
            today,
        )?)
    }
}

/// Moves a damaged file aside (`<name>.damaged`) and returns where it went.
pub(super) fn set_aside(path: &std::path::Path) -> Result<String, Stop> {
    let mut name = path.as_os_str().to_owned();
    name.push(".damaged");
    let aside = std::path::PathBuf::from(name);
    std::fs::rename(path, &aside)
        .map_err(|e| Stop::preflight(format!("moving {} aside: {e}", path.display())))?;
    Ok(aside.display().to_string())
}
