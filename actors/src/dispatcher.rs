//! The Dispatcher: owns the jobs between the table and the workers. It keeps the list of free
//! workers, claims as many due jobs as they can take, hands one to each, and settles what they
//! report, one Store round at a time: settle the attempts that ended, insert what the engine's
//! handle enqueued, claim for the free workers, all in one commit. Workers never wait for a
//! commit: a worker that reports an outcome is free at once and gets the next job as soon as
//! one is claimed (while jobs finish faster than a commit, a few are claimed ahead, so a small
//! pool is not held to one job per worker per commit).
//!
//! It never runs a handler, and it answers nothing before its round commits: an outcome not yet
//! committed is still `running` in the table, so a crash re-runs that job with the interrupted
//! attempt counted. Events about an outcome (`job_succeeded`, `job_failed`, `retry_scheduled`,
//! `dead_lettered`, `job_interrupted`) are logged here, after the commit that made them true.

mod ahead;
mod answer;
mod report;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

pub(crate) use self::report::{Ended, announce};

use self::ahead::Ahead;

/// Rounds sent to the Store and not yet answered, at most. A second round may start while one
/// is in flight only to carry enqueues while every worker is busy: then the next inserts are
/// already in the Store's mailbox when a round commits, instead of waiting for its answer to
/// travel back. Settles and claims keep to one round at a time, so they gather into as few
/// commits as possible, and a job enqueued into an idle runner is claimed as it is inserted.
const ROUNDS_IN_FLIGHT: usize = 2;

use crate::error::StoreError;
use crate::events::warn_event;
use crate::job::{Enqueued, NewJob};
use crate::links::Notices;
use crate::shared::Shared;
use crate::store::{Charge, ClaimArgs, Claimed, FailKind, Round, RoundOut, Settle};
use crate::worker::WorkerMsg;

/// The Dispatcher's mailbox.
pub(crate) enum DispatcherMsg {
    /// Worker `id` is free: just started, or its attempt ended as `ended` (`None` when its
    /// lease was taken over and there is nothing to settle).
    Free { id: usize, worker: ActorRef<WorkerMsg>, ended: Option<Ended> },
    /// Jobs may be due (an enqueue, a retry falling due, a rescan, a resume).
    Wake,
    /// Enqueue in the next round; answered after its commit.
    Enqueue(NewJob, RpcReplyPort<Result<Enqueued, StoreError>>),
    /// Worker `id` died; the attempt it ran is failed (counted) with `reason`.
    WorkerLost { id: usize, reason: String },
    /// Shutdown began: give back the jobs claimed ahead and claim nothing more.
    Stop,
    /// The kill switch was turned on (by this runner or seen in another process's commit):
    /// give back the jobs claimed ahead at once, without waiting for a claim to find the gate
    /// closed; answered once they are out of the hand-out queue.
    Paused(Option<RpcReplyPort<()>>),
    /// Self-cast: start a round unless one is in flight.
    Round,
    /// The Store's answer to the round in flight.
    RoundDone(Result<RoundOut, StoreError>),
    /// Periodic: extend the leases of the jobs claimed ahead.
    Heartbeat,
    /// Which of the leases `(key, token)` extended are still held.
    HeartbeatDone(Vec<(String, String)>, Result<Vec<bool>, StoreError>),
}

#[cfg(feature = "cluster")]
impl ractor::Message for DispatcherMsg {}

pub(crate) struct Dispatcher {
    pub(crate) shared: Arc<Shared>,
    /// Who hears what a settled failure became.
    pub(crate) notices: Notices,
}

pub(crate) struct DispatcherState {
    /// Workers waiting for a job.
    idle: Vec<(usize, ActorRef<WorkerMsg>)>,
    /// Claimed, committed, not yet handed to a worker.
    ready: VecDeque<Claimed>,
    /// The lease each busy worker runs under: `(key, token)`.
    running: HashMap<usize, (String, String)>,
    /// Attempts that ended, for the next round.
    ended: Vec<Ended>,
    /// Enqueues for the next round.
    inserts: Vec<(NewJob, RpcReplyPort<Result<Enqueued, StoreError>>)>,
    /// What the rounds in flight carry, oldest first, to pair with their answers (the Store
    /// answers in order).
    in_round: VecDeque<InRound>,
    round_queued: bool,
    /// Whether a claim may find something: false after a claim came back short or gated,
    /// until something may be due again (a Wake, an enqueue, with `[[limit]]`s an attempt
    /// that ends).
    due: bool,
    /// Whether the last claim found a gate closed (cleared by a claim that was let through).
    gated: bool,
    /// Counts the Wakes and enqueues (and, with `[[limit]]`s, the attempts that end): a claim
    /// that came back short says nothing is due only if none arrived while it was in flight.
    wakes: u64,
    ahead: Ahead,
    stopping: bool,
    _heartbeat: ractor::concurrency::JoinHandle<()>,
}

struct InRound {
    /// `wakes` when the round started.
    wakes: u64,
    ended: Vec<Ended>,
    replies: Vec<RpcReplyPort<Result<Enqueued, StoreError>>>,
    wanted: usize,
    started: Instant,
}

#[cfg_attr(feature = "async-trait", ractor::async_trait)]
impl Actor for Dispatcher {
    type Msg = DispatcherMsg;
    type State = DispatcherState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<DispatcherMsg>,
        _: (),
    ) -> Result<DispatcherState, ActorProcessingErr> {
        let every = self.shared.config.heartbeat;
        Ok(DispatcherState {
            idle: Vec::new(),
            ready: VecDeque::new(),
            running: HashMap::new(),
            ended: Vec::new(),
            inserts: Vec::new(),
            in_round: VecDeque::new(),
            round_queued: false,
            due: true,
            wakes: 0,
            gated: false,
            ahead: Ahead::new(&self.shared.config),
            stopping: false,
            _heartbeat: myself.send_interval(every, || DispatcherMsg::Heartbeat),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<DispatcherMsg>,
        msg: DispatcherMsg,
        st: &mut DispatcherState,
    ) -> Result<(), ActorProcessingErr> {
        let is_round = matches!(msg, DispatcherMsg::Round);
        match msg {
            DispatcherMsg::Free { id, worker, ended } => {
                st.running.remove(&id);
                if let Some(ended) = ended {
                    let ok = matches!(ended.settle, Settle::Complete { .. });
                    st.ahead.finished(ended.duration, ok);
                    st.ended.push(ended);
                    if !self.shared.config.limits.is_empty() {
                        // An attempt that ends frees a place in its `[[limit]]` (or settles its
                        // breaker's probe): the jobs a claim left behind for a full limit may
                        // be claimed in the round that settles it, not at the next rescan.
                        st.due = true;
                        st.wakes += 1;
                    }
                }
                st.idle.retain(|(i, _)| *i != id);
                st.idle.push((id, worker));
                self.hand_out(st);
            }
            DispatcherMsg::Wake => {
                st.due = true;
                st.wakes += 1;
            }
            DispatcherMsg::Enqueue(job, reply) => {
                // Claimed in the round that inserts it, when a worker is free.
                st.due = true;
                st.wakes += 1;
                st.inserts.push((job, reply));
            }
            DispatcherMsg::WorkerLost { id, reason } => {
                st.idle.retain(|(i, _)| *i != id);
                if let Some((key, token)) = st.running.remove(&id) {
                    let error = format!("worker crashed: {reason}");
                    let settle = Settle::Fail {
                        key,
                        token,
                        error,
                        kind: FailKind::Crashed,
                        charge: Charge::default(),
                    };
                    st.ended.push(Ended::unreported(settle));
                }
            }
            DispatcherMsg::Stop => {
                st.stopping = true;
                st.give_back_ahead();
            }
            DispatcherMsg::Paused(reply) => {
                // The claim transaction stays the authority: a resume clears `gated` with the
                // first claim it lets through.
                st.gated = true;
                st.give_back_ahead();
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
            }
            DispatcherMsg::Round => st.round_queued = false,
            DispatcherMsg::RoundDone(answer) => self.round_done(&myself, st, answer),
            DispatcherMsg::Heartbeat => self.heartbeat(&myself, st),
            DispatcherMsg::HeartbeatDone(leases, held) => match held {
                Ok(held) => {
                    // By token too: a job settled and claimed again is ahead under a new one.
                    let lost: Vec<&(String, String)> =
                        leases.iter().zip(held).filter(|(_, h)| !h).map(|(l, _)| l).collect();
                    st.ready
                        .retain(|c| !lost.iter().any(|(k, t)| *k == c.job.key && *t == c.token));
                }
                Err(e) => warn_event!("heartbeat_failed", error = %e),
            },
        }
        if st.in_round.len() < ROUNDS_IN_FLIGHT {
            if is_round {
                self.start_round(&myself, st);
            } else if !st.round_queued && self.round_wanted(st) {
                // Lands behind every message already queued: the round takes the whole burst.
                st.round_queued = true;
                myself.cast(DispatcherMsg::Round)?;
            }
        }
        self.publish(st);
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<DispatcherMsg>,
        st: &mut DispatcherState,
    ) -> Result<(), ActorProcessingErr> {
        st._heartbeat.abort();
        // What is left unsettled commits now, or stays `running` for the next start to recover.
        let shared = &self.shared;
        st.give_back_ahead();
        let ended = std::mem::take(&mut st.ended);
        if !ended.is_empty() {
            let settles: Vec<Settle> = ended.iter().map(|e| e.settle.clone()).collect();
            let round = Round { settles, ..Round::default() };
            match shared.store.round_now(round, shared.now()).await {
                Ok(out) => {
                    report::settled(&self.notices, ended, out.settled);
                }
                Err(e) => warn_event!("outcome_unknown", error = %e,
                    reason = "the last outcomes did not commit before the engine stopped"),
            }
        }
        for (_, reply) in st.inserts.drain(..) {
            let _ = reply.send(Err(StoreError::Unavailable("the engine stopped".to_owned())));
        }
        shared.set_held(0);
        Ok(())
    }
}

impl DispatcherState {
    /// Gives back, unrun and uncounted in the next round, every job claimed ahead.
    fn give_back_ahead(&mut self) {
        let ahead = self.ready.drain(..).map(|c| Ended::given_back(c.job.key, c.token));
        self.ended.extend(ahead);
    }
}

impl Dispatcher {
    /// Gives ready jobs to free workers.
    fn hand_out(&self, st: &mut DispatcherState) {
        while !st.stopping && !st.ready.is_empty() {
            let Some((id, worker)) = st.idle.pop() else { return };
            let Some(job) = st.ready.pop_front() else { return };
            let lease = (job.job.key.clone(), job.token.clone());
            if worker.cast(WorkerMsg::Run(job)).is_err() {
                // Dead before it could take it: the job goes back, nothing counted.
                st.ended.push(Ended::given_back(lease.0, lease.1));
                continue;
            }
            st.running.insert(id, lease);
        }
    }

    /// How many jobs a claim should ask for now, counting what the rounds in flight ask for.
    fn wanted(&self, st: &DispatcherState) -> usize {
        if st.stopping || !st.due || st.idle.is_empty() {
            return 0;
        }
        let asked: usize = st.in_round.iter().map(|r| r.wanted).sum();
        (st.idle.len() + st.ahead.target()).saturating_sub(st.ready.len() + asked)
    }

    fn round_wanted(&self, st: &DispatcherState) -> bool {
        if !st.in_round.is_empty() {
            // With a worker free, enqueues wait for the round in flight: the next one inserts
            // and claims them in one commit.
            return !st.inserts.is_empty() && st.idle.is_empty();
        }
        !st.ended.is_empty() || !st.inserts.is_empty() || self.wanted(st) > 0
    }

    fn start_round(&self, myself: &ActorRef<DispatcherMsg>, st: &mut DispatcherState) {
        if !st.in_round.is_empty() {
            // The second round in flight carries enqueues only, and only while no worker is
            // free to take them.
            if self.round_wanted(st) {
                self.send_round(myself, st, Vec::new(), 0);
            }
            return;
        }
        let wanted = self.wanted(st);
        if st.ended.is_empty() && st.inserts.is_empty() && wanted == 0 {
            return;
        }
        let ended = std::mem::take(&mut st.ended);
        self.send_round(myself, st, ended, wanted);
    }

    fn send_round(
        &self,
        myself: &ActorRef<DispatcherMsg>,
        st: &mut DispatcherState,
        ended: Vec<Ended>,
        wanted: usize,
    ) {
        let shared = &self.shared;
        let (jobs, replies): (Vec<NewJob>, Vec<_>) = st.inserts.drain(..).unzip();
        // Holding jobs claimed ahead, a round reads the gates even when it claims nothing
        // (the first round in flight; a second carries enqueues only).
        let first = st.in_round.is_empty();
        let claim = (first && (wanted > 0 || !st.ready.is_empty())).then(|| {
            let cfg = &shared.config;
            let args = ClaimArgs {
                owner: shared.instance.clone(),
                lease: cfg.lease,
                timeout: cfg.timeout,
            };
            (args, wanted)
        });
        let settles = ended.iter().map(|e| e.settle.clone()).collect();
        let round = Round { settles, inserts: jobs, claim };
        let me = myself.clone();
        let sent = shared.store.round(round, shared.now(), move |answer| {
            let _ = me.cast(DispatcherMsg::RoundDone(answer));
        });
        let round = InRound { wakes: st.wakes, ended, replies, wanted, started: Instant::now() };
        match sent {
            Ok(()) => st.in_round.push_back(round),
            // No Store to send to (it is restarting): never in flight, so never answered.
            Err(e) => self.round_failed(myself, st, round, &e),
        }
    }

    /// Extends the leases no worker extends (running jobs' leases are their workers'): jobs
    /// claimed ahead, and attempts that ended whose outcome has not committed yet. While a
    /// slow or restarting Store holds an outcome back, its lease must not run out, or the
    /// Rescuer would take the finished job back and run it again.
    fn heartbeat(&self, myself: &ActorRef<DispatcherMsg>, st: &DispatcherState) {
        let ahead = st.ready.iter().map(|c| (c.job.key.clone(), c.token.clone()));
        let unsettled = st.in_round.iter().flat_map(|r| &r.ended).chain(&st.ended);
        let leases: Vec<(String, String)> =
            ahead.chain(unsettled.map(|e| e.settle.lease())).collect();
        if leases.is_empty() {
            return;
        }
        let shared = &self.shared;
        let asked = leases.clone();
        let me = myself.clone();
        let lease = shared.config.lease;
        let sent = shared.store.heartbeat_cast(leases, lease, shared.now(), move |held| {
            let _ = me.cast(DispatcherMsg::HeartbeatDone(asked, held));
        });
        if let Err(e) = sent {
            warn_event!("heartbeat_failed", error = %e);
        }
    }

    /// Tells drain and shutdown how many jobs this runner holds that are not settled yet.
    fn publish(&self, st: &DispatcherState) {
        let in_round: usize =
            st.in_round.iter().map(|r| r.ended.len() + usize::from(r.wanted > 0)).sum();
        let held = st.ready.len() + st.running.len() + st.ended.len() + in_round;
        self.shared.set_held(held);
        let takes = !st.gated && !st.stopping;
        self.shared.takes_jobs.store(takes, std::sync::atomic::Ordering::Relaxed);
    }
}
