//! A continuous runner's side of the dead-man's switch: when it starts and every `[heartbeat]
//! interval` after, it asks its tree whether it is healthy and pings the monitor only if so.
//! A runner whose Store cannot reach the database (reconnecting with backoff), whose workers
//! are all down, or which is stopping, stays silent: the monitor's alarm is the point.

use std::time::Duration;

use nightshift_actors::{EngineHandle, RunState};
use tokio::time::{Interval, MissedTickBehavior};

use crate::heartbeat::Heartbeat;

/// How long the tree and the Store get to answer before the runner counts as unhealthy.
const HEALTH_WAIT: Duration = Duration::from_secs(10);

pub(super) struct Beat<'a> {
    heartbeat: &'a Heartbeat,
    ticks: Interval,
}

impl<'a> Beat<'a> {
    pub(super) fn new(heartbeat: &'a Heartbeat, interval: Duration) -> Self {
        let mut ticks = tokio::time::interval(interval);
        // A health check that took long (a Store reconnecting) shifts the next ping rather
        // than sending the missed ones in a burst.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { heartbeat, ticks }
    }

    /// Resolves when the next ping is due (the first at once); never without a heartbeat.
    pub(super) async fn due(beat: &mut Option<Self>) {
        match beat {
            Some(beat) => {
                beat.ticks.tick().await;
            }
            None => std::future::pending().await,
        }
    }

    /// Pings if `engine` is healthy; logs `heartbeat_skipped` with the reason otherwise.
    pub(super) async fn ping_if_healthy(&self, engine: &EngineHandle) {
        match healthy(engine).await {
            Ok(()) => self.heartbeat.alive(),
            Err(why) => {
                tracing::warn!(target: "nightshift", event = "heartbeat_skipped", reason = %why);
            }
        }
    }
}

/// `Ok` when the tree claims with at least one worker and the Store answers a read.
async fn healthy(engine: &EngineHandle) -> Result<(), String> {
    let late = |what: &str| format!("{what} did not answer within {}s", HEALTH_WAIT.as_secs());
    let tree = tokio::time::timeout(HEALTH_WAIT, engine.tree_status())
        .await
        .map_err(|_| late("the supervisor"))?
        .map_err(|e| format!("the runner has stopped: {e}"))?;
    if tree.state != RunState::Running {
        return Err("the runner is stopping".to_owned());
    }
    if tree.workers_alive == 0 {
        return Err("no worker is running (they are being restarted)".to_owned());
    }
    tokio::time::timeout(HEALTH_WAIT, engine.status())
        .await
        .map_err(|_| late("the database"))?
        .map_err(|e| format!("the database cannot be read: {e}"))?;
    Ok(())
}
