//! The DeadLetter actor owns what happens to a job after it is buried: it decides how each
//! dead-letter alert goes out, and serves replay and purge.
//!
//! A buried job's alert is written to the outbox *held*, in the transaction that buries it (a
//! crash cannot lose it). This actor learns of each burial, holds the alert for `group_wait`,
//! then releases it to the Alert actor: alone, or, in a storm (more than [`grouping::STORM`]
//! within a minute), folded with every alert still held into one digest. Before a
//! `run --once` exits it releases everything held at once. The outbox is the truth: it reads the
//! held alerts back when it starts (after a crash or a restart) and, with a webhook set, every
//! second, so an alert whose announcement was lost (sent while this actor was being restarted)
//! still goes out. The decisions themselves are [`grouping`], free of I/O.
//!
//! It never talks to a webhook, renders a message or retries a delivery (the Alert actor's
//! job), and never moves a job into `dead_letter` (the Store does, when an attempt fails).

mod grouping;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::alert::AlertMsg;
use crate::dispatcher::DispatcherMsg;
use crate::error::StoreError;
use crate::events::{event, warn_event};
use crate::job::Selector;
use crate::links::Slot;
use crate::shared::Shared;
use crate::store::HeldAlert;
use crate::wakeup::Wakeup;
use grouping::{Due, Grouping, Release};

/// How long a failed outbox read or write waits before it is tried again.
const AGAIN: std::time::Duration = std::time::Duration::from_secs(1);
/// How often the outbox is read for held alerts no announcement told of.
const LOOK: std::time::Duration = std::time::Duration::from_secs(1);

/// The DeadLetter actor's mailbox.
pub(crate) enum DeadLetterMsg {
    /// A job was just buried; its alert is held in the outbox for this actor's decision.
    Buried(HeldAlert),
    /// A group_wait may be over: release what is due.
    Decide,
    /// Read the outbox for held alerts, and release what is due.
    Look,
    /// Release every held alert now, group_wait or not (the process is about to exit);
    /// answers once the release is written.
    Flush(RpcReplyPort<()>),
    /// Move rows back into `jobs`; answers the keys moved.
    Replay(Selector, RpcReplyPort<Result<Vec<String>, StoreError>>),
    /// Delete rows for good; answers the keys deleted.
    Purge(Selector, RpcReplyPort<Result<Vec<String>, StoreError>>),
}

#[cfg(feature = "cluster")]
impl ractor::Message for DeadLetterMsg {}

pub(crate) struct DeadLetter {
    pub(crate) shared: Arc<Shared>,
    /// Delivers the alerts it owes.
    pub(crate) alert: Slot<AlertMsg>,
    /// Woken when replayed jobs are due.
    pub(crate) dispatcher: Slot<DispatcherMsg>,
}

pub(crate) struct DeadLetterState {
    grouping: Grouping,
    /// Whether the last read of the held alerts succeeded (if not, it is tried again soon).
    loaded: bool,
    wakeup: Wakeup<DeadLetterMsg>,
    _looker: Option<ractor::concurrency::JoinHandle<()>>,
}

#[cfg_attr(feature = "async-trait", ractor::async_trait)]
impl Actor for DeadLetter {
    type Msg = DeadLetterMsg;
    type State = DeadLetterState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<DeadLetterMsg>,
        _: (),
    ) -> Result<DeadLetterState, ActorProcessingErr> {
        let config = &self.shared.config.alert;
        // Without a webhook nothing is delivered: what is held is read back by the next start.
        let looker =
            config.webhook.as_ref().map(|_| myself.send_interval(LOOK, || DeadLetterMsg::Look));
        let mut st = DeadLetterState {
            grouping: Grouping::new(config.group_wait),
            loaded: false,
            wakeup: Wakeup::new(),
            _looker: looker,
        };
        self.load(&mut st).await;
        self.arm(&myself, &mut st);
        Ok(st)
    }

    async fn handle(
        &self,
        myself: ActorRef<DeadLetterMsg>,
        msg: DeadLetterMsg,
        st: &mut DeadLetterState,
    ) -> Result<(), ActorProcessingErr> {
        let shared = &self.shared;
        match msg {
            DeadLetterMsg::Buried(buried) => {
                st.grouping.hold(buried.id, buried.at);
                self.arm(&myself, st);
            }
            DeadLetterMsg::Decide => {
                st.wakeup.fired();
                if !st.loaded {
                    self.load(st).await;
                }
                self.release(st, Due::Waited).await;
                self.arm(&myself, st);
            }
            DeadLetterMsg::Look => {
                self.load(st).await;
                self.release(st, Due::Waited).await;
                self.arm(&myself, st);
            }
            DeadLetterMsg::Flush(reply) => {
                // Read the outbox too: a burial announced after this call was sent is owed.
                self.load(st).await;
                self.release(st, Due::All).await;
                self.arm(&myself, st);
                let _ = reply.send(());
            }
            DeadLetterMsg::Replay(which, reply) => {
                let replayed = shared.store.replay(which, shared.now()).await;
                if let Ok(keys) = &replayed {
                    for key in keys {
                        event!("replayed", key = %key);
                    }
                    self.dispatcher.wake();
                }
                let _ = reply.send(replayed);
            }
            DeadLetterMsg::Purge(which, reply) => {
                let _ = reply.send(shared.store.purge(which).await);
            }
        }
        Ok(())
    }
}

impl DeadLetter {
    /// Reads back the alerts held in the outbox; those already held keep their time.
    async fn load(&self, st: &mut DeadLetterState) {
        match self.shared.store.alerts_held().await {
            Ok(held) => {
                for alert in held {
                    st.grouping.hold(alert.id, alert.at);
                }
                st.loaded = true;
            }
            Err(e) => {
                st.loaded = false;
                warn_event!("alert_failed", error = %e);
            }
        }
    }

    /// Releases what is due to the Alert actor, and asks it to deliver.
    async fn release(&self, st: &mut DeadLetterState, due: Due) {
        let shared = &self.shared;
        let now = shared.now();
        let Some(release) = st.grouping.decide(now, due) else { return };
        let (ids, digest) = match &release {
            Release::Alone(ids) => (ids.clone(), None),
            Release::Digest(ids) => (ids.clone(), ids.first().copied()),
        };
        match shared.store.alerts_release(ids, digest, now).await {
            Ok(()) => {
                let _ = self.alert.cast(AlertMsg::Deliver);
            }
            Err(e) => {
                warn_event!("alert_failed", error = %e);
                st.grouping.undo(&release, now + AGAIN);
            }
        }
    }

    /// Wakes this actor when the next group_wait is over (or to read the outbox again).
    fn arm(&self, myself: &ActorRef<DeadLetterMsg>, st: &mut DeadLetterState) {
        let now = self.shared.now();
        let next = if st.loaded { st.grouping.next() } else { Some(now + AGAIN) };
        if let Some(at) = next {
            st.wakeup.arm(myself, at, now, || DeadLetterMsg::Decide);
        }
    }
}
