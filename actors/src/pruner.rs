//! The Pruner: keeps the database from growing without bound. Once when the runner starts and
//! then every `retention.every` (tokio time, so tests pause and advance it), it deletes the
//! rows past their retention (done jobs, dead letters, spend days, delivered alerts) through
//! the Store, one batch per Store write, and logs one `pruned` event per round that deleted
//! anything.
//!
//! It owns its timer and the progress of the round in hand, nothing else. It never deletes in
//! one long transaction: each batch is its own message, sent after the previous one committed,
//! so claims queue behind at most one batch and a stop lands between two. Which rows may go is
//! the Store's rule (`store::retention`), the same one `jobs purge` and `dlq purge
//! --older-than` apply.

use std::sync::Arc;
use std::time::Duration;

use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::clock::Clock;
use crate::config::RetentionConfig;
use crate::events::{event, warn_event};
use crate::store::StoreHandle;
use crate::store::retention::{PruneArgs, PruneKind};

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
    /// The round under way: the kinds still to prune and their ages, the next one last.
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
        myself.cast(PrunerMsg::Round)?;
        let every = self.retention.every.max(Duration::from_secs(1));
        let ticker = myself.send_interval(every, || PrunerMsg::Round);
        let schedules = self.retention.schedules.clone().into();
        Ok(PrunerState { todo: Vec::new(), deleted: [0; 4], schedules, ticker })
    }

    async fn handle(
        &self,
        myself: ActorRef<PrunerMsg>,
        msg: PrunerMsg,
        st: &mut PrunerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PrunerMsg::Round if st.todo.is_empty() => {
                let ages = PruneKind::ALL.into_iter().rev().map(|k| (k, self.age(k)));
                st.todo = ages.filter_map(|(k, age)| Some((k, age?))).collect();
                st.deleted = [0; 4];
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
        Ok(())
    }
}

impl Pruner {
    fn age(&self, kind: PruneKind) -> Option<Duration> {
        let r = &self.retention;
        match kind {
            PruneKind::Done => r.done,
            PruneKind::Dead => r.dead,
            PruneKind::Spend => r.spend,
            PruneKind::Alerts => r.alerts,
        }
    }

    /// Deletes one batch of the kind in hand; true when the round has more to do.
    async fn batch(&self, st: &mut PrunerState) -> bool {
        let Some(&(kind, older_than)) = st.todo.last() else { return false };
        let limit = self.retention.batch.max(1);
        let args = PruneArgs { kind, older_than, limit, schedules: st.schedules.clone() };
        let slot = PruneKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        match self.store.prune(args, self.clock.now()).await {
            Ok(n) => {
                st.deleted[slot] += n;
                if n < u64::from(limit) {
                    st.todo.pop();
                }
            }
            Err(e) => {
                // Left for the next round: retention is housekeeping, never worth a crash.
                warn_event!("prune_failed", kind = kind.as_str(), error = %e);
                st.todo.pop();
            }
        }
        if !st.todo.is_empty() {
            return true;
        }
        let [done, dead, spend, alerts] = st.deleted;
        if done + dead + spend + alerts > 0 {
            event!("pruned", done = done, dead = dead, spend = spend, alerts = alerts);
        }
        false
    }
}
