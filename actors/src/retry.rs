//! The Retry scheduler: wake-ups for jobs whose `run_at` is in the future. It holds one timer,
//! armed for the earliest due time it knows of; the due times themselves live in SQLite, so a
//! timer lost with a crashed actor costs at most one rescan interval. The periodic rescan also
//! finds due times written by other processes (`enqueue --delay`, a replay).
//!
//! It never claims and never writes: it only tells the Dispatcher when jobs fall due. Expired
//! leases are the Rescuer's; other processes' commits are noticed by the Store's watch.

use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::dispatcher::{DispatcherMsg, announce};
use crate::events::store_call_failed;
use crate::links::{Notices, Slot};
use crate::shared::Shared;
use crate::store::Recovery;
use crate::wakeup::Wakeup;

/// The Retry actor's mailbox.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RetryMsg {
    /// A job was rescheduled to `at`.
    Due { at: Timestamp },
    /// The armed timer elapsed.
    Fire,
    /// Periodic: reap expired leases, wake workers if anything is due, re-arm.
    Rescan,
}

#[cfg(feature = "cluster")]
impl ractor::Message for RetryMsg {}

pub(crate) struct Retry {
    pub(crate) shared: Arc<Shared>,
    /// Whom it tells that jobs are due.
    pub(crate) dispatcher: Slot<DispatcherMsg>,
    /// Who hears what a wait that timed out became (a retry, a burial).
    pub(crate) notices: Notices,
}

pub(crate) struct RetryState {
    wakeup: Wakeup<RetryMsg>,
    _ticker: JoinHandle<()>,
}

#[cfg_attr(feature = "async-trait", ractor::async_trait)]
impl Actor for Retry {
    type Msg = RetryMsg;
    type State = RetryState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<RetryMsg>,
        _: (),
    ) -> Result<RetryState, ActorProcessingErr> {
        myself.cast(RetryMsg::Rescan)?;
        let ticker = myself.send_interval(self.shared.config.poll_interval, || RetryMsg::Rescan);
        Ok(RetryState { wakeup: Wakeup::new(), _ticker: ticker })
    }

    async fn handle(
        &self,
        myself: ActorRef<RetryMsg>,
        msg: RetryMsg,
        st: &mut RetryState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RetryMsg::Due { at } => self.arm(&myself, st, at),
            RetryMsg::Fire => {
                st.wakeup.fired();
                self.rescan(&myself, st).await;
            }
            RetryMsg::Rescan => self.rescan(&myself, st).await,
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<RetryMsg>,
        st: &mut RetryState,
    ) -> Result<(), ActorProcessingErr> {
        st.wakeup.cancel();
        st._ticker.abort();
        Ok(())
    }
}

impl Retry {
    fn arm(&self, myself: &ActorRef<RetryMsg>, st: &mut RetryState, at: Timestamp) {
        st.wakeup.arm(myself, at, self.shared.now(), || RetryMsg::Fire);
    }

    async fn rescan(&self, myself: &ActorRef<RetryMsg>, st: &mut RetryState) {
        let shared = &self.shared;
        match shared.store.next_due().await {
            Ok(Some(at)) if at <= shared.now() => self.dispatcher.wake(),
            Ok(Some(at)) => self.arm(myself, st, at),
            Ok(None) => {}
            Err(e) => store_call_failed!("rescan_failed", e),
        }
        // A wait's deadline is a due time too: at it, the wait fails (a retry or a burial).
        match shared.store.next_wait().await {
            Ok(Some(at)) if at <= shared.now() => {
                match shared.store.recover(Recovery::ExpiredWaits, shared.now()).await {
                    Ok(failed) => failed
                        .into_iter()
                        .for_each(|(key, failed)| announce(&self.notices, &key, failed)),
                    Err(e) => store_call_failed!("rescan_failed", e),
                }
            }
            Ok(Some(at)) => self.arm(myself, st, at),
            Ok(None) => {}
            Err(e) => store_call_failed!("rescan_failed", e),
        }
    }
}
