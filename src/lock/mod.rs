//! One apply per stack at a time.
//!
//! A lock is keyed on what an apply changes: the stack, the region and the AWS account
//! ([`LockKey`]), never on how the account was spelled: `http://localhost:4566` and
//! `http://127.0.0.1:4566` are one lock. (Emulators all answer with the same account id, so
//! behind an endpoint override the local lock also tells endpoints apart by where they are,
//! [`endpoint_identity`].) It lives in one of two places:
//!
//! - [`local`]: an OS file lock in `.reroll/` beside the stack (the default). The OS releases
//!   it when its holder exits, even by kill -9; it excludes processes on one machine only.
//! - [`s3`]: an object in S3 written with conditional requests (`stack { lock = "s3://…" }` or
//!   `--lock`), for teams and CI runners on many machines. Its holder renews a lease while it
//!   runs; a lease that is not renewed in time is reported as stale, and removed only by a
//!   person with `reroll force-unlock PATH LOCK_ID`.
//!
//! Both record who holds the lock ([`LockRecord`]) for the message a refused command prints.

pub mod local;
mod record;
pub mod s3;

use std::sync::Arc;

pub use self::record::{
    endpoint_identity, human, Clock, LockError, LockKey, LockLost, LockRecord, LostReason, Place,
    Refusal, Unlocked,
};
pub use crate::stack::lock::{self as url, LockSetting, LockUrl, LockUrlError};

/// A lock this command holds, wherever it lives.
#[derive(Debug)]
pub enum Held {
    Local(local::LocalLock),
    S3(Box<s3::S3Lock>),
}

impl Held {
    pub fn record(&self) -> &LockRecord {
        match self {
            Held::Local(l) => l.record(),
            Held::S3(l) => l.record(),
        }
    }

    /// Set (once) when the lock is lost while held: the command has been asked to stop.
    pub fn lost(&self) -> Option<tokio::sync::watch::Receiver<Option<Arc<LockLost>>>> {
        match self {
            Held::Local(_) => None,
            Held::S3(l) => Some(l.lost()),
        }
    }

    /// Gives the lock up. A lock lost while held is not an error here: [`Held::lost`] told.
    pub async fn release(self) -> Result<(), LockError> {
        match self {
            Held::Local(l) => {
                drop(l);
                Ok(())
            }
            Held::S3(l) => l.release().await,
        }
    }
}
