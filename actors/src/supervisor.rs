//! The Supervisor: starts the tree in order (Store, Alert, DeadLetter, Retry, Dispatcher, Pruner,
//! Workers), restarts what crashes, and stops it in reverse order. ractor restarts nothing by
//! itself and its default reaction to a child's death is to stop the parent, so every restart
//! here is explicit.
//!
//! A crashed Worker's lease is failed at once (the attempt counts, the error is the crash
//! reason) before its replacement starts, so the job retries after its backoff instead of
//! waiting out the lease. The Store restarts in place within a budget; past it the Supervisor
//! stops with the reason and the host process exits non-zero for systemd or Fly to restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::thread_local::{ThreadLocalActor, ThreadLocalActorSpawner};
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};

use crate::alert::Alert;
use crate::alerts::AlertKind;
use crate::dead_letter::DeadLetter;
use crate::dispatcher::{Dispatcher, DispatcherMsg, announce};
use crate::events::{event, warn_event};
use crate::policy::restart::RestartBudget;
use crate::pruner::Pruner;
use crate::rescuer::Rescuer;
use crate::retry::Retry;
use crate::shared::{RunState, Shared};
use crate::store::{Recovery, Store, StoreArgs};
use crate::worker::{Worker, WorkerArgs};

/// The Supervisor's mailbox: it only hears supervision events.
#[derive(Debug)]
pub(crate) enum SupervisorMsg {}

#[cfg(feature = "cluster")]
impl ractor::Message for SupervisorMsg {}

pub(crate) struct Supervisor {
    pub(crate) shared: Arc<Shared>,
}

/// Which child an actor id is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Store,
    Alert,
    DeadLetter,
    Retry,
    Dispatcher,
    Pruner,
    Rescuer,
    Worker { id: usize, generation: u64 },
}

pub(crate) struct SupervisorState {
    roles: HashMap<ActorId, Role>,
    spawner: ThreadLocalActorSpawner,
    store_budget: RestartBudget,
    other_budget: RestartBudget,
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
            roles: HashMap::new(),
            // The Store's own OS thread: blocking SQLite never stalls the tokio workers.
            spawner: ThreadLocalActorSpawner::new(),
            store_budget: RestartBudget::new(cfg.store_restarts, cfg.store_restart_window),
            other_budget: RestartBudget::new(cfg.workers as u32 * 5 + 5, Duration::from_secs(60)),
        };
        let started = self.start_tree(&myself, &mut st).await;
        if let Err(e) = started {
            myself.stop_children(Some("start failed".to_owned()));
            return Err(e);
        }
        Ok(st)
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
        let Some(role) = st.roles.remove(&cell.get_id()) else { return Ok(()) };
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
        myself: ActorRef<SupervisorMsg>,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let _ = self.shared.run_state.send_replace(RunState::Abort);
        // Reverse start order; the Store last and drained, so buffered writes commit.
        let order = [Role::Rescuer, Role::Pruner, Role::Retry, Role::DeadLetter, Role::Alert];
        let children = myself.get_children();
        let role_of = |c: &ActorCell| st.roles.get(&c.get_id()).copied();
        let workers: Vec<&ActorCell> =
            children.iter().filter(|c| matches!(role_of(c), Some(Role::Worker { .. }))).collect();
        for w in workers {
            let _ = w.stop_and_wait(None, Some(Duration::from_secs(10))).await;
        }
        // The Dispatcher settles what the workers reported before the Store stops.
        for c in children.iter().filter(|c| role_of(c) == Some(Role::Dispatcher)) {
            let _ = c.drain_and_wait(Some(Duration::from_secs(30))).await;
        }
        for role in order {
            for c in children.iter().filter(|c| role_of(c) == Some(role)) {
                let _ = c.stop_and_wait(None, Some(Duration::from_secs(10))).await;
            }
        }
        for c in children.iter().filter(|c| role_of(c) == Some(Role::Store)) {
            let _ = c.drain_and_wait(Some(Duration::from_secs(30))).await;
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
    async fn start_tree(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let shared = &self.shared;
        // Hand the Store's own error (a damaged or read-only database) to Engine::start.
        self.spawn(myself, st, Role::Store).await.map_err(startup_cause)?;
        // Every `running` row belongs to a process that died: we hold the runner lock.
        for (key, failed) in shared.store.recover(Recovery::AllRunning, shared.now()).await? {
            announce(shared, &key, failed);
        }
        // The cap this runner holds claims to is the one in force, for every process to show.
        shared.store.record_cap(shared.config.daily_cap_set_by.clone(), shared.now()).await?;
        // A runner that starts with the kill switch on says so; later flips are seen as they
        // commit (the Store's watch, or this engine's own pause and resume).
        let (paused, reason) = shared.store.pause_state().await?;
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
        let sup = myself.get_cell();
        let cell = match role {
            Role::Store => {
                let mut args = StoreArgs::from_config(&shared.config);
                let weak = Arc::downgrade(shared);
                args.on_external_commit = Some(Arc::new(move |paused, reason| {
                    if let Some(shared) = weak.upgrade() {
                        // Say so when the kill switch was flipped from another shell.
                        shared.saw_pause(paused, reason);
                        shared.wake_workers();
                    }
                }));
                let (store, _) = Store::spawn_linked(None, args, sup, st.spawner.clone()).await?;
                shared.store.replace(store.clone());
                store.get_cell()
            }
            Role::Alert => {
                let (a, _) =
                    Actor::spawn_linked(None, Alert { shared: shared.clone() }, (), sup).await?;
                shared.refs_mut().alert = Some(a.clone());
                a.get_cell()
            }
            Role::DeadLetter => {
                let actor = DeadLetter { shared: shared.clone() };
                let (d, _) = Actor::spawn_linked(None, actor, (), sup).await?;
                shared.refs_mut().dead_letter = Some(d.clone());
                d.get_cell()
            }
            Role::Retry => {
                let (r, _) =
                    Actor::spawn_linked(None, Retry { shared: shared.clone() }, (), sup).await?;
                shared.refs_mut().retry = Some(r.clone());
                r.get_cell()
            }
            Role::Rescuer => {
                let actor = Rescuer { shared: shared.clone() };
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
                let actor = Dispatcher { shared: shared.clone() };
                let (d, _) = Actor::spawn_linked(None, actor, (), sup).await?;
                shared.refs_mut().dispatcher = Some(d.clone());
                d.get_cell()
            }
            Role::Worker { id, .. } => {
                let dispatcher = shared.refs().dispatcher.clone().ok_or_else(|| {
                    SpawnErr::StartupFailed(
                        "a worker needs the dispatcher, which is not running".into(),
                    )
                })?;
                let actor = Worker { shared: shared.clone() };
                let (w, _) =
                    Actor::spawn_linked(None, actor, WorkerArgs { id, dispatcher }, sup).await?;
                shared.refs_mut().workers[id] = Some(w.clone());
                w.get_cell()
            }
        };
        st.roles.insert(cell.get_id(), role);
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
            shared.alert_flush(Duration::from_secs(5)).await;
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
    async fn dispatcher_lost(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        st: &mut SupervisorState,
        reason: &str,
    ) -> Vec<Role> {
        let shared = &self.shared;
        shared.refs_mut().dispatcher = None;
        let workers: Vec<(ActorId, Role)> = st
            .roles
            .iter()
            .filter(|(_, r)| matches!(r, Role::Worker { .. }))
            .map(|(id, r)| (*id, *r))
            .collect();
        for cell in myself.get_children() {
            if workers.iter().any(|(id, _)| *id == cell.get_id()) {
                st.roles.remove(&cell.get_id());
                let _ = cell.kill_and_wait(Some(Duration::from_secs(10))).await;
            }
        }
        let error = format!("dispatcher crashed: {reason}");
        match shared.store.fail_owner(shared.instance.clone(), error, shared.now()).await {
            Ok(failed) => failed.into_iter().for_each(|(key, f)| announce(shared, &key, f)),
            Err(e) => warn_event!("worker_lease_unsettled", error = %e),
        }
        workers.into_iter().map(|(_, r)| r).collect()
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
            shared.refs_mut().workers[id] = None;
            // The Dispatcher fails the attempt it ran now (counted) rather than wait for its
            // lease to expire.
            if let Some(d) = shared.refs().dispatcher.clone() {
                let _ = d.cast(DispatcherMsg::WorkerLost { id, reason: reason.clone() });
            }
            if !running {
                return Ok(());
            }
        }
        let pool = if role == Role::Dispatcher {
            let pool = self.dispatcher_lost(myself, st, &reason).await;
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
        event!("worker_restarted", actor = ?role, reason = %reason);
        if matches!(role, Role::Store) {
            shared.wake_workers();
        }
        Ok(())
    }
}
