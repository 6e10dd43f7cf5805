//! The Pruner: keeps the database from growing without bound. Once when the runner starts and
//! then every `retention.every` (tokio time, so tests pause and advance it), it deletes the
//! rows past their retention (done jobs, dead letters, spend days, delivered alerts) through
//! the Store, and logs one `pruned` event per round that deleted anything.
//!
//! It owns its timer and the progress of the round in hand, nothing else. It never deletes in
//! one long transaction: a round is a series of batches, one Store write each, each sent only
//! after the previous one committed, so claims queue behind at most one batch. A batch deletes
//! at most `retention.batch` rows in all, across the kinds left in the round, taken in turn; a
//! kind leaves the round when it deletes fewer rows than the batch offered it. A round with
//! little to delete is therefore one write, not one per kind: a `run --once` on a quiet
//! database commits once for it instead of four times, and waits for one answer on its way out.
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
use crate::store::retention::{PruneBatch, PruneKind};

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
    /// The round under way: the kinds with rows left to prune, and their ages, in the order
    /// the next batch takes them.
    todo: Vec<(PruneKind, Duration)>,
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
        let mut st = PrunerState { todo: Vec::new(), deleted: [0; 4], schedules, ticker };
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
        st.deleted = [0; 4];
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
        if st.todo.is_empty() {
            return false;
        }
        let limit = self.retention.batch.max(1);
        let batch = PruneBatch { kinds: st.todo.clone(), limit, schedules: st.schedules.clone() };
        match self.store.prune(batch, self.clock.now()).await {
            Ok(deleted) => {
                let tried: Vec<_> = st.todo.drain(..deleted.len().min(st.todo.len())).collect();
                let mut offered = u64::from(limit);
                // Kinds the batch did not reach go first next time, then those that used up
                // what they were offered (they have more left): every kind gets its turn.
                for (&(kind, age), &n) in tried.iter().zip(&deleted) {
                    let slot = PruneKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
                    st.deleted[slot] += n;
                    if n >= offered {
                        st.todo.push((kind, age));
                    }
                    offered = offered.saturating_sub(n);
                }
            }
            Err(e) => {
                // Left for the next round: retention is housekeeping, never worth a crash.
                let kinds: Vec<&str> = st.todo.iter().map(|(k, _)| k.as_str()).collect();
                warn_event!("prune_failed", kinds = %kinds.join(","), error = %e);
                st.todo.clear();
            }
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
