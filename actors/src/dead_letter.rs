//! The DeadLetter actor: learns of buried jobs and asks the Alert actor to deliver their outbox
//! rows; serves replay and purge, waking the workers when replayed jobs are due.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::alert::AlertMsg;
use crate::dispatcher::DispatcherMsg;
use crate::error::StoreError;
use crate::events::event;
use crate::job::Selector;
use crate::links::Slot;
use crate::shared::Shared;

/// The DeadLetter actor's mailbox.
pub(crate) enum DeadLetterMsg {
    /// A job was just buried (its alert row is already in the outbox).
    Arrived,
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

#[cfg_attr(feature = "async-trait", ractor::async_trait)]
impl Actor for DeadLetter {
    type Msg = DeadLetterMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<DeadLetterMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        // Alerts owed before a crash or restart are still in the outbox: deliver them.
        self.alert.cast(AlertMsg::Deliver);
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<DeadLetterMsg>,
        msg: DeadLetterMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let shared = &self.shared;
        match msg {
            DeadLetterMsg::Arrived => {
                self.alert.cast(AlertMsg::Deliver);
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
