//! Durable file writes: temp file in the same folder, fsync, rename, fsync of the folder;
//! rotating backups; private (0600) files for secrets.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically: readers see the old content or the new, never a
/// mix. With `private`, the file is created with mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
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
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io("writing", path, e)
    })
}

/// Appends `rows` (each a line without its newline) to a CSV file, writing `header` first
/// when the file is new; synced before returning.
pub fn append_csv(path: &Path, header: &str, rows: &[String]) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    }
    let new = !path.exists();
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io("opening", path, e))?;
    let mut text = String::new();
    if new {
        text.push_str(header);
        text.push('\n');
    }
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| Error::io("appending to", path, e))
}

/// Copies `path` to `path.1` before it is overwritten, shifting older copies up to `keep`.
pub fn rotate_backups(path: &Path, keep: usize) -> Result<()> {
    if keep == 0 || !path.exists() {
        return Ok(());
    }
    let numbered = |n: usize| -> PathBuf {
        let mut s = path.as_os_str().to_owned();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    };
    for n in (1..keep).rev() {
        let from = numbered(n);
        if from.exists() {
            fs::rename(&from, numbered(n + 1)).map_err(|e| Error::io("rotating", &from, e))?;
        }
    }
    let first = numbered(1);
    fs::copy(path, &first).map_err(|e| Error::io("backing up", path, e))?;
    Ok(())
}

/// Refuses a file that group or others can read (secrets must be 0600).
pub fn ensure_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path).map_err(|e| Error::io("reading", path, e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::Other(format!(
                "{} is readable by others (mode {mode:o}); it holds secrets: run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
    }
    Ok(())
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
    fn private_files_are_0600_and_open_ones_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token.json");
        write_atomic(&p, b"{}", true).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        ensure_private(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let err = ensure_private(&p).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
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

fn seal_text<T: serde::Serialize>(value: &T) -> Result<String> {
    let mut json =
        serde_json::to_value(value).map_err(|e| Error::Other(format!("encoding: {e}")))?;
    let body = serde_json::to_string(&json).map_err(|e| Error::Other(format!("encoding: {e}")))?;
    if let serde_json::Value::Object(map) = &mut json {
        map.insert("checksum".into(), checksum(body.as_bytes()).into());
    }
    serde_json::to_string_pretty(&json).map_err(|e| Error::Other(format!("encoding: {e}")))
}

fn unseal<T: serde::de::DeserializeOwned>(path: &Path) -> std::result::Result<T, String> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("not valid JSON ({e})"))?;
    if let serde_json::Value::Object(map) = &mut json {
        if let Some(stored) = map.remove("checksum") {
            let body = serde_json::to_string(&json).map_err(|e| e.to_string())?;
            if stored.as_str() != Some(checksum(body.as_bytes()).as_str()) {
                return Err("its checksum does not match its content".into());
            }
        }
    }
    serde_json::from_value(json).map_err(|e| format!("unexpected content ({e})"))
}

/// Writes `value` as JSON with a checksum, atomically, keeping `backups` older copies.
pub fn write_sealed<T: serde::Serialize>(path: &Path, value: &T, backups: usize) -> Result<()> {
    let text = seal_text(value)?;
    rotate_backups(path, backups)?;
    write_atomic(path, text.as_bytes(), false)
}

/// Reads a sealed file. A damaged one (unreadable, bad JSON, wrong checksum, unexpected
/// content) is replaced by its newest good backup; with no good backup it is an error
/// naming the problem.
pub fn read_sealed<T: serde::de::DeserializeOwned + serde::Serialize>(
    path: &Path,
    backups: usize,
) -> Result<Sealed<T>> {
    if !path.exists() {
        return Ok(Sealed::Missing);
    }
    let problem = match unseal::<T>(path) {
        Ok(value) => return Ok(Sealed::Good(value)),
        Err(problem) => problem,
    };
    for n in 1..=backups {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        let backup = PathBuf::from(name);
        if let Ok(value) = unseal::<T>(&backup) {
            let damaged = {
                let mut name = path.as_os_str().to_owned();
                name.push(".damaged");
                PathBuf::from(name)
            };
            let _ = fs::copy(path, &damaged);
            write_atomic(path, seal_text(&value)?.as_bytes(), false)?;
            tracing::warn!(
                file = %path.display(),
                backup = %backup.display(),
                "{problem}: restored from the backup"
            );
            return Ok(Sealed::Restored {
                value,
                from: backup,
                problem,
            });
        }
    }
    Err(Error::Corrupt {
        path: path.to_path_buf(),
        problem,
    })
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
        write_sealed(&p, &Doc { n: 1 }, 3).unwrap();
        write_sealed(&p, &Doc { n: 2 }, 3).unwrap();
        assert!(matches!(
            read_sealed::<Doc>(&p, 3).unwrap(),
            Sealed::Good(Doc { n: 2 })
        ));
        // An edit that keeps the JSON valid but breaks the checksum.
        let text = fs::read_to_string(&p)
            .unwrap()
            .replace("\"n\": 2", "\"n\": 3");
        fs::write(&p, text).unwrap();
        match read_sealed::<Doc>(&p, 3).unwrap() {
            Sealed::Restored { value, problem, .. } => {
                assert_eq!(value, Doc { n: 1 });
                assert!(problem.contains("checksum"), "{problem}");
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
}
