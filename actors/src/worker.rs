//! A Worker: pulls one job at a time from the Store (claim), runs the handler, and reports the
//! outcome. The handler's future is polled inside `handle`, never spawned, so a killed worker
//! drops it at once instead of leaving an orphan running. Heartbeats extend the lease while it
//! runs; the per-job timeout and the shutdown grace cut it short.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::events::{cost_micros, error_event, event, warn_event};
use crate::job::Outcome;
use crate::shared::{RunState, Shared};
use crate::store::{Claim, ClaimArgs, Claimed, FailKind, Failed, retry_transient};

/// The Worker's mailbox.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WorkerMsg {
    /// Claim and run one job; sent to itself after each job.
    Poll,
    /// Something may be due; polls if idle.
    Wake,
}

#[cfg(feature = "cluster")]
impl ractor::Message for WorkerMsg {}

pub(crate) struct Worker {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct WorkerArgs {
    pub(crate) id: usize,
    pub(crate) generation: u64,
}

pub(crate) struct WorkerState {
    /// The lease owner name of this incarnation; the Supervisor fails its leases if it dies.
    owner: String,
    idle: bool,
    /// The next job, claimed in the same write that settled the last one.
    held: Option<Claimed>,
}

/// The lease owner name for worker `id` in its `generation`-th incarnation.
pub(crate) fn owner_name(instance: &str, id: usize, generation: u64) -> String {
    format!("{instance}/worker-{id}.{generation}")
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
        myself.cast(WorkerMsg::Poll)?;
        let owner = owner_name(&self.shared.instance, args.id, args.generation);
        Ok(WorkerState { owner, idle: false, held: None })
    }

    async fn handle(
        &self,
        myself: ActorRef<WorkerMsg>,
        msg: WorkerMsg,
        st: &mut WorkerState,
    ) -> Result<(), ActorProcessingErr> {
        if matches!(msg, WorkerMsg::Wake) && !st.idle {
            // Busy: it polls again when the job ends.
            return Ok(());
        }
        let shared = &self.shared;
        let _busy = shared.busy();
        let claim = match st.held.take() {
            Some(claimed) => Ok(Claim::Job(claimed)),
            None if shared.state() != RunState::Running => Ok(Claim::Idle),
            None => shared.store.claim(self.claim_args(st), shared.now()).await,
        };
        match claim {
            Ok(Claim::Job(claimed)) if shared.state() != RunState::Running => {
                // Claimed together with the last outcome just as shutdown began: give it back.
                let Claimed { job, token } = claimed;
                let _ = retry_transient(|| {
                    shared.store.release(job.key.clone(), token.clone(), shared.now())
                })
                .await;
                st.idle = true;
                shared.activity.notify_waiters();
            }
            Ok(Claim::Job(claimed)) => {
                st.idle = false;
                let next = self.run(claimed, self.claim_args(st)).await;
                if let Some(Claim::Job(next)) = next {
                    st.held = Some(next);
                }
                myself.cast(WorkerMsg::Poll)?;
            }
            Ok(Claim::Idle) | Ok(Claim::Gated) => {
                // Gated workers rest; the Retry rescan wakes them while jobs are due, and each
                // claim re-checks the gates.
                st.idle = true;
                shared.activity.notify_waiters();
            }
            Err(e) => {
                // The Store is restarting or the disk refused: back off, then poll again.
                warn_event!("claim_failed", error = %e);
                st.idle = true;
                ractor::time::send_after(Duration::from_millis(200), myself.get_cell(), || {
                    WorkerMsg::Poll
                });
            }
        }
        Ok(())
    }
}

/// How one attempt ended, before it is reported.
enum Ended {
    Returned(Outcome),
    LeaseLost,
    Aborted,
}

impl Worker {
    fn claim_args(&self, st: &WorkerState) -> ClaimArgs {
        let cfg = &self.shared.config;
        ClaimArgs { owner: st.owner.clone(), lease: cfg.lease, timeout: cfg.timeout }
    }

    /// Runs one attempt and reports it; returns the next job when it was claimed in the same
    /// write as the report.
    async fn run(&self, claimed: Claimed, next: ClaimArgs) -> Option<Claim> {
        let shared = &self.shared;
        let Claimed { job, token } = claimed;
        let key = job.key.clone();
        event!("job_started", key = %key, queue = %job.queue, attempt = job.attempt);
        let started = Instant::now();
        let timeout = job.timeout;
        let attempt = job.attempt;
        let mut handler = Box::pin(AssertUnwindSafe(shared.handler.run(job)).catch_unwind());
        let mut deadline = std::pin::pin!(tokio::time::sleep(timeout));
        let mut beat = tokio::time::interval(shared.config.heartbeat);
        beat.tick().await;
        let mut run_state = shared.run_state.subscribe();
        let ended = loop {
            tokio::select! {
                out = &mut handler => break Ended::Returned(out.unwrap_or_else(|panic| {
                    Outcome::retry(format!("panic: {}", panic_text(panic.as_ref())))
                })),
                _ = &mut deadline => break Ended::Returned(Outcome::retry(format!(
                    "timeout: the handler ran longer than {}", humantime_secs(timeout)
                ))),
                _ = beat.tick() => {
                    let held = shared.store.heartbeat(
                        key.clone(), token.clone(), shared.config.lease, shared.now()).await;
                    if let Ok(false) = held { break Ended::LeaseLost; }
                }
                _ = aborted(&mut run_state) => break Ended::Aborted,
            }
        };
        // Drop the handler before reporting: a command handler's process group dies here.
        drop(handler);
        let duration_ms = started.elapsed().as_millis() as u64;
        let next = (shared.state() == RunState::Running).then_some(next);
        match ended {
            Ended::Returned(Outcome::RunnerFailed { error }) => {
                // Not the job's fault: give it back uncounted and stop this runner.
                let released = retry_transient(|| {
                    shared.store.release(key.clone(), token.clone(), shared.now())
                })
                .await;
                error_event!("runner_failed", key = %key, attempt = attempt, error = %error,
                    reason = "the job was given back without counting an attempt; the runner stops",
                    released = matches!(released, Ok(true)));
                shared.fail_runner(error);
            }
            Ended::Returned(outcome) => {
                return self.report(&key, &token, attempt, outcome, duration_ms, next).await;
            }
            Ended::LeaseLost => {
                warn_event!("lease_lost", key = %key, attempt = attempt,
                    error = "the lease was taken over; this attempt's outcome is discarded");
            }
            Ended::Aborted => {
                let released = retry_transient(|| {
                    shared.store.release(key.clone(), token.clone(), shared.now())
                })
                .await;
                event!("job_interrupted", key = %key, attempt = attempt, duration_ms = duration_ms,
                    reason = "shutdown grace period elapsed; lease released without counting an attempt",
                    released = matches!(released, Ok(true)));
            }
        }
        None
    }

    async fn report(
        &self,
        key: &str,
        token: &str,
        attempt: u32,
        outcome: Outcome,
        duration_ms: u64,
        next: Option<ClaimArgs>,
    ) -> Option<Claim> {
        let shared = &self.shared;
        let cost = cost_micros(key, outcome.cost_usd());
        let cost_usd = outcome.cost_usd();
        let (error, kind) = match outcome {
            Outcome::Success { result, .. } => {
                let done = retry_transient(|| {
                    let (key, token, result) = (key.to_owned(), token.to_owned(), result.clone());
                    shared.store.complete(key, token, result, cost, shared.now(), next.clone())
                })
                .await;
                return match done {
                    Ok((true, next)) => {
                        event!("job_succeeded", key = %key, attempt = attempt,
                            duration_ms = duration_ms, cost_usd = cost_usd);
                        next
                    }
                    Ok((false, next)) => {
                        warn_event!("lease_lost", key = %key, attempt = attempt,
                            error = "the job succeeded after its lease was taken over");
                        next
                    }
                    Err(e) => {
                        warn_event!("outcome_unknown", key = %key, attempt = attempt, error = %e);
                        None
                    }
                };
            }
            Outcome::Retry { error, delay, .. } => (error, FailKind::Retryable { delay }),
            Outcome::Permanent { error, .. } => (error, FailKind::Permanent),
            Outcome::RunnerFailed { .. } => unreachable!("handled by run before reporting"),
        };
        warn_event!("job_failed", key = %key, attempt = attempt, duration_ms = duration_ms,
            error = %error, cost_usd = cost_usd);
        let failed = retry_transient(|| {
            let (key, token, error) = (key.to_owned(), token.to_owned(), error.clone());
            shared.store.fail(key, token, error, kind, cost, shared.now(), next.clone())
        })
        .await;
        match failed {
            Ok((f, next)) => {
                announce(shared, key, f);
                next
            }
            Err(e) => {
                warn_event!("outcome_unknown", key = %key, attempt = attempt, error = %e);
                None
            }
        }
    }
}

/// Tells the Retry and DeadLetter actors what a failure became.
pub(crate) fn announce(shared: &Shared, key: &str, failed: Failed) {
    match failed {
        Failed::Retry { at, attempts, delay } => {
            event!("retry_scheduled", key = %key, attempt = attempts,
                delay_ms = delay.as_millis() as u64);
            shared.retry_due(at);
        }
        Failed::Dead(dead) => {
            error_event!("dead_lettered", key = %key, queue = %dead.queue, attempt = dead.attempts,
                reason = %dead.reason, error = %dead.error);
            shared.dead_arrived();
        }
        Failed::LeaseLost => {
            warn_event!("lease_lost", key = %key,
                error = "the attempt failed after its lease was taken over");
        }
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
