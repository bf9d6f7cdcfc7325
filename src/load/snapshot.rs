//! What a load read from disk besides the stack's own files: the targets of `file`,
//! `filebase64`, `fileexists` and `templatefile`, and `-var-file`s.
//!
//! The first evaluation of a stack reads each path once and keeps what it found; every later
//! evaluation of the same [`crate::load::Parsed`] (after lookups, after infrastructure was
//! created) sees exactly those bytes. So an edit made while `apply` waits for its `yes` cannot
//! reach what is applied, and a saved plan can digest everything its stack read.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One path as the first read found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File(Arc<[u8]>),
    Directory,
    Missing,
    /// Unreadable for another reason (permissions, …): the message of the error.
    Error(String),
}

/// The files one load has read, shared by every evaluation of it (clones share it), and the
/// directory listings `fileset` took.
#[derive(Debug, Clone, Default)]
pub struct FileSnapshot(
    Arc<Mutex<BTreeMap<PathBuf, Entry>>>,
    Arc<Mutex<BTreeMap<PathBuf, Listing>>>,
);

/// The regular files under a directory, as paths relative to it with `/` between names, in
/// order; or why it could not be listed.
pub type Listing = Result<Arc<[String]>, String>;

impl PartialEq for FileSnapshot {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.entries() == *other.entries()
    }
}

impl FileSnapshot {
    /// The files under `dir` (every level) when it was first listed in this load; at most
    /// `max` of them.
    pub fn list(&self, dir: &Path, max: usize) -> Listing {
        let mut listings = self.1.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = listings.get(dir) {
            return l.clone();
        }
        let listing = walk(dir, max).map(Arc::from);
        listings.insert(dir.to_path_buf(), listing.clone());
        listing
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<PathBuf, Entry>> {
        // A panic while holding the lock cannot leave the map half-written: inserts are atomic.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What `path` held when it was first read in this load.
    pub fn get(&self, path: &Path) -> Entry {
        if let Some(e) = self.entries().get(path) {
            return e.clone();
        }
        // Within the size limit of loading: a larger file is an error, found without reading it.
        let entry = match super::limits::read_file(path) {
            Ok(bytes) => Entry::File(bytes.into()),
            Err(e) if e.kind() == ErrorKind::NotFound => Entry::Missing,
            Err(_) if path.is_dir() => Entry::Directory,
            Err(e) => Entry::Error(e.to_string()),
        };
        self.entries()
            .entry(path.to_path_buf())
            .or_insert(entry)
            .clone()
    }

    /// Every path read, with what it held, in path order.
    pub fn files(&self) -> Vec<(PathBuf, Entry)> {
        self.entries()
            .iter()
            .map(|(p, e)| (p.clone(), e.clone()))
            .collect()
    }
}

fn walk(dir: &Path, max: usize) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, prefix)) = pending.pop() {
        let entries =
            std::fs::read_dir(&path).map_err(|e| format!("cannot list {}: {e}", path.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", path.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = format!("{prefix}{name}");
            let kind = std::fs::metadata(entry.path()).map(|m| m.file_type());
            match kind {
                Ok(k) if k.is_dir() => pending.push((entry.path(), format!("{relative}/"))),
                Ok(k) if k.is_file() => out.push(relative),
                _ => {}
            }
            if out.len() > max {
                return Err(format!("{} holds more than {max} files", dir.display()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Lists `dir` through the snapshot installed with [`with_snapshot`] (see [`FileSnapshot::list`]).
pub fn list(dir: &Path, max: usize) -> Listing {
    CURRENT
        .with_borrow(Clone::clone)
        .unwrap_or_default()
        .list(dir, max)
}

thread_local! {
    static CURRENT: RefCell<Option<FileSnapshot>> = const { RefCell::new(None) };
}

/// Runs `f` with `snapshot` answering every file read of the stack language.
pub fn with_snapshot<R>(snapshot: &FileSnapshot, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<FileSnapshot>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.set(self.0.take());
        }
    }
    let _restore = Restore(CURRENT.replace(Some(snapshot.clone())));
    f()
}

/// Reads `path` through the snapshot installed with [`with_snapshot`], or from disk when
/// there is none (a function called outside a load, as in unit tests).
pub fn read(path: &Path) -> Entry {
    CURRENT
        .with_borrow(Clone::clone)
        .unwrap_or_default()
        .get(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_read_sees_what_the_first_one_saw() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("user-data.yaml");
        std::fs::write(&path, "v1").unwrap();
        let snap = FileSnapshot::default();
        assert_eq!(snap.get(&path), Entry::File(b"v1".to_vec().into()));
        std::fs::write(&path, "v2").unwrap();
        let clone = snap.clone();
        let cases = [
            (
                with_snapshot(&clone, || read(&path)),
                "through the installed snapshot",
            ),
            (snap.get(&path), "through the snapshot itself"),
        ];
        for (entry, how) in cases {
            assert_eq!(entry, Entry::File(b"v1".to_vec().into()), "{how}");
        }
        let listed = snap.list(dir.path(), 10);
        std::fs::write(dir.path().join("later.txt"), "x").unwrap();
        assert_eq!(snap.list(dir.path(), 10), listed, "a listing is kept");
        assert_eq!(listed.unwrap().to_vec(), vec!["user-data.yaml".to_string()]);
        assert!(
            FileSnapshot::default().list(dir.path(), 1).is_err(),
            "over the limit"
        );
        let missing = dir.path().join("nope");
        assert_eq!(snap.get(&missing), Entry::Missing);
        std::fs::write(&missing, "late").unwrap();
        assert_eq!(snap.get(&missing), Entry::Missing, "absence is kept too");
        assert_eq!(snap.get(dir.path()), Entry::Directory);
        // Without a snapshot installed, reads go to the disk.
        assert_eq!(read(&path), Entry::File(b"v2".to_vec().into()));
    }
}
