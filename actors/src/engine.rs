//! The embedding API: [`Engine::start`] builds the supervision tree over one database and
//! returns an [`EngineHandle`] that enqueues, inspects, replays, pauses, drains and shuts down.
//! Drain, shutdown and the tree's status are messages the Supervisor answers; the handle only
//! sends them and waits.

mod chaos;
mod enqueuer;
mod operator;

pub use chaos::ChaosHandle;
pub use enqueuer::Enqueuer;
pub use operator::Operator;

use std::sync::Arc;
use std::time::Duration;

use ractor::concurrency::JoinHandle;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorCell, ActorRef};

use crate::alert::AlertMsg;
use crate::config::EngineConfig;
use crate::dead_letter::DeadLetterMsg;
use crate::error::{EngineError, StoreError};
use crate::events::event;
use crate::job::{DeadJob, Enqueued, Handler, JobRecord, JobStatus, NewJob, Selector, Status};
use crate::links::Slot;
use crate::lock::RunnerLock;
use crate::shared::Shared;
use crate::store::StoreHandle;
use crate::store::gates::Gate;
use crate::supervisor::{
    Slots, Supervisor, SupervisorMsg, TreeStatus, flush_alerts, startup_cause,
};

/// Starts engines.
#[derive(Debug)]
pub struct Engine;

impl Engine {
    /// Starts the tree as a root actor. Takes the database's runner lock: a second engine on
    /// the same file (in this process or another) gets [`EngineError::Locked`].
    pub async fn start(
        config: EngineConfig,
        handler: impl Handler,
    ) -> Result<EngineHandle, EngineError> {
        Self::start_inner(config, Arc::new(handler), None).await
    }

    /// Starts the tree linked under a host's actor, which then receives a supervision event if
    /// the engine stops on its own (its restart budget ran out).
    pub async fn start_linked(
        config: EngineConfig,
        handler: impl Handler,
        supervisor: ActorCell,
    ) -> Result<EngineHandle, EngineError> {
        Self::start_inner(config, Arc::new(handler), Some(supervisor)).await
    }

    async fn start_inner(
        config: EngineConfig,
        handler: Arc<dyn Handler>,
        host: Option<ActorCell>,
    ) -> Result<EngineHandle, EngineError> {
        validate(&config)?;
        let lock = RunnerLock::acquire(&config.db)?;
        // Only a lock proves that no other runner works the database: on PostgreSQL, where
        // several may, there is nothing a dead runner left that is safe to clean up here.
        if let Some(hook) = config.on_locked.as_ref().filter(|_| !config.is_postgres()) {
            hook();
        }
        let instance = format!("ns-{:08x}", rand::random::<u32>());
        let workers = config.workers;
        let shared = Arc::new(Shared::new(config, handler, StoreHandle::empty(), instance));
        let slots = Slots::new();
        let actor = Supervisor { shared: shared.clone(), slots: slots.clone() };
        let spawned = match host {
            Some(host) => Actor::spawn_linked(None, actor, (), host).await,
            None => Actor::spawn(None, actor, ()).await,
        };
        let (supervisor, join) =
            spawned.map_err(|e| match startup_cause(e).downcast::<StoreError>() {
                Ok(store) => EngineError::Store(*store),
                Err(other) => EngineError::Spawn(other.to_string()),
            })?;
        event!("runner_started", workers = workers);
        let enqueuer =
            Enqueuer { shared: shared.clone(), dispatcher: slots.dispatcher, retry: slots.retry };
        Ok(EngineHandle {
            shared,
            supervisor,
            enqueuer,
            dead_letter: slots.dead_letter,
            alert: slots.alert,
            join: Some(join),
            _lock: lock,
        })
    }
}

fn validate(config: &EngineConfig) -> Result<(), EngineError> {
    let bad = |what: &str| Err(EngineError::Store(StoreError::InvalidValue(what.to_owned())));
    if config.workers == 0 {
        return bad("workers must be at least 1");
    }
    if config.retry.max_attempts == 0 {
        return bad("max_attempts must be at least 1");
    }
    if config.lease.is_zero() || config.heartbeat.is_zero() || config.heartbeat >= config.lease {
        return bad("the heartbeat must be above zero and shorter than the lease");
    }
    if config.timeout.is_zero() || config.poll_interval.is_zero() {
        return bad("the handler timeout and poll interval must be above zero");
    }
    Ok(())
}

/// A running engine. Dropping it without [`EngineHandle::shutdown`] stops the tree abruptly
/// (jobs in flight are recovered on the next start, their attempt counted).
pub struct EngineHandle {
    shared: Arc<Shared>,
    supervisor: ActorRef<SupervisorMsg>,
    enqueuer: Enqueuer,
    dead_letter: Slot<DeadLetterMsg>,
    alert: Slot<AlertMsg>,
    join: Option<JoinHandle<()>>,
    _lock: RunnerLock,
}

impl EngineHandle {
    /// Enqueues a job, idempotently on its key. Waits out a Store restart: a repeat of the
    /// same key cannot create a second row.
    pub async fn enqueue(&self, job: NewJob) -> Result<Enqueued, EngineError> {
        self.enqueuer().enqueue(job).await
    }

    /// A cloneable handle that only enqueues, for tasks that share one engine (a scheduler,
    /// request handlers).
    pub fn enqueuer(&self) -> Enqueuer {
        self.enqueuer.clone()
    }

    /// Counts, gates and spend.
    pub async fn status(&self) -> Result<Status, EngineError> {
        Ok(self.shared.store.status(self.shared.now()).await?)
    }

    /// One job by key.
    pub async fn job(&self, key: &str) -> Result<Option<JobRecord>, EngineError> {
        Ok(self.shared.store.job(key.to_owned()).await?)
    }

    /// Jobs, optionally of one status and queue.
    pub async fn jobs(
        &self,
        status: Option<JobStatus>,
        queue: Option<&str>,
        limit: u32,
    ) -> Result<Vec<JobRecord>, EngineError> {
        Ok(self.shared.store.jobs(status, queue.map(str::to_owned), limit).await?)
    }

    /// One dead-lettered job by key.
    pub async fn dead_letter(&self, key: &str) -> Result<Option<DeadJob>, EngineError> {
        Ok(self.shared.store.dead(key.to_owned()).await?)
    }

    /// Dead-lettered jobs, newest first.
    pub async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadJob>, EngineError> {
        Ok(self.shared.store.dead_list(limit).await?)
    }

    /// A cloneable handle for this engine's writes (enqueue, replay, purge, pause, resume),
    /// for tasks that share one engine, such as request handlers.
    pub fn operator(&self) -> Operator {
        Operator { enqueuer: self.enqueuer.clone(), dead_letter: self.dead_letter.clone() }
    }

    /// Moves dead-lettered jobs back to the queue, attempts reset, due at once. Returns the
    /// keys replayed.
    pub async fn replay(&self, which: Selector) -> Result<Vec<String>, EngineError> {
        self.operator().replay(which).await
    }

    /// Stores `payload` as the step `name` of the job `key`, which must be waiting for the
    /// signal `name` ([`Outcome::Wait`]), and makes it due now; see [`Operator::signal`].
    ///
    /// [`Outcome::Wait`]: crate::Outcome::Wait
    pub async fn signal(
        &self,
        key: &str,
        name: &str,
        payload: &str,
    ) -> Result<crate::Signalled, EngineError> {
        self.operator().signal(key, name, payload).await
    }

    /// Cancels the jobs `keys`; see [`Operator::cancel`].
    pub async fn cancel(&self, keys: &[&str]) -> Result<Vec<crate::Cancelled>, EngineError> {
        self.operator().cancel(keys).await
    }

    /// Deletes dead-lettered jobs for good. Returns the keys purged.
    pub async fn purge(&self, which: Selector) -> Result<Vec<String>, EngineError> {
        self.operator().purge(which).await
    }

    /// Turns the kill switch on: workers claim nothing more; jobs in flight finish.
    pub async fn pause(&self, reason: Option<&str>) -> Result<(), EngineError> {
        self.operator().pause(reason).await.map(drop)
    }

    /// Turns the kill switch off and wakes the workers.
    pub async fn resume(&self) -> Result<(), EngineError> {
        self.operator().resume().await.map(drop)
    }

    /// Runs every due job, waits for retries that fall due within `window`, then returns the
    /// final status (the `run --once` behaviour). Returns at once while paused; jobs scheduled
    /// past the window stay pending.
    pub async fn drain(&self, window: Duration) -> Result<Status, EngineError> {
        self.drain_observed(window, |_| {}).await
    }

    /// [`EngineHandle::drain`], calling `waiting` each time the drain starts to wait for a gate
    /// that lifts within the window (an open breaker's cooldown, the cap's next UTC day), so the
    /// host can say what it waits for. Logs `waiting_for_gate` then, and `claims_held` when it
    /// returns with a gate still holding claims.
    pub async fn drain_observed(
        &self,
        window: Duration,
        mut waiting: impl FnMut(&Gate),
    ) -> Result<Status, EngineError> {
        let (gates, mut waits) = tokio::sync::mpsc::unbounded_channel();
        let asked =
            self.supervisor.call(|reply| SupervisorMsg::Drain { window, gates, reply }, None);
        let mut asked = std::pin::pin!(asked);
        let answer = loop {
            tokio::select! {
                biased;
                Some(gate) = waits.recv() => waiting(&gate),
                answer = &mut asked => break answer,
            }
        };
        // Gates announced just before the answer are still the caller's to hear.
        while let Ok(gate) = waits.try_recv() {
            waiting(&gate);
        }
        match answer {
            Ok(CallResult::Success(drained)) => drained,
            _ => Err(self.stopped()),
        }
    }

    /// Ordered shutdown: claim nothing more, give running handlers `grace` to finish, then drop
    /// them and release their leases without counting an attempt, deliver what alerts can go
    /// in a few seconds, commit the Store's buffer, stop.
    pub async fn shutdown(self, grace: Duration) -> Result<(), EngineError> {
        self.shutdown_unless(grace, std::future::pending()).await
    }

    /// [`EngineHandle::shutdown`], with the grace period cut short when `hurry` resolves (a
    /// second Ctrl-C): running handlers are then stopped at once.
    pub async fn shutdown_unless(
        mut self,
        grace: Duration,
        hurry: impl std::future::Future<Output = ()>,
    ) -> Result<(), EngineError> {
        let supervisor = self.supervisor.clone();
        let answer = {
            let asked = supervisor.call(|reply| SupervisorMsg::Shutdown { grace, reply }, None);
            let mut asked = std::pin::pin!(asked);
            // Polled first, so the shutdown is sent before any hurry.
            tokio::select! {
                biased;
                answer = &mut asked => answer,
                () = hurry => {
                    let _ = supervisor.cast(SupervisorMsg::Hurry);
                    asked.await
                }
            }
        };
        if let Some(join) = self.join.take() {
            let _ = join.await;
        }
        event!("runner_stopped", reason = "shutdown");
        match answer {
            Ok(CallResult::Success(stopped)) => stopped,
            // The tree had stopped already (its restart budget ran out): say why, if it did.
            _ => match self.shared.exit_reason() {
                Some(why) => Err(EngineError::Stopped(why)),
                None => Ok(()),
            },
        }
    }

    /// What the Supervisor knows of its tree: the run state, workers alive, restarts, and how
    /// many jobs are held unsettled.
    pub async fn tree_status(&self) -> Result<TreeStatus, EngineError> {
        match self.supervisor.call(SupervisorMsg::Status, Some(Duration::from_secs(10))).await {
            Ok(CallResult::Success(status)) => Ok(status),
            _ => Err(self.stopped()),
        }
    }

    /// Resolves when the engine cannot go on, with the reason: the tree stopped on its own
    /// (restart budget exhausted), or a handler reported [`crate::Outcome::RunnerFailed`] (the
    /// tree is still up then, claiming nothing: call [`EngineHandle::shutdown`] to stop it in
    /// order, which returns the same reason).
    pub async fn wait(&mut self) -> EngineError {
        let shared = self.shared.clone();
        loop {
            let failed = shared.runner_failed.notified();
            let mut failed = std::pin::pin!(failed);
            failed.as_mut().enable();
            // The tree's own stop is waited for to the end (its crash_loop alert goes first);
            // a failed runner's tree is still up, so its reason is returned at once.
            if shared.runner_failed_set.load(std::sync::atomic::Ordering::SeqCst)
                && let Some(why) = shared.exit_reason()
            {
                return EngineError::Stopped(why);
            }
            let Some(join) = self.join.as_mut() else { break };
            tokio::select! {
                _ = join => {
                    self.join = None;
                    break;
                }
                _ = failed => {}
            }
        }
        EngineError::Stopped(shared.exit_reason().unwrap_or_else(|| "stopped".to_owned()))
    }

    /// Delivers owed alerts for at most `limit`; returns how many due ones are left.
    pub async fn flush_alerts(&self, limit: Duration) -> usize {
        flush_alerts(&self.dead_letter, &self.alert, limit).await
    }

    /// The error for a verb the tree did not answer: it stopped, and why when it said so.
    fn stopped(&self) -> EngineError {
        EngineError::Stopped(self.shared.exit_reason().unwrap_or_else(|| "stopped".to_owned()))
    }

    /// Test and fault-injection access to the tree's actors.
    #[doc(hidden)]
    pub fn chaos(&self) -> ChaosHandle {
        ChaosHandle { supervisor: self.supervisor.clone() }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        if self.join.is_some() {
            self.supervisor.stop(Some("engine handle dropped".to_owned()));
        }
    }
}
