//! [`Operator`]: what a person does to a running engine (enqueue, replay, purge, pause,
//! resume), in a handle any task of the host can clone: an HTTP handler, a scheduler. Every
//! write goes where [`super::EngineHandle`]'s own goes: to the Store's mailbox, through the
//! actor that owns the follow-up (the Dispatcher for a new job, the DeadLetter actor for a
//! replay), so the process keeps one writer and the workers hear of the change at once.

use std::time::Duration;

use ractor::rpc::CallResult;

use super::Enqueuer;
use crate::dead_letter::DeadLetterMsg;
use crate::dispatcher::DispatcherMsg;
use crate::error::{EngineError, StoreError};
use crate::job::{Enqueued, NewJob, Selector};
use crate::links::Slot;

/// How long `pause` waits for the Dispatcher to give back what it claimed ahead.
const PAUSE_ACK: Duration = Duration::from_secs(5);

/// How long a replay or purge waits for the DeadLetter actor.
const DEAD_LETTER_WAIT: Duration = Duration::from_secs(60);

/// A cloneable handle for an engine's writes; see [`super::EngineHandle::operator`]. Once the
/// engine has stopped, every call fails as unavailable or stopped.
#[derive(Clone)]
pub struct Operator {
    pub(super) enqueuer: Enqueuer,
    pub(super) dead_letter: Slot<DeadLetterMsg>,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator").field("instance", &self.enqueuer.shared.instance).finish()
    }
}

impl Operator {
    /// Enqueues a job, idempotently on its key; see [`Enqueuer::enqueue`].
    pub async fn enqueue(&self, job: NewJob) -> Result<Enqueued, EngineError> {
        self.enqueuer.enqueue(job).await
    }

    /// Moves dead-lettered jobs back to the queue, attempts reset, due at once, and wakes the
    /// workers. Returns the keys replayed.
    pub async fn replay(&self, which: Selector) -> Result<Vec<String>, EngineError> {
        self.dead_letter_call(|reply| DeadLetterMsg::Replay(which, reply)).await
    }

    /// Stores `payload` as the step `name` of the job `key`, which must be waiting for the
    /// signal `name`, and makes it due now. A job that does not wait for it is answered
    /// [`Signalled::NotWaiting`](crate::Signalled::NotWaiting) and left as it was.
    pub async fn signal(
        &self,
        key: &str,
        name: &str,
        payload: &str,
    ) -> Result<crate::Signalled, EngineError> {
        let shared = &self.enqueuer.shared;
        let args = crate::store::op::SignalArgs {
            key: key.to_owned(),
            name: name.to_owned(),
            payload: payload.to_owned(),
            now: shared.now(),
        };
        let answer = shared.store.call(args).await?;
        self.enqueuer.dispatcher.wake();
        Ok(answer)
    }

    /// Cancels the jobs `keys`: a pending or waiting one becomes `cancelled`; a running one
    /// too, its handler stopped at once (a command handler's process group gets SIGTERM, then
    /// SIGKILL after the grace) and its outcome discarded. Other jobs are left as they are.
    pub async fn cancel(&self, keys: &[&str]) -> Result<Vec<crate::Cancelled>, EngineError> {
        let shared = &self.enqueuer.shared;
        let which = crate::store::CancelWhich::Keys(keys.iter().map(|k| (*k).to_owned()).collect());
        let args = crate::store::op::CancelArgs { which, now: shared.now() };
        let answer = shared.store.call(args).await?;
        shared.cancelled();
        Ok(answer)
    }

    /// Deletes dead-lettered jobs for good. Returns the keys purged.
    pub async fn purge(&self, which: Selector) -> Result<Vec<String>, EngineError> {
        self.dead_letter_call(|reply| DeadLetterMsg::Purge(which, reply)).await
    }

    async fn dead_letter_call<F>(&self, build: F) -> Result<Vec<String>, EngineError>
    where
        F: FnOnce(ractor::RpcReplyPort<Result<Vec<String>, StoreError>>) -> DeadLetterMsg,
    {
        let actor = self
            .dead_letter
            .get()
            .ok_or_else(|| EngineError::Stopped("the dead letter actor is not running".into()))?;
        match actor.call(build, Some(DEAD_LETTER_WAIT)).await {
            Ok(CallResult::Success(answer)) => Ok(answer?),
            Ok(_) | Err(_) => Err(EngineError::Store(StoreError::Unavailable(
                "the dead letter actor did not answer".to_owned(),
            ))),
        }
    }

    /// Turns the kill switch on: workers claim nothing more; jobs in flight finish. Returns
    /// whether it changed (`false`: it was already on, with the same reason).
    pub async fn pause(&self, reason: Option<&str>) -> Result<bool, EngineError> {
        let shared = &self.enqueuer.shared;
        let changed =
            shared.store.set_paused(true, reason.map(str::to_owned), shared.now()).await?;
        shared.saw_pause(true, reason);
        // Once this returns, no job claimed ahead is handed out any more (a job already handed
        // to a worker still runs). Without a Dispatcher (restarting) nothing is claimed ahead.
        if let Some(dispatcher) = self.enqueuer.dispatcher.get() {
            let _ =
                dispatcher.call(|reply| DispatcherMsg::Paused(Some(reply)), Some(PAUSE_ACK)).await;
        }
        Ok(changed)
    }

    /// Turns the kill switch off and wakes the workers. Returns whether it changed.
    pub async fn resume(&self) -> Result<bool, EngineError> {
        let shared = &self.enqueuer.shared;
        let changed = shared.store.set_paused(false, None, shared.now()).await?;
        shared.saw_pause(false, None);
        self.enqueuer.dispatcher.wake();
        Ok(changed)
    }
}
