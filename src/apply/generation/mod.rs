//! The lifecycle of a new generation that every strategy shares: prepared (created, or found
//! when resumed), the scaling processes that would fight it suspended, looked at round after
//! round (one classification of health), then finished (retire, retention) or failed (roll
//! back or pause), or abandoned when the stack withdrew it.

mod fail;
mod finish;
mod look;
mod pair;

pub use self::fail::abandon;
pub(crate) use self::fail::{fail, mark_removed, remember_failure, serves_again, Removal};
pub(crate) use self::finish::{complete, finish};
pub(crate) use self::look::{look, Bounds, Failure, Look};
pub(crate) use self::pair::{
    hook_context, old_back_in_service, parse_from, prepare, reconfigure, suspend_both, Pair,
    SUSPEND_NEW, SUSPEND_OLD,
};
