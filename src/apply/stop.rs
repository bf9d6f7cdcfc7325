//! The stop request a Ctrl-C makes, shared by every rollout and by the lock that ends an apply.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Set on Ctrl-C: rollouts stop launching, finish the drains in flight and return.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
