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

/// The files one load has read, shared by every evaluation of it (clones share it).
#[derive(Debug, Clone, Default)]
pub struct FileSnapshot(Arc<Mutex<BTreeMap<PathBuf, Entry>>>);

impl PartialEq for FileSnapshot {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.entries() == *other.entries()
    }
}

impl FileSnapshot {
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
        let missing = dir.path().join("nope");
        assert_eq!(snap.get(&missing), Entry::Missing);
        std::fs::write(&missing, "late").unwrap();
        assert_eq!(snap.get(&missing), Entry::Missing, "absence is kept too");
        assert_eq!(snap.get(dir.path()), Entry::Directory);
        // Without a snapshot installed, reads go to the disk.
        assert_eq!(read(&path), Entry::File(b"v2".to_vec().into()));
    }
}
