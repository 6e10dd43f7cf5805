//! The Pruner: keeps the database from growing without bound. Once when the runner starts and
//! then every `retention.every` (tokio time, so tests pause and advance it), it deletes the
//! rows past their retention (done jobs, dead letters, spend days, delivered alerts) through
//! the Store, and logs one `pruned` event per round that deleted anything.
//!
//! It owns its timer and the progress of the round in hand, nothing else. It never deletes in
//! one long transaction: a round is a series of batches, one Store write each, taking the kinds
//! in turn, each batch sent only after the previous one committed, so claims queue behind at
//! most one batch. A kind leaves the round when a batch deletes fewer rows than the batch size.
//! When the runner stops, the round in hand gets at most [`FINISH`] more, so `run --once`
//! (which may last a few milliseconds) prunes as a continuous runner does. Which rows may go is
//! the Store's rule (`store::retention`), the same one `jobs purge` and `dlq purge
//! --older-than` apply; this actor never chooses rows itself.

use std::sync::Arc;
use std::time::Duration;

use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::clock::Clock;
use crate::config::RetentionConfig;
use crate::events::{event, warn_event};
use crate::store::StoreHandle;
use crate::store::retention::{PruneArgs, PruneKind};

/// How long a stopping runner gives the round in hand to finish.
const FINISH: Duration = Duration::from_secs(1);

/// The Pruner's mailbox.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PrunerMsg {
    /// Start a round, unless one is under way.
    Round,
    /// Delete the next batch of the round under way.
    Batch,
}

#[cfg(feature = "cluster")]
impl ractor::Message for PrunerMsg {}

pub(crate) struct Pruner {
    pub(crate) store: StoreHandle,
    pub(crate) retention: RetentionConfig,
    pub(crate) clock: Arc<dyn Clock>,
}

pub(crate) struct PrunerState {
    /// The round under way: the kinds with rows left to prune, and their ages.
    todo: Vec<(PruneKind, Duration)>,
    /// Which of `todo` the next batch takes.
    next: usize,
    /// Rows deleted so far this round, by kind, in [`PruneKind::ALL`]'s order.
    deleted: [u64; 4],
    schedules: Arc<[String]>,
    ticker: JoinHandle<()>,
}

#[cfg_attr(feature = "async-trait", ractor::async_trait)]
impl Actor for Pruner {
    type Msg = PrunerMsg;
    type State = PrunerState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<PrunerMsg>,
        _: (),
    ) -> Result<PrunerState, ActorProcessingErr> {
        let every = self.retention.every.max(Duration::from_secs(1));
        let ticker = myself.send_interval(every, || PrunerMsg::Round);
        let schedules = self.retention.schedules.clone().into();
        let mut st = PrunerState { todo: Vec::new(), next: 0, deleted: [0; 4], schedules, ticker };
        // The first round is in hand from the start, so even a runner stopped at once (a
        // `run --once` with nothing due) finishes it on the way out.
        self.start_round(&mut st);
        myself.cast(PrunerMsg::Batch)?;
        Ok(st)
    }

    async fn handle(
        &self,
        myself: ActorRef<PrunerMsg>,
        msg: PrunerMsg,
        st: &mut PrunerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PrunerMsg::Round if st.todo.is_empty() => {
                self.start_round(st);
                myself.cast(PrunerMsg::Batch)?;
            }
            PrunerMsg::Round => {}
            PrunerMsg::Batch => {
                if self.batch(st).await {
                    myself.cast(PrunerMsg::Batch)?;
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<PrunerMsg>,
        st: &mut PrunerState,
    ) -> Result<(), ActorProcessingErr> {
        st.ticker.abort();
        let _ = tokio::time::timeout(FINISH, async { while self.batch(st).await {} }).await;
        Ok(())
    }
}

impl Pruner {
    fn start_round(&self, st: &mut PrunerState) {
        let ages = PruneKind::ALL.into_iter().map(|k| (k, self.age(k)));
        st.todo = ages.filter_map(|(k, age)| Some((k, age?))).collect();
        (st.next, st.deleted) = (0, [0; 4]);
    }

    fn age(&self, kind: PruneKind) -> Option<Duration> {
        let r = &self.retention;
        match kind {
            PruneKind::Done => r.done,
            PruneKind::Dead => r.dead,
            PruneKind::Spend => r.spend,
            PruneKind::Alerts => r.alerts,
        }
    }

    /// Deletes one batch of the round in hand; true when the round has more to do.
    async fn batch(&self, st: &mut PrunerState) -> bool {
        let Some(&(kind, older_than)) = st.todo.get(st.next) else { return false };
        let limit = self.retention.batch.max(1);
        let args = PruneArgs { kind, older_than, limit, schedules: st.schedules.clone() };
        let slot = PruneKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        let more = match self.store.prune(args, self.clock.now()).await {
            Ok(n) => {
                st.deleted[slot] += n;
                n >= u64::from(limit)
            }
            Err(e) => {
                // Left for the next round: retention is housekeeping, never worth a crash.
                warn_event!("prune_failed", kind = kind.as_str(), error = %e);
                false
            }
        };
        if more {
            st.next += 1;
        } else {
            st.todo.remove(st.next);
        }
        if st.next >= st.todo.len() {
            st.next = 0;
        }
        if !st.todo.is_empty() {
            return true;
        }
        let [done, dead, spend, alerts] = std::mem::take(&mut st.deleted);
        if done + dead + spend + alerts > 0 {
            event!("pruned", done = done, dead = dead, spend = spend, alerts = alerts);
        }
        false
    }
}

#[cfg(test)]
mod tests;
