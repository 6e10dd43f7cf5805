//! The Rescuer: takes back the jobs whose lease ran out (their worker went silent: a handler
//! stuck past its heartbeats, a process that lost its Store) so they run again, the interrupted
//! attempt counted. It wakes every poll interval and does nothing else.
//!
//! It never claims, never runs a handler and holds no state: what is overdue is read from the
//! table each time. (A lease held by a live worker is extended by that worker's heartbeat.)

use std::sync::Arc;

use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::dispatcher::announce;
use crate::events::store_call_failed;
use crate::links::Notices;
use crate::shared::Shared;
use crate::store::Recovery;

/// The Rescuer's mailbox.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RescuerMsg {
    /// Periodic: take back expired leases.
    Sweep,
}

#[cfg(feature = "cluster")]
impl ractor::Message for RescuerMsg {}

pub(crate) struct Rescuer {
    pub(crate) shared: Arc<Shared>,
    /// Who hears what a reaped job became (a retry, a burial).
    pub(crate) notices: Notices,
}

pub(crate) struct RescuerState {
    ticker: JoinHandle<()>,
}

#[cfg_attr(feature = "async-trait", ractor::async_trait)]
impl Actor for Rescuer {
    type Msg = RescuerMsg;
    type State = RescuerState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<RescuerMsg>,
        _: (),
    ) -> Result<RescuerState, ActorProcessingErr> {
        let every = self.shared.config.poll_interval;
        Ok(RescuerState { ticker: myself.send_interval(every, || RescuerMsg::Sweep) })
    }

    async fn handle(
        &self,
        _: ActorRef<RescuerMsg>,
        RescuerMsg::Sweep: RescuerMsg,
        _: &mut RescuerState,
    ) -> Result<(), ActorProcessingErr> {
        let shared = &self.shared;
        match shared.store.recover(Recovery::ExpiredLeases, shared.now()).await {
            Ok(reaped) => {
                reaped.into_iter().for_each(|(key, failed)| announce(&self.notices, &key, failed))
            }
            Err(e) => store_call_failed!("reap_failed", e),
        }
        // PostgreSQL: other runners see this one alive while its heartbeat is fresh.
        if shared.config.is_postgres()
            && let Err(e) = shared.store.runner_beat(shared.runner_row()).await
        {
            store_call_failed!("runner_heartbeat_failed", e);
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<RescuerMsg>,
        st: &mut RescuerState,
    ) -> Result<(), ActorProcessingErr> {
        st.ticker.abort();
        Ok(())
    }
}
