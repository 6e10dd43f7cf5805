//! [`Enqueuer`]: the one way jobs enter a running engine, shared by [`super::EngineHandle`],
//! the schedules and any task of a host that holds a clone.

use std::sync::Arc;

use ractor::rpc::CallResult;

use crate::dispatcher::DispatcherMsg;
use crate::error::EngineError;
use crate::job::{Enqueued, NewJob};
use crate::links::Slot;
use crate::retry::RetryMsg;
use crate::shared::Shared;
use crate::store::retry_transient;

/// How long an enqueue waits for the Dispatcher's round before it goes to the Store instead.
const ASK_DISPATCHER: std::time::Duration = std::time::Duration::from_secs(5);

/// Enqueues into a running engine; see [`EngineHandle::enqueuer`]. Once the engine has stopped,
/// enqueues fail as unavailable.
#[derive(Clone)]
pub struct Enqueuer {
    pub(super) shared: Arc<Shared>,
    /// Takes enqueues into its next round, and is woken for a job the Store took.
    pub(super) dispatcher: Slot<DispatcherMsg>,
    /// Arms its timer for a job enqueued to run later.
    pub(super) retry: Slot<RetryMsg>,
}

impl std::fmt::Debug for Enqueuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enqueuer").field("instance", &self.shared.instance).finish()
    }
}

impl Enqueuer {
    /// Enqueues a job, idempotently on its key. Waits out a Store restart: a repeat of the
    /// same key cannot create a second row.
    pub async fn enqueue(&self, job: NewJob) -> Result<Enqueued, EngineError> {
        let shared = &self.shared;
        let run_at = job.run_at;
        // Through the Dispatcher's next round: with a worker free, the job is claimed in the
        // commit that inserts it. While a gate holds claims (or no Dispatcher runs), straight to
        // the Store, one hop shorter, and a wake after.
        let via_dispatcher = shared.takes_jobs.load(std::sync::atomic::Ordering::Relaxed);
        let (outcome, offered) = retry_transient(|| async {
            let dispatcher = self.dispatcher.get().filter(|_| via_dispatcher);
            if let Some(dispatcher) = dispatcher {
                let asked = dispatcher
                    .call(|reply| DispatcherMsg::Enqueue(job.clone(), reply), Some(ASK_DISPATCHER))
                    .await;
                if let Ok(CallResult::Success(answer)) = asked {
                    return answer.map(|outcome| (outcome, true));
                }
                // A Dispatcher killed or restarting: the Store takes the job as well (the key
                // makes a second try of an insert that did land a duplicate, never a second row).
            }
            let outcome = shared.store.enqueue(job.clone(), shared.now()).await?;
            Ok((outcome, false))
        })
        .await?;
        if outcome == Enqueued::Enqueued {
            match run_at.filter(|at| *at > shared.now()) {
                Some(at) => {
                    self.retry.cast(RetryMsg::Due { at });
                }
                // Through the Dispatcher it was offered to the free workers in its round. Past a
                // closed gate, a wake would only send a claim to find the gate still closed
                // (a runner paused while being filled sent one such claim per enqueue): what
                // lifts a gate wakes the Dispatcher itself, and its first claim let through is
                // followed by another, so a job inserted meanwhile is not left behind. This
                // look comes after the insert committed, so a Dispatcher that took jobs again
                // before then is seen taking them, and woken.
                None if !offered
                    && shared.takes_jobs.load(std::sync::atomic::Ordering::Relaxed) =>
                {
                    self.dispatcher.wake()
                }
                None => {}
            }
        }
        Ok(outcome)
    }
}
