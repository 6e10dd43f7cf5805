//! Fault injection for tests: kills the actors of a running engine.

use std::sync::Arc;

use crate::shared::Shared;

/// Kills actors of a running engine, for fault-injection tests.
#[doc(hidden)]
#[derive(Clone)]
pub struct ChaosHandle {
    pub(super) shared: Arc<Shared>,
}

impl ChaosHandle {
    /// Kills worker `id` (its running handler is dropped mid-await).
    pub fn kill_worker(&self, id: usize) -> bool {
        let w = self.shared.refs().workers.get(id).cloned().flatten();
        w.map(|w| w.kill()).is_some()
    }

    /// Whether worker `id` is running (false between its death and its restart).
    pub fn worker_alive(&self, id: usize) -> bool {
        let w = self.shared.refs().workers.get(id).cloned().flatten();
        w.is_some_and(|w| w.get_status() == ractor::ActorStatus::Running)
    }

    /// The current worker `id`'s actor id, to see that it was replaced.
    pub fn worker_id(&self, id: usize) -> Option<ractor::ActorId> {
        self.shared.refs().workers.get(id).cloned().flatten().map(|w| w.get_id())
    }

    /// Kills the Store actor.
    pub fn kill_store(&self) -> bool {
        self.shared.store.actor().map(|s| s.kill()).is_some()
    }

    /// The Store's current actor id.
    pub fn store_id(&self) -> Option<ractor::ActorId> {
        self.shared.store.actor().map(|s| s.get_id())
    }

    /// Kills the Retry, DeadLetter, Alert or Dispatcher actor (`"retry"`, `"dead_letter"`,
    /// `"alert"`, `"dispatcher"`).
    pub fn kill(&self, which: &str) -> bool {
        let refs = self.shared.refs();
        let cell = match which {
            "retry" => refs.retry.as_ref().map(|a| a.get_cell()),
            "dead_letter" => refs.dead_letter.as_ref().map(|a| a.get_cell()),
            "alert" => refs.alert.as_ref().map(|a| a.get_cell()),
            "dispatcher" => refs.dispatcher.as_ref().map(|a| a.get_cell()),
            _ => None,
        };
        cell.map(|c| c.kill()).is_some()
    }
}
