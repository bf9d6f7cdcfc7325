//! The local lock: an exclusive OS lock on a file in `.reroll/` beside the stack.
//!
//! The OS releases it when its holder exits, even by kill -9, so it is never stale; the file's
//! content ([`LockRecord`]) only says who holds it. The file is never deleted (deleting a file
//! another process holds would let a third lock a new one beside it): `force_unlock` refuses
//! while a process holds the lock, and otherwise only clears the last holder's record.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::record::{short_hash, Clock, LockError, LockKey, LockRecord, Place, Refusal, Unlocked};

/// A held local lock; released on drop.
#[derive(Debug)]
pub struct LocalLock {
    file: File,
    record: LockRecord,
}

impl LocalLock {
    pub fn record(&self) -> &LockRecord {
        &self.record
    }
}

/// Where the lock of a stack lives: `.reroll/` beside the stack's files, one file per key.
pub fn lock_path(stack_path: &Path, key: &LockKey) -> PathBuf {
    let dir = if stack_path.is_dir() {
        stack_path.to_path_buf()
    } else {
        stack_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    };
    let mut name = format!("{}-{}-{}", key.stack, key.region, key.account);
    if key.sim_state.is_some() {
        name.push_str("-sim");
    }
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let clean: String = clean
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let hash = short_hash(&format!("{key:?}"));
    dir.join(".reroll")
        .join(format!("{}-{hash}.lock", &clean[..clean.len().min(80)]))
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> LockError + '_ {
    move |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.read(true).write(true).truncate(false);
    options
}

/// The lock file, created (with its directory) if needed.
fn open_or_create(path: &Path) -> Result<File, LockError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_error(path))?;
    }
    options().create(true).open(path).map_err(io_error(path))
}

/// The lock file, if there is one.
fn open_existing(path: &Path) -> Result<Option<File>, LockError> {
    match options().open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path)(e)),
    }
}

fn read_record(file: &mut File, path: &Path) -> Result<Option<LockRecord>, LockError> {
    let mut text = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut text))
        .map_err(io_error(path))?;
    Ok(LockRecord::from_json(&text))
}

/// A stand-in for a holder that has not written its record yet (it is between taking the OS
/// lock and writing), or wrote one this version cannot read.
fn unknown_holder(clock: &Clock) -> LockRecord {
    LockRecord {
        id: "unknown".into(),
        holder: "another process".into(),
        host: "unknown".into(),
        pid: 0,
        command: "unknown".into(),
        started: clock.now(),
        renewed: clock.now(),
        lease: None,
    }
}

/// Takes the lock or says who holds it.
pub fn acquire(stack_path: &Path, key: &LockKey, command: &str) -> Result<LocalLock, LockError> {
    let clock = Clock::new();
    let path = lock_path(stack_path, key);
    let io = io_error(&path);
    let mut file = open_or_create(&path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let record = read_record(&mut file, &path)?.unwrap_or_else(|| unknown_holder(&clock));
            return Err(LockError::Held(Box::new(Refusal {
                key: key.to_string(),
                record,
                place: Place::File(path.clone()),
                now: clock.now(),
                stack_path: stack_path.display().to_string(),
            })));
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    let record = LockRecord::new(command, clock.now(), None);
    file.set_len(0).map_err(&io)?;
    file.seek(SeekFrom::Start(0)).map_err(&io)?;
    file.write_all(record.to_json().as_bytes()).map_err(&io)?;
    file.flush().map_err(&io)?;
    Ok(LocalLock { file, record })
}

/// Clears a lock nobody holds; refuses while a live process holds it (naming it), and when
/// `id` is given but is not the id of the last holder.
pub fn force_unlock(
    stack_path: &Path,
    key: &LockKey,
    id: Option<&str>,
) -> Result<Unlocked, LockError> {
    let clock = Clock::new();
    let path = lock_path(stack_path, key);
    let place = Place::File(path.clone());
    let Some(mut file) = open_existing(&path)? else {
        return Ok(Unlocked::Nothing { place });
    };
    let io = io_error(&path);
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let record = read_record(&mut file, &path)?.unwrap_or_else(|| unknown_holder(&clock));
            return Err(LockError::LiveHolder {
                key: key.to_string(),
                record: Box::new(record),
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    let record = read_record(&mut file, &path)?;
    if let (Some(given), Some(record)) = (id, &record) {
        if given != record.id {
            return Err(LockError::WrongId {
                key: key.to_string(),
                given: given.into(),
                record: Box::new(record.clone()),
                stack_path: stack_path.display().to_string(),
            });
        }
    }
    file.set_len(0).map_err(&io)?;
    let _ = file.unlock();
    Ok(match record {
        None => Unlocked::Nothing { place },
        Some(record) => Unlocked::Removed {
            place,
            record: Some(Box::new(record)),
            live: false,
        },
    })
}

impl Drop for LocalLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(stack: &str) -> LockKey {
        LockKey::new(stack, "us-east-1", "123456789012")
    }

    #[test]
    fn second_holder_is_refused_with_the_first_holders_name_and_id() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), &key("shop"), "reroll apply").unwrap();
        let err = acquire(dir.path(), &key("shop"), "reroll apply").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("is locked by"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("lock id {}", first.record().id)),
            "{msg}"
        );
        // Another stack, region or account is another lock.
        let _other = acquire(dir.path(), &key("cart"), "reroll apply").unwrap();
        let _region = acquire(
            dir.path(),
            &LockKey::new("shop", "eu-west-1", "123456789012"),
            "reroll apply",
        )
        .unwrap();
        let _account = acquire(
            dir.path(),
            &LockKey::new("shop", "us-east-1", "210987654321"),
            "reroll apply",
        )
        .unwrap();
        drop(first);
        let again = acquire(dir.path(), &key("shop"), "reroll apply").unwrap();
        assert_eq!(again.record().pid, std::process::id());
    }

    #[test]
    fn force_unlock_refuses_while_held_and_clears_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            force_unlock(dir.path(), &key("shop"), None),
            Ok(Unlocked::Nothing { .. })
        ));
        let held = acquire(dir.path(), &key("shop"), "reroll apply").unwrap();
        let id = held.record().id.clone();
        let err = force_unlock(dir.path(), &key("shop"), Some(&id)).unwrap_err();
        assert!(matches!(err, LockError::LiveHolder { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("held by a live process"), "{msg}");
        // Still held, still refusing others.
        assert!(acquire(dir.path(), &key("shop"), "reroll apply").is_err());
        drop(held);
        // Nobody holds it: clearing is harmless, and the file stays (never deleted).
        assert!(matches!(
            force_unlock(dir.path(), &key("shop"), None),
            Ok(Unlocked::Nothing { .. })
        ));
        assert!(lock_path(dir.path(), &key("shop")).exists());
        acquire(dir.path(), &key("shop"), "reroll apply").unwrap();
    }

    #[test]
    fn a_record_left_by_a_dead_holder_needs_its_own_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), &key("shop"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let dead = LockRecord::new("reroll apply", Clock::new().now(), None);
        std::fs::write(&path, dead.to_json()).unwrap();
        let err = force_unlock(dir.path(), &key("shop"), Some("nope")).unwrap_err();
        assert!(
            err.to_string().contains(&format!("that is {}", dead.id)),
            "{err}"
        );
        match force_unlock(dir.path(), &key("shop"), Some(&dead.id)).unwrap() {
            Unlocked::Removed { record, .. } => assert_eq!(record.unwrap().id, dead.id),
            other => panic!("{other:?}"),
        }
    }
}
