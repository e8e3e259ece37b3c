//! One run at a time: an OS file lock on `state/jutsu.lock`. The lock dies with its process,
//! so a lock file left by a crash is never in the way; its text only says who held it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

use crate::support::error::{Error, Result};

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock at once or fails naming the holder.
    pub fn acquire(path: &Path, what: &str) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io("opening", path, e))?;
        match file.try_lock_exclusive() {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(Error::Locked(format!(
                    "another jutsu run holds {} ({}); this one stops without doing anything",
                    path.display(),
                    holder.trim()
                )));
            }
        }
        let note = format!(
            "pid {} since {} ({what})",
            std::process::id(),
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        );
        let write = |f: &mut File| -> std::io::Result<()> {
            f.set_len(0)?;
            f.seek(SeekFrom::Start(0))?;
            f.write_all(note.as_bytes())?;
            f.sync_all()
        };
        write(&mut file).map_err(|e| Error::io("writing", path, e))?;
        Ok(RunLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = FileExt::unlock(&self.file);
    }
}

/// Who holds the lock at `path`, if anyone (for `health`): `Some(holder)` when a live
/// process holds it, `None` when it is free (a leftover file from a crash is free).
pub fn holder(path: &Path) -> Option<String> {
    let mut file = OpenOptions::new().read(true).write(true).open(path).ok()?;
    match file.try_lock_exclusive() {
        Ok(true) => {
            let _ = FileExt::unlock(&file);
            None
        }
        _ => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Some(text.trim().to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_ones_pid_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jutsu.lock");
        let first = RunLock::acquire(&path, "trade").unwrap();
        let err = RunLock::acquire(&path, "trade").unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(holder(&path).is_some());
        drop(first);
        assert!(holder(&path).is_none());
        RunLock::acquire(&path, "trade").unwrap();
    }
}
