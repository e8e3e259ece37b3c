//! Durable file writes: temp file in the same folder, fsync, rename, fsync of the folder;
//! rotating backups; private (0600) files for secrets.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::support::error::{Error, Result};

/// Writes `bytes` to `path` atomically: readers see the old content or the new, never a
/// mix. With `private`, the file is created with mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    write_replacing(path, bytes, private, true)
}

/// [`write_atomic`], durable (`sync`: the file and then its folder fsynced, so the new
/// content survives a power loss once this returns) or not (atomic by the rename alone:
/// a killed process leaves the old content or the new, but after a power loss the file may
/// still hold an older version, until the next synced write of it).
fn write_replacing(path: &Path, bytes: &[u8], private: bool, sync: bool) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if private {
            options.mode(0o600);
        }
    }
    let write = || -> std::io::Result<()> {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        if sync {
            file.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if sync {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io("writing", path, e)
    })
}

/// Appends `rows` (one record each, quoted as CSV needs) to a CSV file, writing `header`
/// first when the file is new; synced before returning.
pub fn append_csv<R, F>(path: &Path, header: &[&str], rows: R) -> Result<()>
where
    R: IntoIterator,
    R::Item: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    }
    let new = !path.exists();
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io("opening", path, e))?;
    let broken = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(e) => Error::io("appending to", path, e),
        other => Error::Other(format!("appending to {}: {other:?}", path.display())),
    };
    let mut out = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(file);
    if new {
        out.write_record(header).map_err(broken)?;
    }
    for row in rows {
        out.write_record(row).map_err(broken)?;
    }
    let file = out
        .into_inner()
        .map_err(|e| Error::io("appending to", path, e.into_error()))?;
    file.sync_all()
        .map_err(|e| Error::io("appending to", path, e))
}

/// Copies `path` to `path.1` before it is overwritten, shifting older copies up to `keep`.
pub fn rotate_backups(path: &Path, keep: usize) -> Result<()> {
    if keep == 0 || !path.exists() {
        return Ok(());
    }
    for n in (1..keep).rev() {
        let from = numbered(path, n);
        if from.exists() {
            fs::rename(&from, numbered(path, n + 1))
                .map_err(|e| Error::io("rotating", &from, e))?;
        }
    }
    let first = numbered(path, 1);
    fs::copy(path, &first).map_err(|e| Error::io("backing up", path, e))?;
    Ok(())
}

/// Makes a secrets file private (0600). A file that group or others can read is tightened
/// when this process may change its mode (its owner), and `Ok(true)` says it was: it may
/// have been read meanwhile. One whose mode cannot be changed is refused, naming the
/// `chmod` to run.
pub fn tighten_private(path: &Path) -> Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path).map_err(|e| Error::io("reading", path, e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return Ok(false);
        }
        if fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o700)).is_err() {
            return Err(Error::Other(format!(
                "{} is readable by others (mode {mode:o}) and jutsu cannot change that (is it \
                 another user's file?); it holds secrets: run `chmod 600 {}` as its owner",
                path.display(),
                path.display()
            )));
        }
        return Ok(true);
    }
    #[allow(unreachable_code)]
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_backups_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        write_atomic(&p, b"one", false).unwrap();
        rotate_backups(&p, 2).unwrap();
        write_atomic(&p, b"two", false).unwrap();
        rotate_backups(&p, 2).unwrap();
        write_atomic(&p, b"three", false).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "three");
        assert_eq!(
            fs::read_to_string(dir.path().join("s.json.1")).unwrap(),
            "two"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("s.json.2")).unwrap(),
            "one"
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".tmp")
            })
            .collect();
        assert!(leftovers.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_0600_and_open_ones_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token.json");
        write_atomic(&p, b"{}", true).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!tighten_private(&p).unwrap());
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(tighten_private(&p).unwrap(), "an open file is tightened");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

/// FNV-1a, 64 bits: a checksum that detects torn or edited files (not a security measure).
pub fn checksum(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// How a sealed file was read.
#[derive(Debug)]
pub enum Sealed<T> {
    /// No file.
    Missing,
    /// Read and verified.
    Good(T),
    /// The file was damaged; the newest good backup was put back in its place.
    Restored {
        /// The value of the backup.
        value: T,
        /// The backup used.
        from: PathBuf,
        /// What was wrong with the file.
        problem: String,
    },
}

impl<T> Sealed<T> {
    /// The value read, good or restored from a backup; `None` when there is no file.
    pub fn into_value(self) -> Option<T> {
        match self {
            Sealed::Missing => None,
            Sealed::Good(value) | Sealed::Restored { value, .. } => Some(value),
        }
    }
}

fn seal_text<T: serde::Serialize>(value: &T) -> Result<String> {
    let mut json =
        serde_json::to_value(value).map_err(|e| Error::Other(format!("encoding: {e}")))?;
    let body = serde_json::to_string(&json).map_err(|e| Error::Other(format!("encoding: {e}")))?;
    if let serde_json::Value::Object(map) = &mut json {
        map.insert("checksum".into(), checksum(body.as_bytes()).into());
    }
    serde_json::to_string_pretty(&json).map_err(|e| Error::Other(format!("encoding: {e}")))
}

/// Why a sealed file could not be used.
enum Damage {
    /// Unreadable, not JSON, the wrong content, or a checksum that fails on a file that does
    /// not read as a valid value: a torn or damaged file.
    Damaged(String),
    /// Valid content whose checksum does not match: somebody edited it by hand.
    Edited,
}

fn unseal<T: serde::de::DeserializeOwned>(path: &Path) -> std::result::Result<T, Damage> {
    let text = fs::read_to_string(path).map_err(|e| Damage::Damaged(e.to_string()))?;
    let mut json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Damage::Damaged(format!("not valid JSON ({e})")))?;
    let mut intact = true;
    if let serde_json::Value::Object(map) = &mut json {
        if let Some(stored) = map.remove("checksum") {
            let body = serde_json::to_string(&json).map_err(|e| Damage::Damaged(e.to_string()))?;
            intact = stored.as_str() == Some(checksum(body.as_bytes()).as_str());
        }
    }
    match serde_json::from_value(json) {
        Ok(value) if intact => Ok(value),
        Ok(_) => Err(Damage::Edited),
        Err(_) if !intact => Err(Damage::Damaged(
            "its checksum does not match its content".into(),
        )),
        Err(e) => Err(Damage::Damaged(format!("unexpected content ({e})"))),
    }
}

/// Writes `value` as JSON with a checksum, atomically. A file that already holds exactly
/// this is left alone (no rewrite, no new modification time). Backups are taken apart, at
/// the start of a run ([`backup_sealed`]).
pub fn write_sealed<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    write_sealed_with(path, value, true).map(|_| ())
}

/// [`write_sealed`] without the fsyncs: atomic, not yet durable (see [`write_replacing`]).
/// For records that a later synced write of the same file makes durable (a run's stage
/// records before its first send) and for caches a loss of which costs only time.
pub fn write_sealed_unsynced<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    write_sealed_with(path, value, false).map(|_| ())
}

/// [`write_sealed`] or [`write_sealed_unsynced`]; whether the file was written (false:
/// it already held exactly this).
pub fn write_sealed_with<T: serde::Serialize>(path: &Path, value: &T, sync: bool) -> Result<bool> {
    let text = seal_text(value)?;
    if fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    write_replacing(path, text.as_bytes(), false, sync).map(|()| true)
}

/// Makes an existing file's content and name durable (fsync of the file, then its folder):
/// for a file last written by [`write_sealed_unsynced`] that a synced write left alone.
pub fn sync_existing(path: &Path) -> Result<()> {
    let sync = || -> std::io::Result<()> {
        File::open(path)?.sync_all()?;
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    };
    sync().map_err(|e| Error::io("syncing", path, e))
}

fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Backs up a sealed file before a run changes it (`path.1`, older copies shifted up to
/// `keep`). Only an intact file is backed up, and only when it differs from the newest
/// backup, so the backups are distinct states from the starts of runs, never a half-done
/// rebalance.
pub fn backup_sealed<T: serde::de::DeserializeOwned>(path: &Path, keep: usize) -> Result<()> {
    if keep == 0 || unseal::<T>(path).is_err() {
        return Ok(());
    }
    let current = fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    if fs::read(numbered(path, 1)).is_ok_and(|newest| newest == current) {
        return Ok(());
    }
    rotate_backups(path, keep)
}

/// Removes the backups of a file (`path.1` .. `path.keep`), e.g. of a closed session's
/// ledger, which no run will change again.
pub fn remove_backups(path: &Path, keep: usize) -> Result<()> {
    for n in 1..=keep {
        let backup = numbered(path, n);
        if backup.exists() {
            fs::remove_file(&backup).map_err(|e| Error::io("removing", &backup, e))?;
        }
    }
    Ok(())
}

/// Reads a sealed file. A damaged one (unreadable, bad JSON, unexpected content) is
/// replaced by its newest good backup; with no good backup it is an error naming the
/// problem. A file that reads as a valid value but whose checksum does not match was edited
/// by hand: that is an error too ([`Error::HandEdited`]), never silently undone.
pub fn read_sealed<T: serde::de::DeserializeOwned + serde::Serialize>(
    path: &Path,
    backups: usize,
) -> Result<Sealed<T>> {
    if !path.exists() {
        return Ok(Sealed::Missing);
    }
    let problem = match unseal::<T>(path) {
        Ok(value) => return Ok(Sealed::Good(value)),
        Err(Damage::Edited) => {
            return Err(Error::HandEdited {
                path: path.to_path_buf(),
            })
        }
        Err(Damage::Damaged(problem)) => problem,
    };
    match restore_from_backup::<T>(path, backups, ".damaged")? {
        Some((value, from)) => {
            tracing::warn!(
                file = %path.display(),
                backup = %from.display(),
                "{problem}: restored from the backup"
            );
            Ok(Sealed::Restored {
                value,
                from,
                problem,
            })
        }
        None => Err(Error::Corrupt {
            path: path.to_path_buf(),
            problem,
        }),
    }
}

/// Puts the newest good backup of `path` in its place, keeping the file it replaces as
/// `path<aside>`. `None` when no backup is good.
fn restore_from_backup<T: serde::de::DeserializeOwned + serde::Serialize>(
    path: &Path,
    backups: usize,
    aside: &str,
) -> Result<Option<(T, PathBuf)>> {
    for n in 1..=backups {
        let backup = numbered(path, n);
        if let Ok(value) = unseal::<T>(&backup) {
            if path.exists() {
                fs::copy(path, beside(path, aside)).map_err(|e| Error::io("copying", path, e))?;
            }
            write_atomic(path, seal_text(&value)?.as_bytes(), false)?;
            return Ok(Some((value, backup)));
        }
    }
    Ok(None)
}

/// The newest good backup of `path` (`path.1` .. `path.backups`) and its file, read only:
/// what a missing file is recovered from.
pub fn newest_backup<T: serde::de::DeserializeOwned>(
    path: &Path,
    backups: usize,
) -> Option<(T, PathBuf)> {
    (1..=backups).find_map(|n| {
        let backup = numbered(path, n);
        unseal::<T>(&backup).ok().map(|value| (value, backup))
    })
}

/// What a sealed file is found to be by a command that only reads (nothing is restored).
#[derive(Debug)]
pub enum Inspected<T> {
    /// No file.
    Missing,
    /// Read and verified.
    Good(T),
    /// Damaged (torn, not JSON, wrong content): what is wrong, and the backup the next run
    /// that reads it will restore, if one is good.
    Damaged {
        /// What is wrong.
        problem: String,
        /// The newest good backup.
        backup: Option<PathBuf>,
    },
    /// Valid content whose checksum does not match: edited by hand.
    Edited,
}

/// Reads a sealed file without changing anything: what [`read_sealed`] would find.
pub fn inspect_sealed<T: serde::de::DeserializeOwned>(path: &Path, backups: usize) -> Inspected<T> {
    if !path.exists() {
        return Inspected::Missing;
    }
    match unseal::<T>(path) {
        Ok(value) => Inspected::Good(value),
        Err(Damage::Edited) => Inspected::Edited,
        Err(Damage::Damaged(problem)) => Inspected::Damaged {
            problem,
            backup: newest_backup::<T>(path, backups).map(|(_, from)| from),
        },
    }
}

/// Reads a sealed file as the next run will find it, without changing anything: a damaged
/// file as its newest good backup (left where it is); `None` when absent. A hand edit, or
/// damage past every backup, is an error naming the file.
pub fn read_sealed_only<T: serde::de::DeserializeOwned>(
    path: &Path,
    backups: usize,
) -> Result<Option<T>> {
    match inspect_sealed::<T>(path, backups) {
        Inspected::Missing => Ok(None),
        Inspected::Good(value) => Ok(Some(value)),
        Inspected::Damaged { problem, .. } => newest_backup::<T>(path, backups)
            .map(|(value, _)| Some(value))
            .ok_or_else(|| Error::Corrupt {
                path: path.to_path_buf(),
                problem,
            }),
        Inspected::Edited => Err(Error::HandEdited {
            path: path.to_path_buf(),
        }),
    }
}

/// A sealed file's value when it is there, intact and of the expected form; None otherwise,
/// whatever the problem (for a cache, which is only ever a shortcut: nothing is restored,
/// nothing is reported).
pub fn read_sealed_if_intact<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    if !path.exists() {
        return None;
    }
    unseal::<T>(path).ok()
}

/// True when a sealed file reads as a valid value and its checksum matches (or it has none).
pub fn is_intact<T: serde::de::DeserializeOwned>(path: &Path) -> bool {
    unseal::<T>(path).is_ok()
}

/// `jutsu state restore`: replaces a file (hand-edited or damaged) by its newest good
/// backup, keeping it as `path.edited`; returns the backup used.
pub fn restore_sealed<T: serde::de::DeserializeOwned + serde::Serialize>(
    path: &Path,
    backups: usize,
) -> Result<PathBuf> {
    restore_from_backup::<T>(path, backups, ".edited")?
        .map(|(_, from)| from)
        .ok_or_else(|| {
            Error::Usage(format!(
                "{} has no good backup to restore (looked at {} .. {})",
                path.display(),
                numbered(path, 1).display(),
                numbered(path, backups).display()
            ))
        })
}

/// `jutsu state accept`: seals a hand-edited file as it now reads, once its content is a
/// valid value of its kind (the edit is checked, not trusted).
pub fn accept_sealed<T: serde::de::DeserializeOwned + serde::Serialize>(
    path: &Path,
    problems: impl Fn(&T) -> Vec<String>,
) -> Result<T> {
    let text = fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    let mut json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("{} is not valid JSON: {e}", path.display())))?;
    if let serde_json::Value::Object(map) = &mut json {
        map.remove("checksum");
    }
    let value: T = serde_json::from_value(json).map_err(|e| {
        Error::Usage(format!(
            "{} does not read as a valid file of its kind ({e}): fix the edit or restore",
            path.display()
        ))
    })?;
    // The shape is right; the values must be too (no negative share count, no cash that
    // is not a number of cents), or nothing is sealed.
    let found = problems(&value);
    if !found.is_empty() {
        return Err(Error::Usage(format!(
            "{} reads as its kind of file but its values are wrong, so it was not sealed: {}. \
             Fix the edit, or undo it with `jutsu state restore {}`",
            path.display(),
            found.join("; "),
            path.display()
        )));
    }
    write_atomic(path, seal_text(&value)?.as_bytes(), false)?;
    Ok(value)
}

#[cfg(test)]
mod sealed_tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Doc {
        n: u32,
    }

    #[test]
    fn damaged_file_is_restored_from_the_newest_good_backup() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        write_sealed(&p, &Doc { n: 1 }).unwrap();
        backup_sealed::<Doc>(&p, 3).unwrap();
        write_sealed(&p, &Doc { n: 2 }).unwrap();
        assert!(matches!(
            read_sealed::<Doc>(&p, 3).unwrap(),
            Sealed::Good(Doc { n: 2 })
        ));
        // A torn write: restored from the backup.
        fs::write(&p, "{\"n\": ").unwrap();
        match read_sealed::<Doc>(&p, 3).unwrap() {
            Sealed::Restored { value, problem, .. } => {
                assert_eq!(value, Doc { n: 1 });
                assert!(problem.contains("not valid JSON"), "{problem}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read_sealed::<Doc>(&p, 3).unwrap(),
            Sealed::Good(Doc { n: 1 })
        ));
        // Torn write, no backups: an error that names the file.
        let q = dir.path().join("t.json");
        fs::write(&q, "{\"n\": ").unwrap();
        let err = read_sealed::<Doc>(&q, 3).unwrap_err().to_string();
        assert!(
            err.contains("t.json") && err.contains("not valid JSON"),
            "{err}"
        );
    }

    #[test]
    fn a_hand_edit_is_refused_then_accepted_or_restored_never_silently_undone() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        write_sealed(&p, &Doc { n: 1 }).unwrap();
        backup_sealed::<Doc>(&p, 3).unwrap();
        let edit = || {
            let text = fs::read_to_string(&p)
                .unwrap()
                .replace("\"n\": 1", "\"n\": 7");
            fs::write(&p, text).unwrap();
        };
        edit();
        let err = read_sealed::<Doc>(&p, 3).unwrap_err();
        assert!(matches!(err, Error::HandEdited { .. }), "{err}");
        assert!(
            fs::read_to_string(&p).unwrap().contains("\"n\": 7"),
            "left as edited"
        );
        assert_eq!(
            accept_sealed(&p, |_: &Doc| Vec::new()).unwrap(),
            Doc { n: 7 }
        );
        assert!(matches!(
            read_sealed::<Doc>(&p, 3).unwrap(),
            Sealed::Good(Doc { n: 7 })
        ));
        // Edit again and restore instead: the backup comes back, the edit is kept aside.
        let text = fs::read_to_string(&p)
            .unwrap()
            .replace("\"n\": 7", "\"n\": 9");
        fs::write(&p, text).unwrap();
        restore_sealed::<Doc>(&p, 3).unwrap();
        assert!(matches!(
            read_sealed::<Doc>(&p, 3).unwrap(),
            Sealed::Good(Doc { n: 1 })
        ));
        assert!(fs::read_to_string(dir.path().join("s.json.edited"))
            .unwrap()
            .contains("9"));
        // Values a check refuses are not sealed: the file stays as edited.
        std::fs::write(&p, r#"{"n": 9}"#).unwrap();
        let refused = accept_sealed(&p, |d: &Doc| match d.n {
            9 => vec!["n is 9".to_string()],
            _ => Vec::new(),
        });
        assert!(refused.unwrap_err().to_string().contains("n is 9"));
        assert_eq!(fs::read_to_string(&p).unwrap(), r#"{"n": 9}"#);
    }

    #[test]
    fn unchanged_content_is_not_rewritten_and_backups_are_distinct_states() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        write_sealed(&p, &Doc { n: 1 }).unwrap();
        let before = fs::metadata(&p).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_sealed(&p, &Doc { n: 1 }).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().modified().unwrap(), before);
        for _ in 0..3 {
            backup_sealed::<Doc>(&p, 3).unwrap();
        }
        assert!(dir.path().join("s.json.1").exists());
        assert!(
            !dir.path().join("s.json.2").exists(),
            "the same state is backed up once"
        );
        write_sealed(&p, &Doc { n: 2 }).unwrap();
        backup_sealed::<Doc>(&p, 3).unwrap();
        assert!(dir.path().join("s.json.2").exists());
        remove_backups(&p, 3).unwrap();
        assert!(!dir.path().join("s.json.1").exists());
    }
}
