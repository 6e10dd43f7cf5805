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

mod children;
mod verbs;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::thread_local::ThreadLocalActorSpawner;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr,
    SupervisionEvent,
};
use tokio::sync::{mpsc, oneshot};

pub(crate) use self::verbs::flush_alerts;

use crate::alert::AlertMsg;
use crate::dead_letter::DeadLetterMsg;
use crate::dispatcher::DispatcherMsg;
use crate::error::EngineError;
use crate::events::warn_event;
use crate::job::Status;
use crate::links::{Notices, Slot};
use crate::policy::restart::RestartBudget;
use crate::retry::RetryMsg;
use crate::shared::{RunState, Shared};
use crate::store::gates::Gate;

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
    /// Try again to start a Store whose connection failed (PostgreSQL).
    RestartStore { reason: String, next: children::Reconnect },
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
            SupervisorMsg::RestartStore { reason, next } => {
                if let Err(why) = self.restart_store(&myself, st, reason, next).await {
                    self.give_up(&myself, why).await;
                }
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
            self.give_up(&myself, why).await;
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
    /// A child could not be restarted: the tree stops with `why`, said and alerted.
    async fn give_up(&self, myself: &ActorRef<SupervisorMsg>, why: String) {
        warn_event!("supervisor_stopped", reason = %why);
        self.shared.set_exit_reason(why.clone());
        self.alert_crash_loop(&why).await;
        myself.stop(Some(why));
    }

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
}
