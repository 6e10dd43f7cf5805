//! What the actors of one engine share: the config, the handler, swappable refs to each other
//! (a restarted actor gets a new ref), the run state and the in-flight count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use ractor::ActorRef;
use tokio::sync::{Notify, watch};

use crate::alert::AlertMsg;
use crate::config::EngineConfig;
use crate::dead_letter::DeadLetterMsg;
use crate::dispatcher::DispatcherMsg;
use crate::events::{event, warn_event};
use crate::job::Handler;
use crate::retry::RetryMsg;
use crate::store::{HeldAlert, StoreHandle};
use crate::worker::WorkerMsg;

/// Whether workers may claim, and whether running handlers must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunState {
    /// Claim and run.
    Running,
    /// Shutting down: claim nothing more, let running handlers finish.
    Stopping,
    /// The grace period is over: drop running handlers and release their leases.
    Abort,
}

pub(crate) struct Shared {
    pub(crate) config: EngineConfig,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) store: StoreHandle,
    /// Prefixes lease owners and actor names, so two engines in one process never collide.
    pub(crate) instance: String,
    pub(crate) run_state: watch::Sender<RunState>,
    pub(crate) refs: RwLock<Refs>,
    /// Jobs this runner holds that are not settled yet (claimed, running, or with an outcome
    /// not yet committed), as the Dispatcher last published it.
    held: AtomicUsize,
    /// Whether the Dispatcher claims (no gate closed, not stopping): an enqueue then goes
    /// through its round, to be claimed in the commit that inserts it when a worker is free;
    /// otherwise straight to the Store, one hop shorter (a paused runner being filled).
    pub(crate) takes_jobs: std::sync::atomic::AtomicBool,
    /// Signalled whenever that count changes, or a round was answered.
    pub(crate) activity: Notify,
    exit_reason: std::sync::Mutex<Option<String>>,
    /// Signalled when the runner fails while its tree is still up ([`Shared::fail_runner`]).
    pub(crate) runner_failed: Notify,
    /// Whether [`Shared::fail_runner`] was called (the tree is up but must not go on).
    pub(crate) runner_failed_set: std::sync::atomic::AtomicBool,
    /// The kill switch as this runner last saw it (`None` before the first look), so a change
    /// made from any process is logged once.
    pause_seen: std::sync::Mutex<Option<bool>>,
}

#[derive(Default)]
pub(crate) struct Refs {
    pub(crate) workers: Vec<Option<ActorRef<WorkerMsg>>>,
    pub(crate) dispatcher: Option<ActorRef<DispatcherMsg>>,
    pub(crate) retry: Option<ActorRef<RetryMsg>>,
    pub(crate) dead_letter: Option<ActorRef<DeadLetterMsg>>,
    pub(crate) alert: Option<ActorRef<AlertMsg>>,
}

impl Shared {
    pub(crate) fn new(
        config: EngineConfig,
        handler: Arc<dyn Handler>,
        store: StoreHandle,
        instance: String,
    ) -> Self {
        let workers = vec![None; config.workers];
        Self {
            config,
            handler,
            store,
            instance,
            run_state: watch::channel(RunState::Running).0,
            refs: RwLock::new(Refs { workers, ..Refs::default() }),
            held: AtomicUsize::new(0),
            takes_jobs: std::sync::atomic::AtomicBool::new(true),
            activity: Notify::new(),
            exit_reason: std::sync::Mutex::new(None),
            runner_failed: Notify::new(),
            runner_failed_set: std::sync::atomic::AtomicBool::new(false),
            pause_seen: std::sync::Mutex::new(None),
        }
    }

    pub(crate) fn now(&self) -> crate::clock::Timestamp {
        self.config.clock.now()
    }

    pub(crate) fn refs(&self) -> std::sync::RwLockReadGuard<'_, Refs> {
        self.refs.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn refs_mut(&self) -> std::sync::RwLockWriteGuard<'_, Refs> {
        self.refs.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn state(&self) -> RunState {
        *self.run_state.borrow()
    }

    /// Tells the Dispatcher that jobs may be due.
    pub(crate) fn wake_workers(&self) {
        if let Some(d) = &self.refs().dispatcher {
            let _ = d.cast(DispatcherMsg::Wake);
        }
    }

    pub(crate) fn retry_due(&self, at: crate::clock::Timestamp) {
        if let Some(r) = &self.refs().retry {
            let _ = r.cast(RetryMsg::Due { at });
        }
    }

    pub(crate) fn alert_kick(&self) {
        if let Some(a) = &self.refs().alert {
            let _ = a.cast(AlertMsg::Deliver);
        }
    }

    /// Asks the DeadLetter actor to release every alert it holds, then the Alert actor to
    /// deliver what is owed now, waiting at most `limit` in all; returns how many due alerts
    /// are left (`usize::MAX` when the Alert actor did not answer).
    pub(crate) async fn alert_flush(&self, limit: std::time::Duration) -> usize {
        let started = std::time::Instant::now();
        let dead_letter = self.refs().dead_letter.clone();
        if let Some(dead_letter) = dead_letter {
            let _ = dead_letter.call(DeadLetterMsg::Flush, Some(limit)).await;
        }
        let Some(alert) = self.refs().alert.clone() else { return usize::MAX };
        let left = limit.saturating_sub(started.elapsed());
        match alert.call(AlertMsg::Flush, Some(left)).await {
            Ok(ractor::rpc::CallResult::Success(left)) => left,
            _ => usize::MAX,
        }
    }

    /// Tells the DeadLetter actor of a burial. While it is down the alert stays held in the
    /// outbox, where it looks when it starts.
    pub(crate) fn dead_arrived(&self, alert: HeldAlert) {
        if let Some(d) = &self.refs().dead_letter {
            let _ = d.cast(DeadLetterMsg::Buried(alert));
        }
    }

    /// Records how many jobs the runner holds unsettled (the Dispatcher's count).
    pub(crate) fn set_held(&self, held: usize) {
        if self.held.swap(held, Ordering::SeqCst) != held {
            self.activity.notify_waiters();
        }
    }

    /// Jobs held unsettled: claimed, running, or with an outcome not yet committed.
    pub(crate) fn in_flight(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }
}

impl Shared {
    /// Why the tree stopped on its own (restart budget exhausted), for the host to report.
    pub(crate) fn set_exit_reason(&self, why: String) {
        *self.exit_reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    /// The runner cannot go on (a handler reported [`crate::Outcome::RunnerFailed`]): claim
    /// nothing more, keep the first reason, and wake the host waiting on the engine, which then
    /// shuts down in order and fails with the reason.
    pub(crate) fn fail_runner(&self, why: String) {
        {
            let mut reason = self.exit_reason.lock().unwrap_or_else(|e| e.into_inner());
            reason.get_or_insert(why);
        }
        let _ = self.run_state.send_replace(RunState::Stopping);
        self.runner_failed_set.store(true, Ordering::SeqCst);
        self.runner_failed.notify_waiters();
        self.activity.notify_waiters();
    }

    /// Logs `paused` / `resumed` when the kill switch differs from what this runner saw last
    /// (a runner that starts paused says so too); wakes the workers on a resume.
    pub(crate) fn saw_pause(&self, paused: bool, reason: Option<&str>) {
        let before = self.pause_seen.lock().unwrap_or_else(|e| e.into_inner()).replace(paused);
        match (before, paused) {
            (Some(false) | None, true) => {
                warn_event!(
                    "paused",
                    reason = reason.unwrap_or("no reason given"),
                    error = "the kill switch is on: no job is claimed until `nightshift resume`"
                );
            }
            (Some(true), false) => {
                event!("resumed");
                self.wake_workers();
            }
            _ => {}
        }
    }

    pub(crate) fn exit_reason(&self) -> Option<String> {
        self.exit_reason.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
