//! The Supervisor's long verbs, each run as a task of its own so the Supervisor's mailbox stays
//! free for the supervision events that arrive meanwhile: a drain, and the wind-down that ends
//! a shutdown. Both wait on what changes their answer (the count of held jobs, a round answered,
//! a due time, a gate lifting), with a short backstop for a clock a test moves by hand.
//!
//! Neither claims nor settles anything: they read the Store, wake the Dispatcher, flip the run
//! state and, at the end of a shutdown, ask the Supervisor to stop the tree.

use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::SupervisorMsg;
use crate::alert::AlertMsg;
use crate::clock::Timestamp;
use crate::dead_letter::DeadLetterMsg;
use crate::dispatcher::DispatcherMsg;
use crate::error::EngineError;
use crate::events::{event, warn_event};
use crate::job::Status;
use crate::links::Slot;
use crate::shared::{RunState, Shared};
use crate::store::gates::Gate;
use crate::store::retry_transient;

/// The longest a waiting drain goes without looking at the table again while nothing is held
/// (a due time or a gate's end read from the injected clock, which a test may move by hand).
const IDLE_BACKSTOP: Duration = Duration::from_millis(100);
/// The longest it goes without looking while jobs are held: every change of that count wakes
/// it, so this only bounds a lost signal.
const HELD_BACKSTOP: Duration = Duration::from_secs(1);
/// How long handlers cut short at the end of the grace get to hand back their leases.
const ABORT_WAIT: Duration = Duration::from_secs(10);
/// How long owed alerts get before the tree stops.
const ALERT_FLUSH: Duration = Duration::from_secs(5);

/// One drain request: answers when nothing is held and nothing is due within `window` (or a
/// gate holds claims past it).
pub(super) struct Drain {
    pub(super) shared: Arc<Shared>,
    pub(super) dispatcher: Slot<DispatcherMsg>,
    pub(super) window: Duration,
    /// Each gate the drain starts waiting for, for the caller to say so.
    pub(super) gates: mpsc::UnboundedSender<Gate>,
}

impl Drain {
    pub(super) async fn run(self) -> Result<Status, EngineError> {
        let shared = &self.shared;
        let window = self.window;
        let mut waited_for: Option<Gate> = None;
        loop {
            // A handler reported the runner failed: the drain ends with its reason.
            if let Some(why) = shared.exit_reason() {
                return Err(EngineError::Stopped(why));
            }
            let activity = shared.activity.notified();
            let mut activity = std::pin::pin!(activity);
            activity.as_mut().enable();
            // Only a quiet engine can be done; while jobs are held, wait for them to settle.
            let mut nap = HELD_BACKSTOP;
            if shared.in_flight() == 0 {
                let now = shared.now();
                // Reads: a repeat is harmless, so a Store restart mid-drain is waited out.
                let state = retry_transient(|| shared.store.drain_state(now)).await?;
                // A gate that lifts only past the window (or never, the kill switch) ends the
                // drain: the held jobs stay pending for a later run.
                let gated = state
                    .gate
                    .as_ref()
                    .is_some_and(|g| g.until().is_none_or(|until| until > now + window));
                let done = state.running == 0
                    && (gated || state.next_due.is_none_or(|at| at > now + window));
                if done {
                    let status = retry_transient(|| shared.store.status(shared.now())).await?;
                    if let Some(gate) = &status.gate {
                        let until = gate.until().map(Timestamp::as_millis);
                        warn_event!("claims_held", gate = gate.name(), until,
                            reason = %gate.describe());
                    }
                    return Ok(status);
                }
                // Nothing runs, yet due jobs wait: the gate is what the drain waits for.
                let idle = state.running == 0;
                if let Some(gate) =
                    state.gate.clone().filter(|g| idle && waited_for.as_ref() != Some(g))
                {
                    let until = gate.until().map(Timestamp::as_millis);
                    event!("waiting_for_gate", gate = gate.name(), until,
                        reason = %gate.describe());
                    let _ = self.gates.send(gate.clone());
                    waited_for = Some(gate);
                }
                // What changes the answer next: the gate lifting, or the next job falling due
                // (the Dispatcher is woken for a due job; a claim while a gate holds is refused).
                let next = match state.gate.as_ref().and_then(Gate::until) {
                    Some(lifts) => lifts,
                    None => {
                        let due = state.next_due.unwrap_or(now);
                        if due <= now {
                            self.dispatcher.wake();
                        }
                        due
                    }
                };
                nap = (next - now).clamp(Duration::from_millis(5), IDLE_BACKSTOP);
            }
            tokio::select! {
                _ = activity => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }
}

/// The end of a shutdown, once claiming stopped: `grace` for the held jobs to settle (cut short
/// by `hurry`), then the running handlers are aborted and their leases released, owed alerts
/// get a few seconds, and the Supervisor is asked to stop the tree (which answers the caller
/// when it is down).
pub(super) async fn wind_down(
    shared: Arc<Shared>,
    dead_letter: Slot<DeadLetterMsg>,
    alert: Slot<AlertMsg>,
    grace: Duration,
    hurry: oneshot::Receiver<()>,
    supervisor: ActorRef<SupervisorMsg>,
) {
    tokio::select! {
        () = settled(&shared, Instant::now() + grace) => {}
        // A hurry, or the Supervisor gone: stop waiting.
        _ = hurry => {}
    }
    if shared.in_flight() > 0 {
        let _ = shared.run_state.send_replace(RunState::Abort);
        settled(&shared, Instant::now() + ABORT_WAIT).await;
    }
    flush_alerts(&dead_letter, &alert, ALERT_FLUSH).await;
    if shared.config.is_postgres() {
        // Best effort: a row left behind goes stale within a lease all the same.
        let _ = shared.store.runner_gone(shared.instance.clone()).await;
    }
    supervisor.stop(Some("shutdown".to_owned()));
}

/// Resolves when no job is held, or at `deadline`.
async fn settled(shared: &Shared, deadline: Instant) {
    loop {
        let activity = shared.activity.notified();
        let mut activity = std::pin::pin!(activity);
        activity.as_mut().enable();
        if shared.in_flight() == 0 {
            return;
        }
        tokio::select! {
            _ = activity => {}
            _ = tokio::time::sleep_until(deadline) => return,
        }
    }
}

/// Asks the DeadLetter actor to release every alert it holds, then the Alert actor to deliver
/// what is owed now, waiting at most `limit` in all; returns how many due alerts are left
/// (`usize::MAX` when the Alert actor did not answer).
pub(crate) async fn flush_alerts(
    dead_letter: &Slot<DeadLetterMsg>,
    alert: &Slot<AlertMsg>,
    limit: Duration,
) -> usize {
    let started = Instant::now();
    if let Some(dead_letter) = dead_letter.get() {
        let _ = dead_letter.call(DeadLetterMsg::Flush, Some(limit)).await;
    }
    let Some(alert) = alert.get() else { return usize::MAX };
    let left = limit.saturating_sub(started.elapsed());
    match alert.call(AlertMsg::Flush, Some(left)).await {
        Ok(ractor::rpc::CallResult::Success(left)) => left,
        _ => usize::MAX,
    }
}
