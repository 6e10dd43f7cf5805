//! A Worker: runs one job at a time, as the Dispatcher hands them out, and reports how each
//! attempt ended back to it without waiting for that outcome to commit (the Dispatcher settles
//! it in its next round). The handler's future is polled inside `handle`, never spawned, so a
//! killed worker drops it at once instead of leaving an orphan running. Heartbeats extend the
//! lease while it runs; the per-job timeout and the shutdown grace cut it short.
//!
//! A worker never claims and never settles: it holds no job the Dispatcher does not know of.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::dispatcher::{DispatcherMsg, Ended};
use crate::events::{cost_micros, error_event, event, warn_event};
use crate::job::{ClassEffect, Outcome, Steps};
use crate::shared::{RunState, Shared};
use crate::store::{Charge, Claimed, FailKind, Settle};

/// The Worker's mailbox.
#[derive(Debug)]
pub(crate) enum WorkerMsg {
    /// Run this attempt, then report to the Dispatcher.
    Run(Claimed),
}

#[cfg(feature = "cluster")]
impl ractor::Message for WorkerMsg {}

pub(crate) struct Worker {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct WorkerArgs {
    pub(crate) id: usize,
    pub(crate) dispatcher: ActorRef<DispatcherMsg>,
}

pub(crate) struct WorkerState {
    id: usize,
    dispatcher: ActorRef<DispatcherMsg>,
}

#[cfg_attr(feature = "async-trait", ractor::async_trait)]
impl Actor for Worker {
    type Msg = WorkerMsg;
    type State = WorkerState;
    type Arguments = WorkerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<WorkerMsg>,
        args: WorkerArgs,
    ) -> Result<WorkerState, ActorProcessingErr> {
        let free = DispatcherMsg::Free { id: args.id, worker: myself, ended: None };
        args.dispatcher.cast(free)?;
        Ok(WorkerState { id: args.id, dispatcher: args.dispatcher })
    }

    async fn handle(
        &self,
        myself: ActorRef<WorkerMsg>,
        msg: WorkerMsg,
        st: &mut WorkerState,
    ) -> Result<(), ActorProcessingErr> {
        let WorkerMsg::Run(claimed) = msg;
        let ended = if self.shared.state() == RunState::Running {
            self.run(claimed).await
        } else {
            // Handed out just as shutdown began: give it back unstarted.
            Some(Ended::given_back(claimed.job.key, claimed.token))
        };
        st.dispatcher.cast(DispatcherMsg::Free { id: st.id, worker: myself, ended })?;
        Ok(())
    }
}

/// How one attempt ended, before it is reported.
enum Stopped {
    Returned(Outcome),
    LeaseLost,
    Aborted,
}

impl Worker {
    /// Runs one attempt; what the Dispatcher must settle (`None`: the lease was taken over).
    async fn run(&self, claimed: Claimed) -> Option<Ended> {
        let shared = &self.shared;
        let Claimed { mut job, token } = claimed;
        let key = job.key.clone();
        // The attempt's steps are fenced on its lease, like its outcome.
        job.steps = Steps::attached(shared.clone(), key.clone(), token.clone());
        event!("job_started", key = %key, queue = %job.queue, attempt = job.attempt);
        let started = Instant::now();
        let timeout = job.timeout;
        let attempt = job.attempt;
        let mut handler = Box::pin(AssertUnwindSafe(shared.handler.run(job)).catch_unwind());
        let mut deadline = std::pin::pin!(tokio::time::sleep(timeout));
        // The first beat is one interval away. (An interval's immediate first tick is not
        // free: it waits for the timer wheel's next millisecond, which a short job would pay
        // on every attempt.)
        let every = shared.config.heartbeat;
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let mut run_state = shared.run_state.subscribe();
        let mut cancels = shared.cancels.subscribe();
        let stopped = loop {
            tokio::select! {
                out = &mut handler => break Stopped::Returned(out.unwrap_or_else(|panic| {
                    Outcome::retry(format!("panic: {}", panic_text(panic.as_ref())))
                })),
                _ = &mut deadline => break Stopped::Returned(Outcome::retry(format!(
                    "timeout: the handler ran longer than {}", humantime_secs(timeout)
                ))),
                // A cancel may have come (from any process): is the lease still held? A read,
                // not a heartbeat: no commit for each commit another process makes.
                Ok(()) = cancels.changed() => {
                    let held = shared.store.lease_held(key.clone(), token.clone()).await;
                    if matches!(held, Ok(false)) {
                        break Stopped::LeaseLost;
                    }
                }
                _ = beat.tick() => {
                    let lease = vec![(key.clone(), token.clone())];
                    let held = shared.store.heartbeat(lease, shared.config.lease, shared.now());
                    if let Ok(held) = held.await && held == [false] {
                        break Stopped::LeaseLost;
                    }
                }
                _ = aborted(&mut run_state) => break Stopped::Aborted,
            }
        };
        // Drop the handler before reporting: a command handler's process group dies here.
        drop(handler);
        let took = started.elapsed();
        let (outcome, usage) = match stopped {
            Stopped::Returned(outcome) => outcome.into_parts(),
            Stopped::LeaseLost => {
                warn_event!("lease_lost", key = %key, attempt = attempt,
                    error = "the lease was taken over or the job cancelled; this attempt's outcome is discarded");
                return None;
            }
            Stopped::Aborted => {
                return Some(Ended::ran(Settle::Release { key, token }, attempt, took, 0.0));
            }
        };
        let cost_usd = outcome.cost_usd();
        let charge = Charge { micros: cost_micros(&key, cost_usd), usage };
        let settle = match outcome {
            Outcome::RunnerFailed { error } => {
                // Not the job's fault: give it back uncounted and stop this runner.
                error_event!("runner_failed", key = %key, attempt = attempt, error = %error,
                    reason = "the job is given back without counting an attempt; the runner stops");
                shared.fail_runner(error);
                Settle::Release { key, token }
            }
            outcome => settle(key, token, outcome, charge),
        };
        Some(Ended::ran(settle, attempt, took, cost_usd))
    }
}

/// What the Store must do with an attempt that returned `outcome` (not a runner failure, which
/// the worker handles itself). A classified failure goes as its class says ([`ErrorClass`]).
///
/// [`ErrorClass`]: crate::ErrorClass
fn settle(key: String, token: String, outcome: Outcome, charge: Charge) -> Settle {
    let fail = |error: String, kind: FailKind, charge: Charge| Settle::Fail {
        key: key.clone(),
        token: token.clone(),
        error,
        kind,
        charge,
    };
    match outcome {
        Outcome::Success { result, .. } => Settle::Complete { key, token, result, charge },
        Outcome::Retry { error, delay, .. } => fail(error, FailKind::Retryable { delay }, charge),
        Outcome::Permanent { error, .. } => fail(error, FailKind::Permanent, charge),
        Outcome::Snooze { delay, .. } => Settle::Snooze { key, token, delay, charge },
        Outcome::Wait { name, timeout, dead_on_timeout, .. } => {
            let wait = crate::store::WaitSpec { name, timeout, dead: dead_on_timeout };
            Settle::Wait { key, token, wait, charge }
        }
        Outcome::Failed { class, error, delay, .. } => {
            let error = format!("error_class {class}: {error}");
            match class.effect() {
                ClassEffect::Snooze => Settle::Snooze { key, token, delay, charge },
                ClassEffect::Retry => fail(error, FailKind::Retryable { delay }, charge),
                ClassEffect::OpenBreaker => fail(error, FailKind::OpenBreaker { delay }, charge),
                ClassEffect::DeadLetter => fail(error, FailKind::Permanent, charge),
            }
        }
        Outcome::Metered { outcome, .. } => settle(key, token, *outcome, charge),
        Outcome::RunnerFailed { .. } => Settle::Release { key, token },
    }
}

/// Resolves when shutdown's grace period is over.
async fn aborted(run_state: &mut tokio::sync::watch::Receiver<RunState>) {
    if run_state.wait_for(|s| *s == RunState::Abort).await.is_err() {
        // The engine is gone: nobody will ever abort; wait forever.
        std::future::pending::<()>().await;
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the handler panicked".to_owned())
}

fn humantime_secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}
