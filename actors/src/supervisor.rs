//! The Supervisor: starts the tree in order (Store, Alert, DeadLetter, Retry, Dispatcher, Pruner,
//! Rescuer, Workers), restarts what crashes, answers the host's verbs (drain, shutdown, status),
//! and stops the tree in reverse order. ractor restarts nothing by itself and its default
//! reaction to a child's death is to stop the parent, so every restart here is explicit.
//!
//! It owns the table of its children (the worker table included, kept nowhere else) and the
//! [`Slot`]s through which actors reach the ones a restart replaces: each actor is handed, when
//! it starts, the slots it sends to and nothing more. A restarted Dispatcher gets a new pool of
//! workers that report to it; a restarted Retry, DeadLetter or Alert is seen by its senders
//! through its slot at their next send.
//!
//! A crashed Worker's lease is failed at once (the attempt counts, the error is the crash
//! reason) before its replacement starts, so the job retries after its backoff instead of
//! waiting out the lease. The Store restarts in place within a budget; past it the Supervisor
//! stops with the reason and the host process exits non-zero for systemd or Fly to restart.
//!
//! It never claims, settles or runs a job: a drain waits for the Dispatcher's count of held
//! jobs, and a shutdown only flips the run state and tells the Dispatcher to stop claiming.

mod verbs;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::thread_local::{ThreadLocalActor, ThreadLocalActorSpawner};
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr,
    SupervisionEvent,
};
use tokio::sync::{mpsc, oneshot};

pub(crate) use self::verbs::flush_alerts;

use crate::alert::{Alert, AlertMsg};
use crate::alerts::AlertKind;
use crate::dead_letter::{DeadLetter, DeadLetterMsg};
use crate::dispatcher::{Dispatcher, DispatcherMsg, announce};
use crate::error::EngineError;
use crate::events::{event, warn_event};
use crate::job::Status;
use crate::links::{Notices, Slot};
use crate::policy::restart::RestartBudget;
use crate::pruner::Pruner;
use crate::rescuer::Rescuer;
use crate::retry::{Retry, RetryMsg};
use crate::shared::{RunState, Shared};
use crate::store::gates::Gate;
use crate::store::{Recovery, Store, StoreArgs};
use crate::worker::{Worker, WorkerArgs};

/// The Supervisor's mailbox: the host's verbs, sent by [`crate::EngineHandle`].
pub(crate) enum SupervisorMsg {
    /// Answer when no job is held and none is due within `window` (or a gate holds claims past
    /// it), with the final status; each gate the drain starts waiting for goes to `gates`.
    Drain {
        window: Duration,
        gates: mpsc::UnboundedSender<Gate>,
        reply: RpcReplyPort<Result<Status, EngineError>>,
    },
    /// Claim nothing more, give held jobs `grace`, abort what still runs, stop the tree; answer
    /// once it is down (with the reason when the runner failed).
    Shutdown { grace: Duration, reply: RpcReplyPort<Result<(), EngineError>> },
    /// Cut the grace of a shutdown short (a second Ctrl-C).
    Hurry,
    /// What the Supervisor knows of its tree.
    Status(RpcReplyPort<TreeStatus>),
    /// The current actor of one child (a worker of any generation), for fault injection
    /// (`None` while it is not running).
    Child(Role, RpcReplyPort<Option<ActorCell>>),
}

#[cfg(feature = "cluster")]
impl ractor::Message for SupervisorMsg {}

/// What the Supervisor knows of its tree, from [`crate::EngineHandle::tree_status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TreeStatus {
    /// Whether the runner claims, is stopping, or is aborting its handlers.
    pub state: RunState,
    /// The configured pool size.
    pub workers: usize,
    /// Workers running now (fewer only between a crash and its restart).
    pub workers_alive: usize,
    /// Children restarted since the engine started (workers, Store and the rest).
    pub restarts: u64,
    /// Jobs held unsettled: claimed, running, or with an outcome not yet committed.
    pub held: usize,
}

pub(crate) struct Supervisor {
    pub(crate) shared: Arc<Shared>,
    pub(crate) slots: Slots,
}

/// The slots the Supervisor fills as it (re)starts the actors others send to. Each actor gets
/// clones of the ones it needs; the host's handle gets the ones its verbs need.
#[derive(Clone)]
pub(crate) struct Slots {
    pub(crate) dispatcher: Slot<DispatcherMsg>,
    pub(crate) retry: Slot<RetryMsg>,
    pub(crate) dead_letter: Slot<DeadLetterMsg>,
    pub(crate) alert: Slot<AlertMsg>,
}

impl Slots {
    pub(crate) fn new() -> Self {
        Self {
            dispatcher: Slot::new(),
            retry: Slot::new(),
            dead_letter: Slot::new(),
            alert: Slot::new(),
        }
    }

    fn notices(&self) -> Notices {
        Notices { retry: self.retry.clone(), dead_letter: self.dead_letter.clone() }
    }
}

/// Which child an actor id is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Store,
    Alert,
    DeadLetter,
    Retry,
    Dispatcher,
    Pruner,
    Rescuer,
    Worker { id: usize, generation: u64 },
}

impl Role {
    /// Worker `id`, whatever its generation.
    pub(crate) fn worker(id: usize) -> Self {
        Role::Worker { id, generation: 0 }
    }

    /// The same child, a worker of any generation.
    fn is(self, child: Role) -> bool {
        match (self, child) {
            (Role::Worker { id, .. }, Role::Worker { id: wanted, .. }) => id == wanted,
            (role, child) => role == child,
        }
    }
}

pub(crate) struct SupervisorState {
    /// Every running child: the one table of the tree, workers included.
    tree: HashMap<ActorId, (Role, ActorCell)>,
    spawner: ThreadLocalActorSpawner,
    store_budget: RestartBudget,
    other_budget: RestartBudget,
    restarts: u64,
    /// Drains and the shutdown's wind-down, ended with the tree.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Callers of a shutdown, answered once the tree is down.
    stopping: Vec<RpcReplyPort<Result<(), EngineError>>>,
    /// Cuts the shutdown's grace short.
    hurry: Option<oneshot::Sender<()>>,
    hurried: bool,
}

impl SupervisorState {
    fn of(&self, role: impl Fn(Role) -> bool) -> Vec<ActorCell> {
        self.tree.values().filter(|(r, _)| role(*r)).map(|(_, c)| c.clone()).collect()
    }
}

#[cfg_attr(feature = "async-trait", ractor::async_trait)]
impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        _: (),
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let cfg = &self.shared.config;
        let mut st = SupervisorState {
            tree: HashMap::new(),
            // The Store's own OS thread: blocking SQLite never stalls the tokio workers.
            spawner: ThreadLocalActorSpawner::new(),
            store_budget: RestartBudget::new(cfg.store_restarts, cfg.store_restart_window),
            other_budget: RestartBudget::new(cfg.workers as u32 * 5 + 5, Duration::from_secs(60)),
            restarts: 0,
            tasks: Vec::new(),
            stopping: Vec::new(),
            hurry: None,
            hurried: false,
        };
        let started = self.start_tree(&myself, &mut st).await;
        if let Err(e) = started {
            myself.stop_children(Some("start failed".to_owned()));
            return Err(e);
        }
        Ok(st)
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        st.tasks.retain(|t| !t.is_finished());
        match msg {
            SupervisorMsg::Drain { window, gates, reply } => {
                let drain = verbs::Drain {
                    shared: self.shared.clone(),
                    dispatcher: self.slots.dispatcher.clone(),
                    window,
                    gates,
                };
                st.tasks.push(tokio::spawn(async move {
                    let _ = reply.send(drain.run().await);
                }));
            }
            SupervisorMsg::Shutdown { grace, reply } => {
                st.stopping.push(reply);
                if st.stopping.len() == 1 {
                    self.begin_shutdown(&myself, st, grace);
                }
            }
            SupervisorMsg::Hurry => {
                st.hurried = true;
                if let Some(hurry) = st.hurry.take() {
                    let _ = hurry.send(());
                }
            }
            SupervisorMsg::Status(reply) => {
                let _ = reply.send(self.tree_status(st));
            }
            SupervisorMsg::Child(child, reply) => {
                let cell = st.tree.values().find(|(r, _)| r.is(child)).map(|(_, c)| c.clone());
                let _ = reply.send(cell);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        evt: SupervisionEvent,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, reason) = match evt {
            SupervisionEvent::ActorFailed(cell, err) => (cell, err.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_else(|| "stopped".to_owned()))
            }
            _ => return Ok(()),
        };
        let Some((role, _)) = st.tree.remove(&cell.get_id()) else { return Ok(()) };
        self.emptied(role);
        if let Err(why) = self.restart(&myself, st, role, reason).await {
            warn_event!("supervisor_stopped", reason = %why);
            self.shared.set_exit_reason(why.clone());
            self.alert_crash_loop(&why).await;
            myself.stop(Some(why));
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<SupervisorMsg>,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let _ = self.shared.run_state.send_replace(RunState::Abort);
        // A drain still waiting ends with the tree (its caller hears that the engine stopped).
        for task in st.tasks.drain(..) {
            task.abort();
        }
        // Reverse start order; the Store last and drained, so buffered writes commit.
        let order = [Role::Rescuer, Role::Pruner, Role::Retry, Role::DeadLetter, Role::Alert];
        for w in st.of(|r| matches!(r, Role::Worker { .. })) {
            let _ = w.stop_and_wait(None, Some(Duration::from_secs(10))).await;
        }
        // The Dispatcher settles what the workers reported before the Store stops.
        for c in st.of(|r| r == Role::Dispatcher) {
            let _ = c.drain_and_wait(Some(Duration::from_secs(30))).await;
        }
        for role in order {
            for c in st.of(|r| r == role) {
                let _ = c.stop_and_wait(None, Some(Duration::from_secs(10))).await;
            }
        }
        for c in st.of(|r| r == Role::Store) {
            let _ = c.drain_and_wait(Some(Duration::from_secs(30))).await;
        }
        for role in [Role::Dispatcher, Role::Retry, Role::DeadLetter, Role::Alert] {
            self.emptied(role);
        }
        st.tree.clear();
        for reply in st.stopping.drain(..) {
            let _ = reply.send(match self.shared.exit_reason() {
                Some(why) => Err(EngineError::Stopped(why)),
                None => Ok(()),
            });
        }
        Ok(())
    }
}

/// The error an actor's `pre_start` returned, unwrapped from the spawn errors around it (a
/// thread-local spawn wraps it twice).
pub(crate) fn startup_cause(e: SpawnErr) -> ActorProcessingErr {
    let mut cause: ActorProcessingErr = Box::new(e);
    loop {
        match cause.downcast::<SpawnErr>() {
            Ok(spawn) => match *spawn {
                SpawnErr::StartupFailed(inner) => cause = inner,
                other => return Box::new(other),
            },
            Err(other) => return other,
        }
    }
}

impl Supervisor {
    /// Claim nothing more and hand the rest of the shutdown to its wind-down task.
    fn begin_shutdown(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        st: &mut SupervisorState,
        grace: Duration,
    ) {
        let shared = &self.shared;
        shared.run_state.send_if_modified(|s| {
            let running = *s == RunState::Running;
            if running {
                *s = RunState::Stopping;
            }
            running
        });
        self.slots.dispatcher.cast(DispatcherMsg::Stop);
        let (hurry, hurried) = oneshot::channel();
        if st.hurried {
            let _ = hurry.send(());
        } else {
            st.hurry = Some(hurry);
        }
        let (dead_letter, alert) = (self.slots.dead_letter.clone(), self.slots.alert.clone());
        let task =
            verbs::wind_down(shared.clone(), dead_letter, alert, grace, hurried, myself.clone());
        st.tasks.push(tokio::spawn(task));
    }

    fn tree_status(&self, st: &SupervisorState) -> TreeStatus {
        let alive = st
            .of(|r| matches!(r, Role::Worker { .. }))
            .iter()
            .filter(|c| {
                use ractor::ActorStatus::{Running, Starting, Upgrading};
                // Spawned and not stopping (a worker is marked running just after it started).
                matches!(c.get_status(), Starting | Running | Upgrading)
            })
            .count();
        TreeStatus {
            state: self.shared.state(),
            workers: self.shared.config.workers,
            workers_alive: alive,
            restarts: st.restarts,
            held: self.shared.in_flight(),
        }
    }

    /// A child of `role` is gone: its senders find its slot empty until a new one starts.
    fn emptied(&self, role: Role) {
        match role {
            Role::Dispatcher => self.slots.dispatcher.clear(),
            Role::Retry => self.slots.retry.clear(),
            Role::DeadLetter => self.slots.dead_letter.clear(),
            Role::Alert => self.slots.alert.clear(),
            Role::Store | Role::Pruner | Role::Rescuer | Role::Worker { .. } => {}
        }
    }

    async fn start_tree(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let shared = &self.shared;
        // Hand the Store's own error (a damaged or read-only database) to Engine::start.
        self.spawn(myself, st, Role::Store).await.map_err(startup_cause)?;
        // Every `running` row belongs to a process that died: we hold the runner lock.
        // (No Retry or DeadLetter runs yet: they read the table when they start.)
        // The cap this runner holds claims to is the one in force, for every process to show.
        // A runner that starts with the kill switch on says so; later flips are seen as they
        // commit (the Store's watch, or this engine's own pause and resume). Sent together, the
        // two writes share one commit and the read is answered beside them.
        let now = shared.now();
        let (recovered, recorded, pause) = tokio::join!(
            shared.store.recover(Recovery::AllRunning, now),
            shared.store.record_cap(shared.config.daily_cap_set_by.clone(), now),
            shared.store.pause_state(),
        );
        let notices = self.slots.notices();
        for (key, failed) in recovered? {
            announce(&notices, &key, failed);
        }
        recorded?;
        let (paused, reason) = pause?;
        shared.saw_pause(paused, reason.as_deref());
        let roles = [
            Role::Alert,
            Role::DeadLetter,
            Role::Retry,
            Role::Dispatcher,
            Role::Pruner,
            Role::Rescuer,
        ];
        for role in roles {
            self.spawn(myself, st, role).await?;
        }
        for id in 0..shared.config.workers {
            self.spawn(myself, st, Role::Worker { id, generation: 0 }).await?;
        }
        Ok(())
    }

    async fn spawn(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        st: &mut SupervisorState,
        role: Role,
    ) -> Result<(), SpawnErr> {
        let shared = &self.shared;
        let slots = &self.slots;
        let sup = myself.get_cell();
        let cell = match role {
            Role::Store => {
                let mut args = StoreArgs::from_config(&shared.config);
                let weak = Arc::downgrade(shared);
                let dispatcher = slots.dispatcher.clone();
                args.on_external_commit = Some(Arc::new(move |paused, reason| {
                    if let Some(shared) = weak.upgrade() {
                        // Say so when the kill switch was flipped from another shell.
                        shared.saw_pause(paused, reason);
                        if paused {
                            dispatcher.cast(DispatcherMsg::Paused(None));
                        } else {
                            dispatcher.wake();
                        }
                    }
                }));
                let (store, _) = Store::spawn_linked(None, args, sup, st.spawner.clone()).await?;
                shared.store.replace(store.clone());
                store.get_cell()
            }
            Role::Alert => {
                let (a, _) =
                    Actor::spawn_linked(None, Alert { shared: shared.clone() }, (), sup).await?;
                slots.alert.set(a.clone());
                a.get_cell()
            }
            Role::DeadLetter => {
                let actor = DeadLetter {
                    shared: shared.clone(),
                    alert: slots.alert.clone(),
                    dispatcher: slots.dispatcher.clone(),
                };
                let (d, _) = Actor::spawn_linked(None, actor, (), sup).await?;
                slots.dead_letter.set(d.clone());
                d.get_cell()
            }
            Role::Retry => {
                let actor = Retry { shared: shared.clone(), dispatcher: slots.dispatcher.clone() };
                let (r, _) = Actor::spawn_linked(None, actor, (), sup).await?;
                slots.retry.set(r.clone());
                r.get_cell()
            }
            Role::Rescuer => {
                let actor = Rescuer { shared: shared.clone(), notices: slots.notices() };
                let (r, _) = Actor::spawn_linked(None, actor, (), sup).await?;
                r.get_cell()
            }
            Role::Pruner => {
                let cfg = &shared.config;
                let (store, retention) = (shared.store.clone(), cfg.retention.clone());
                let actor = Pruner { store, retention, clock: cfg.clock.clone() };
                Actor::spawn_linked(None, actor, (), sup).await?.0.get_cell()
            }
            Role::Dispatcher => {
                let actor = Dispatcher { shared: shared.clone(), notices: slots.notices() };
                let (d, _) = Actor::spawn_linked(None, actor, (), sup).await?;
                slots.dispatcher.set(d.clone());
                d.get_cell()
            }
            Role::Worker { id, .. } => {
                // Its Dispatcher for life: a new Dispatcher comes with a new pool.
                let dispatcher = slots.dispatcher.get().ok_or_else(|| {
                    SpawnErr::StartupFailed(
                        "a worker needs the dispatcher, which is not running".into(),
                    )
                })?;
                let actor = Worker { shared: shared.clone() };
                let (w, _) =
                    Actor::spawn_linked(None, actor, WorkerArgs { id, dispatcher }, sup).await?;
                w.get_cell()
            }
        };
        st.tree.insert(cell.get_id(), (role, cell));
        Ok(())
    }

    /// Owes and sends the `crash_loop` alert before the tree stops: through the outbox when the
    /// Store still answers (so a failed delivery is retried by the next run), and straight to
    /// the webhook when it does not. Bounded: the process is about to exit.
    async fn alert_crash_loop(&self, why: &str) {
        let shared = &self.shared;
        let body = serde_json::json!({ "reason": why });
        let owed = tokio::time::timeout(
            Duration::from_secs(2),
            shared.store.owe_alert(AlertKind::CrashLoop, body.clone(), shared.now()),
        )
        .await;
        if matches!(owed, Ok(Ok(_))) {
            flush_alerts(&self.slots.dead_letter, &self.slots.alert, Duration::from_secs(5)).await;
            return;
        }
        let cfg = &shared.config.alert;
        let Some(url) = &cfg.webhook else { return };
        if let Ok(target) =
            crate::alerts::Target::with_timeout(url, cfg.format, Duration::from_secs(5))
        {
            let msg = crate::alerts::Message::from_outbox(0, AlertKind::CrashLoop, None, body);
            match target.send(&msg).await {
                Ok(()) => event!("alert_sent", kind = %AlertKind::CrashLoop),
                Err(e) => {
                    warn_event!("alert_failed", kind = %AlertKind::CrashLoop, error = %e.text)
                }
            }
        }
    }

    /// The Dispatcher died with what it knew of the jobs in flight: stop the workers (their
    /// handlers are dropped), fail every lease this runner holds (attempt counted, as for a
    /// crashed worker), and return the pool for the restart to bring back after a new
    /// Dispatcher.
    async fn dispatcher_lost(&self, st: &mut SupervisorState, reason: &str) -> Vec<Role> {
        let shared = &self.shared;
        let workers: Vec<ActorId> = st
            .tree
            .iter()
            .filter(|(_, (r, _))| matches!(r, Role::Worker { .. }))
            .map(|(id, _)| *id)
            .collect();
        let mut pool = Vec::new();
        for id in workers {
            // Out of the table first: their deaths are this restart's, not events to act on.
            if let Some((role, cell)) = st.tree.remove(&id) {
                let _ = cell.kill_and_wait(Some(Duration::from_secs(10))).await;
                pool.push(role);
            }
        }
        let error = format!("dispatcher crashed: {reason}");
        let notices = self.slots.notices();
        match shared.store.fail_owner(shared.instance.clone(), error, shared.now()).await {
            Ok(failed) => failed.into_iter().for_each(|(key, f)| announce(&notices, &key, f)),
            Err(e) => warn_event!("worker_lease_unsettled", error = %e),
        }
        // Every lease it held is settled now (or left to the Rescuer): nothing is held until a
        // new Dispatcher says otherwise, so a shutdown under way does not wait for its count.
        shared.set_held(0);
        pool
    }

    /// Restarts a dead child; `Err` when the tree must stop instead.
    async fn restart(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        st: &mut SupervisorState,
        role: Role,
        reason: String,
    ) -> Result<(), String> {
        let shared = &self.shared;
        let running = shared.state() == RunState::Running;
        if let Role::Worker { id, .. } = role {
            // The Dispatcher fails the attempt it ran now (counted) rather than wait for its
            // lease to expire.
            self.slots.dispatcher.cast(DispatcherMsg::WorkerLost { id, reason: reason.clone() });
            if !running {
                return Ok(());
            }
        }
        let pool = if role == Role::Dispatcher {
            let pool = self.dispatcher_lost(st, &reason).await;
            if !running {
                return Ok(());
            }
            pool
        } else {
            Vec::new()
        };
        let budget = match role {
            Role::Store => &mut st.store_budget,
            _ => &mut st.other_budget,
        };
        if !budget.allow(Instant::now()) {
            return Err(format!(
                "{role:?} keeps crashing (last: {reason}); restart budget exhausted"
            ));
        }
        let next = |role| match role {
            Role::Worker { id, generation } => Role::Worker { id, generation: generation + 1 },
            other => other,
        };
        // A new Dispatcher first, then a new pool that reports to it.
        for role in std::iter::once(role).chain(pool) {
            self.spawn(myself, st, next(role)).await.map_err(|e| {
                let cause = match e {
                    SpawnErr::StartupFailed(inner) => inner.to_string(),
                    other => other.to_string(),
                };
                format!("could not restart {role:?}: {cause}")
            })?;
        }
        st.restarts += 1;
        event!("worker_restarted", actor = ?role, reason = %reason);
        if matches!(role, Role::Store) {
            self.slots.dispatcher.wake();
        }
        Ok(())
    }
}
