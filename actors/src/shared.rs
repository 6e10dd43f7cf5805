//! What every actor of one engine reads: the config, the handler, the Store's handle, the run
//! state (a watch the workers follow), the count of jobs held unsettled as the Dispatcher last
//! published it, and why the runner stopped.
//!
//! It holds no ref to any other actor and is no way to find one: each actor is handed the refs
//! it sends to when it starts ([`crate::links`]), and the Supervisor owns the worker table. It
//! never decides anything; it only carries state one actor writes and others read.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};

use crate::config::EngineConfig;
use crate::events::{event, warn_event};
use crate::job::Handler;
use crate::store::StoreHandle;

/// Whether workers may claim, and whether running handlers must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
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
    /// When this runner started, for its row in `runners` (PostgreSQL).
    started: crate::clock::Timestamp,
    /// The delivery leases of the Alert actor's rounds not yet over (the time each ends). Kept
    /// here, not in the actor, so what a killed Alert actor had taken is given back by its
    /// successor instead of waiting out the lease.
    pub(crate) alert_leases: std::sync::Mutex<Vec<crate::clock::Timestamp>>,
    /// Bumped when a job may have been cancelled (by this process, or by another one whose
    /// commit the Store saw): each worker running a job checks its lease at once, so a
    /// cancelled attempt's handler is stopped within the Store's watch interval, not at the
    /// next heartbeat.
    pub(crate) cancels: watch::Sender<u64>,
}

impl Shared {
    /// This runner's row in `runners`, its heartbeat now.
    pub(crate) fn runner_row(&self) -> crate::store::runners::RunnerRow {
        crate::store::runners::RunnerRow {
            instance: self.instance.clone(),
            host: host_name(),
            pid: std::process::id(),
            started_at: self.started,
            heartbeat_at: self.now(),
        }
    }

    pub(crate) fn new(
        config: EngineConfig,
        handler: Arc<dyn Handler>,
        store: StoreHandle,
        instance: String,
    ) -> Self {
        let config_now = config.clock.now();
        Self {
            config,
            handler,
            store,
            instance,
            run_state: watch::channel(RunState::Running).0,
            held: AtomicUsize::new(0),
            takes_jobs: std::sync::atomic::AtomicBool::new(true),
            activity: Notify::new(),
            exit_reason: std::sync::Mutex::new(None),
            runner_failed: Notify::new(),
            runner_failed_set: std::sync::atomic::AtomicBool::new(false),
            pause_seen: std::sync::Mutex::new(None),
            started: config_now,
            alert_leases: std::sync::Mutex::new(Vec::new()),
            cancels: watch::channel(0).0,
        }
    }

    /// A job may have been cancelled: the workers check their leases now.
    pub(crate) fn cancelled(&self) {
        self.cancels.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn now(&self) -> crate::clock::Timestamp {
        self.config.clock.now()
    }

    pub(crate) fn state(&self) -> RunState {
        *self.run_state.borrow()
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
    /// (a runner that starts paused says so too). Whoever saw a resume wakes the Dispatcher.
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
            (Some(true), false) => event!("resumed"),
            _ => {}
        }
    }

    pub(crate) fn exit_reason(&self) -> Option<String> {
        self.exit_reason.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// This machine's name, as `hostname` prints it.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname(2) writes at most `buf.len()` bytes into a buffer we own.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if ok { String::from_utf8_lossy(&buf[..end]).into_owned() } else { "unknown".to_owned() }
}
