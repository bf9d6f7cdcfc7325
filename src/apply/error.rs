//! Why apply stopped: the one error type of every phase and strategy.

use crate::cloud::CloudError;

/// Why apply stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Cloud(#[from] CloudError),
    /// The plan asks for something this version cannot carry out; nothing was changed.
    #[error("{0}")]
    Unsupported(String),
    /// New instances did not become healthy; the new generation was removed again.
    #[error("{address}: {message}; the new generation was removed (rolled back)")]
    RolledBack { address: String, message: String },
    /// New instances did not become healthy and were left in place for inspection.
    #[error("{address}: {message}")]
    Paused { address: String, message: String },
    /// A name apply must create is held by a resource it cannot adopt (someone else's, or
    /// a different definition); nothing of that resource was changed.
    #[error("{0}")]
    Taken(String),
    /// Stopped on request (Ctrl-C) at a consistent point; apply again to continue.
    #[error("{address}: {message}")]
    Interrupted { address: String, message: String },
    /// The account changed under the apply, before its rollout began: something the plan
    /// relies on was deleted, retagged or changed outside reroll. Nothing more was changed.
    /// (During a rollout the same is [`ApplyError::Paused`]: it stops part-way.)
    #[error("{resource}: {message}")]
    Changed { resource: String, message: String },
    /// A rollout ended as `outcome` says (`None`: it succeeded), but undoing what it did for
    /// the rollout's sake failed: scaling processes it suspended, instances it released.
    #[error("{}{address}: {message}", .outcome.as_ref().map(|o| format!("{o}; then ")).unwrap_or_default())]
    Cleanup {
        address: String,
        outcome: Option<Box<ApplyError>>,
        message: String,
    },
}

impl ApplyError {
    /// How bad an outcome is, to report the worst of several concurrent ones.
    pub(crate) fn severity(&self) -> u8 {
        match self {
            ApplyError::Paused { .. } => 4,
            ApplyError::Cleanup { outcome, .. } => outcome.as_ref().map_or(4, |o| o.severity()),
            ApplyError::RolledBack { .. } => 3,
            ApplyError::Interrupted { .. } => 2,
            _ => 1,
        }
    }

    /// How a group's change ended, in the words of the summary, the live view and the report.
    pub fn outcome(&self) -> &'static str {
        match self {
            ApplyError::RolledBack { .. } => "rolled back",
            ApplyError::Paused { .. } => "stopped part-way",
            ApplyError::Interrupted { .. } => "interrupted",
            ApplyError::Cleanup {
                outcome: Some(o), ..
            } => o.outcome(),
            ApplyError::Cleanup { outcome: None, .. } => "cleanup failed",
            _ => "failed",
        }
    }

    /// The account changed under a rollout that is under way: it stops part-way.
    pub(crate) fn changed_mid_rollout(address: &str, what: &str, left: &str) -> ApplyError {
        ApplyError::Paused {
            address: address.to_string(),
            message: format!(
                "{what}: the account was changed outside reroll during the rollout. {left} \
                 Look at the account (`reroll status`), then run apply again"
            ),
        }
    }
}
