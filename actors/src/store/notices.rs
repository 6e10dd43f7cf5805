//! Events a Store operation raises inside its transaction (`cap_hit`, `breaker_opened`,
//! `breaker_closed`), held until the transaction's fate is known: emitted after COMMIT, dropped
//! with a savepoint or a batch that rolls back. A log line must never announce a state change
//! the database does not hold.

use std::cell::RefCell;

use crate::events::{event, warn_event};

/// One event owed after COMMIT.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Notice {
    /// The daily cap stopped a claim for the first time this UTC day.
    CapHit { spent_usd: f64, cap_usd: f64, day: String },
    /// The breaker opened, for `reason` (consecutive failures, a failed probe, an auth failure).
    /// `limit`: the `[[limit]]`'s own breaker; `None`: the global one.
    BreakerOpened {
        key: String,
        limit: Option<String>,
        reason: &'static str,
        failures: u32,
        cooldown_ms: i64,
    },
    /// The breaker's probe succeeded.
    BreakerClosed { key: String, limit: Option<String> },
}

impl Notice {
    fn emit(self) {
        match self {
            Notice::CapHit { spent_usd, cap_usd, day } => {
                warn_event!("cap_hit", cost_usd = spent_usd, cap_usd = cap_usd, day = %day,
                    reason = "no job is claimed until the next UTC day, or until the cap is raised");
            }
            Notice::BreakerOpened { key, limit, reason, failures, cooldown_ms } => {
                warn_event!("breaker_opened", key = %key, limit = limit.as_deref(),
                    reason = reason, failures = failures, delay_ms = cooldown_ms);
            }
            Notice::BreakerClosed { key, limit } => {
                event!("breaker_closed", key = %key, limit = limit.as_deref())
            }
        }
    }
}

/// The notices of the transaction in progress. The Store is single-threaded, hence a RefCell.
#[derive(Debug, Default)]
pub(crate) struct Notices(RefCell<Vec<Notice>>);

impl Clone for Notices {
    /// A copy of the context starts with no notices of its own.
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Notices {
    /// Owes `notice` once the current transaction commits.
    pub(crate) fn push(&self, notice: Notice) {
        self.0.borrow_mut().push(notice);
    }

    /// A mark to roll back to when a savepoint is undone.
    pub(crate) fn mark(&self) -> usize {
        self.0.borrow().len()
    }

    /// Forgets what was owed since `mark` (its savepoint rolled back).
    pub(crate) fn roll_back_to(&self, mark: usize) {
        self.0.borrow_mut().truncate(mark);
    }

    /// The transaction committed: emit everything owed.
    pub(crate) fn committed(&self) {
        let owed = std::mem::take(&mut *self.0.borrow_mut());
        owed.into_iter().for_each(Notice::emit);
    }

    /// The transaction rolled back: forget everything owed.
    pub(crate) fn rolled_back(&self) {
        self.0.borrow_mut().clear();
    }

    #[cfg(test)]
    pub(crate) fn owed(&self) -> Vec<Notice> {
        self.0.borrow().clone()
    }
}
