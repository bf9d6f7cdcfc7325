//! One apply per stack at a time: an exclusive lock on a file beside the stack.
//!
//! The lock is an OS file lock, so it is released when its holder exits, even by kill -9; the
//! file's content only says who holds it, for the message a second apply prints.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub who: String,
    pub pid: u32,
    pub command: String,
    /// RFC 3339.
    pub since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (pid {}, `{}`, since {})",
            self.who, self.pid, self.command, self.since
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "stack {stack} is locked by {holder}; wait for it to finish. If that process is \
         gone and the lock remains, run `reroll force-unlock {stack_path}`"
    )]
    Held {
        stack: String,
        holder: Box<Holder>,
        stack_path: String,
    },
    #[error("cannot use the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct StackLock {
    file: File,
    path: PathBuf,
}

/// Where the lock of a stack lives: `.reroll/` beside the stack's files. `key` names the
/// stack and where it is applied (region, endpoint): one stack applied to two regions is two
/// independent locks.
pub fn lock_path(stack_path: &Path, key: &str) -> PathBuf {
    let dir = if stack_path.is_dir() {
        stack_path.to_path_buf()
    } else {
        stack_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    };
    let clean: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let clean: String = clean
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let hash = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes())[..4]);
    dir.join(".reroll")
        .join(format!("{}-{hash}.lock", &clean[..clean.len().min(60)]))
}

fn this_host() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown-host".into());
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("{user}@{host}")
}

/// Takes the lock or says who holds it.
pub fn acquire(stack_path: &Path, key: &str, command: &str) -> Result<StackLock, LockError> {
    let path = lock_path(stack_path, key);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            file.read_to_string(&mut text).map_err(io)?;
            let holder = serde_json::from_str(&text).unwrap_or(Holder {
                who: "another process".into(),
                pid: 0,
                command: "unknown".into(),
                since: "unknown".into(),
            });
            return Err(LockError::Held {
                stack: key.into(),
                holder: Box::new(holder),
                stack_path: stack_path.display().to_string(),
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    let holder = Holder {
        who: this_host(),
        pid: std::process::id(),
        command: command.into(),
        since: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    };
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(
        serde_json::to_string(&holder)
            .expect("holder serializes")
            .as_bytes(),
    )
    .map_err(io)?;
    file.flush().map_err(io)?;
    Ok(StackLock { file, path })
}

/// Removes a lock file, whoever holds it. Returns whether there was one.
pub fn force_unlock(stack_path: &Path, key: &str) -> Result<bool, LockError> {
    let path = lock_path(stack_path, key);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(LockError::Io { path, source }),
    }
}

impl Drop for StackLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
        let _ = &self.path;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_holders_name() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "shop", "reroll apply").unwrap();
        let err = acquire(dir.path(), "shop", "reroll apply").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("is locked by"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("force-unlock"), "{msg}");
        // Another stack is another lock.
        let _other = acquire(dir.path(), "cart", "reroll apply").unwrap();
        drop(first);
        let _again = acquire(dir.path(), "shop", "reroll apply").unwrap();
    }
}
