//! Fault injection for tests: kills the actors of a running engine. It asks the Supervisor,
//! which owns the tree's table, for the current actor of the child it wants; it keeps no ref.

use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorCell, ActorId, ActorRef, ActorStatus};

use crate::supervisor::{Role, SupervisorMsg};

/// Kills actors of a running engine, for fault-injection tests.
#[doc(hidden)]
#[derive(Clone)]
pub struct ChaosHandle {
    pub(super) supervisor: ActorRef<SupervisorMsg>,
}

impl ChaosHandle {
    /// The current actor of `child`, as the Supervisor knows it.
    async fn child(&self, child: Role) -> Option<ActorCell> {
        let asked = self.supervisor.call(|r| SupervisorMsg::Child(child, r), Some(ASK)).await;
        match asked {
            Ok(CallResult::Success(cell)) => cell,
            _ => None,
        }
    }

    async fn kill_child(&self, child: Role) -> bool {
        self.child(child).await.map(|c| c.kill()).is_some()
    }

    /// Kills worker `id` (its running handler is dropped mid-await).
    pub async fn kill_worker(&self, id: usize) -> bool {
        self.kill_child(Role::worker(id)).await
    }

    /// Whether worker `id` is running (false between its death and its restart).
    pub async fn worker_alive(&self, id: usize) -> bool {
        let w = self.child(Role::worker(id)).await;
        w.is_some_and(|w| w.get_status() == ActorStatus::Running)
    }

    /// The current worker `id`'s actor id, to see that it was replaced.
    pub async fn worker_id(&self, id: usize) -> Option<ActorId> {
        self.child(Role::worker(id)).await.map(|w| w.get_id())
    }

    /// Kills the Store actor.
    pub async fn kill_store(&self) -> bool {
        self.kill_child(Role::Store).await
    }

    /// The Store's current actor, to kill later without asking the Supervisor then (a test that
    /// must kill at a precise moment of a burst, when the Supervisor may be slow to be polled).
    pub async fn store_actor(&self) -> Option<ActorCell> {
        self.child(Role::Store).await
    }

    /// The Store's current actor id.
    pub async fn store_id(&self) -> Option<ActorId> {
        self.child(Role::Store).await.map(|s| s.get_id())
    }

    /// Kills the Retry, DeadLetter, Alert, Dispatcher, Rescuer or Pruner actor (`"retry"`,
    /// `"dead_letter"`, `"alert"`, `"dispatcher"`, `"rescuer"`, `"pruner"`).
    pub async fn kill(&self, which: &str) -> bool {
        let role = match which {
            "retry" => Role::Retry,
            "dead_letter" => Role::DeadLetter,
            "alert" => Role::Alert,
            "dispatcher" => Role::Dispatcher,
            "rescuer" => Role::Rescuer,
            "pruner" => Role::Pruner,
            _ => return false,
        };
        self.kill_child(role).await
    }
}

/// How long a question to the Supervisor may take (it may be restarting a child).
const ASK: Duration = Duration::from_secs(10);
