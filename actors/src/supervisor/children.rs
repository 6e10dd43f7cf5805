//! How the Supervisor starts its children, in order, and restarts the one that crashed: each
//! is spawned with the slots it sends to, its own slot filled once it runs and emptied when it
//! dies; a lost Dispatcher takes its pool of workers with it, their leases failed first. It
//! never runs a job and never decides the tree's state (the verbs and the crash policy in the
//! parent module do).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::thread_local::ThreadLocalActor;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SpawnErr};

use super::{Role, Supervisor, SupervisorMsg, SupervisorState, flush_alerts, startup_cause};
use crate::alert::Alert;
use crate::alerts::AlertKind;
use crate::dead_letter::DeadLetter;
use crate::dispatcher::{Dispatcher, DispatcherMsg, announce};
use crate::events::{event, warn_event};
use crate::policy::backoff::backoff;
use crate::pruner::Pruner;
use crate::rescuer::Rescuer;
use crate::retry::Retry;
use crate::shared::RunState;
use crate::store::{Recovery, Store, StoreArgs};
use crate::worker::{Worker, WorkerArgs};

impl Supervisor {
    /// A child of `role` is gone: its senders find its slot empty until a new one starts.
    pub(super) fn emptied(&self, role: Role) {
        match role {
            Role::Dispatcher => self.slots.dispatcher.clear(),
            Role::Retry => self.slots.retry.clear(),
            Role::DeadLetter => self.slots.dead_letter.clear(),
            Role::Alert => self.slots.alert.clear(),
            Role::Store | Role::Pruner | Role::Rescuer | Role::Worker { .. } => {}
        }
    }

    pub(super) async fn start_tree(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let shared = &self.shared;
        // Hand the Store's own error (a damaged or read-only database) to Engine::start.
        self.spawn(myself, st, Role::Store).await.map_err(startup_cause)?;
        // On SQLite every `running` row belongs to a process that died: we hold the runner
        // lock. On PostgreSQL other runners may hold running jobs: only expired leases are
        // taken back, as the Rescuer does (a dead runner's jobs wait at most one lease).
        // (No Retry or DeadLetter runs yet: they read the table when they start.)
        // The cap this runner holds claims to is the one in force, for every process to show.
        // A runner that starts with the kill switch on says so; later flips are seen as they
        // commit (the Store's watch, or this engine's own pause and resume). Sent together, the
        // two writes share one commit and the read is answered beside them.
        let now = shared.now();
        let recovery = if shared.config.is_postgres() {
            Recovery::ExpiredLeases
        } else {
            Recovery::AllRunning
        };
        let (recovered, recorded, pause, registered) = tokio::join!(
            shared.store.recover(recovery, now),
            shared.store.record_cap(shared.config.daily_cap_set_by.clone(), now),
            shared.store.pause_state(),
            shared.store.runner_beat(shared.runner_row()),
        );
        registered?;
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

    pub(super) async fn spawn(
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
                        // Another process may have cancelled a job running here.
                        shared.cancelled();
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
                let actor = Retry {
                    shared: shared.clone(),
                    dispatcher: slots.dispatcher.clone(),
                    notices: slots.notices(),
                };
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
    pub(super) async fn alert_crash_loop(&self, why: &str) {
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
    pub(super) async fn dispatcher_lost(
        &self,
        st: &mut SupervisorState,
        reason: &str,
    ) -> Vec<Role> {
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
    pub(super) async fn restart(
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
        if role == Role::Store {
            return self.restart_store(myself, st, reason, Reconnect::first()).await;
        }
        // A new Dispatcher first, then a new pool that reports to it.
        for role in std::iter::once(role).chain(pool) {
            self.spawn(myself, st, next(role)).await.map_err(|e| {
                // The actor's own error, not the spawn errors around it ("Actor panicked
                // during startup" for a Store that could not connect).
                format!("could not restart {role:?}: {}", startup_cause(e))
            })?;
        }
        st.restarts += 1;
        event!("worker_restarted", actor = ?role, reason = %reason);
        Ok(())
    }

    /// Starts a new Store. On PostgreSQL a connection that fails (the server restarting, a
    /// failover) is tried again with backoff for up to the Store's restart window (60 s by
    /// default: longer than a server restart or a managed failover takes), the tree up and the
    /// Store's slot empty meanwhile (its callers get `Unavailable`; the Dispatcher keeps its
    /// outcomes to send again); past that, or on SQLite, the tree stops.
    pub(super) async fn restart_store(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        st: &mut SupervisorState,
        reason: String,
        reconnect: Reconnect,
    ) -> Result<(), String> {
        match self.spawn(myself, st, Role::Store).await {
            Ok(()) => {
                st.restarts += 1;
                event!("worker_restarted", actor = ?Role::Store, reason = %reason,
                    tries = reconnect.attempt + 1);
                self.slots.dispatcher.wake();
                Ok(())
            }
            Err(e) => {
                // The actor's own error, not the spawn errors around it ("Actor panicked
                // during startup" for a Store that could not connect).
                let why = startup_cause(e);
                let pg = self.shared.config.is_postgres();
                let window = self.shared.config.store_restart_window;
                if !pg || reconnect.since.elapsed() >= window {
                    return Err(format!("could not restart Store: {why}"));
                }
                let wait = backoff(RECONNECT_BASE, RECONNECT_CAP, reconnect.attempt);
                warn_event!("store_reconnecting", attempt = reconnect.attempt + 1,
                    retry_in_ms = wait.as_millis() as u64, error = %why);
                let next = Reconnect { attempt: reconnect.attempt + 1, since: reconnect.since };
                myself.send_after(wait, move || SupervisorMsg::RestartStore { reason, next });
                Ok(())
            }
        }
    }
}

const RECONNECT_BASE: Duration = Duration::from_millis(100);
const RECONNECT_CAP: Duration = Duration::from_secs(5);

/// Where a Store's reconnecting stands.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reconnect {
    /// Failed tries so far.
    attempt: u32,
    /// When the first try began.
    since: Instant,
}

impl Reconnect {
    fn first() -> Self {
        Reconnect { attempt: 0, since: Instant::now() }
    }
}
