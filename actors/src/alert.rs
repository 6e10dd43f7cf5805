//! The Alert actor: delivers the alert outbox to the configured webhook, with retries and
//! backoff (a receiver's Retry-After wins when longer). A slow or dead webhook holds up nothing
//! but this actor; rows not yet delivered stay in the outbox across restarts.
//!
//! Storms: dead-letter alerts wait `group_wait` in the outbox, and when more than
//! [`STORM`] would go out within a minute, everything pending goes out as one digest naming
//! every key instead.

use std::collections::VecDeque;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::alerts::{Message, SendError, Target};
use crate::clock::Timestamp;
use crate::events::{event, warn_event};
use crate::policy::backoff::backoff;
use crate::shared::Shared;
use crate::store::{AlertRow, DeliveryFailed};
use crate::wakeup::Wakeup;

/// Rows fetched per round.
const BATCH: u32 = 500;
/// Dead-letter alerts per minute sent one by one before the rest are folded into digests.
const STORM: usize = 10;
const MINUTE: std::time::Duration = std::time::Duration::from_secs(60);
/// How often the outbox is looked at when nothing else asks.
const TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// The Alert actor's mailbox.
pub(crate) enum AlertMsg {
    /// Deliver whatever is due.
    Deliver,
    /// Deliver whatever is due, then answer how many due alerts are left undelivered.
    Flush(RpcReplyPort<usize>),
}

#[cfg(feature = "cluster")]
impl ractor::Message for AlertMsg {}

pub(crate) struct Alert {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct AlertState {
    target: Option<Target>,
    wakeup: Wakeup<AlertMsg>,
    /// When recent single dead-letter alerts went out, for storm detection.
    recent: VecDeque<Timestamp>,
    _ticker: Option<ractor::concurrency::JoinHandle<()>>,
}

#[cfg_attr(feature = "async-trait", ractor::async_trait)]
impl Actor for Alert {
    type Msg = AlertMsg;
    type State = AlertState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<AlertMsg>,
        _: (),
    ) -> Result<AlertState, ActorProcessingErr> {
        let cfg = &self.shared.config.alert;
        let target = match &cfg.webhook {
            Some(url) => Some(Target::with_timeout(url, &cfg.format, cfg.request_timeout)?),
            None => None,
        };
        myself.cast(AlertMsg::Deliver)?;
        // Outbox rows are also owed by claims (cap_hit), by other processes and by rows whose
        // retry time passed while no timer was armed: look every second.
        let ticker = target.as_ref().map(|_| myself.send_interval(TICK, || AlertMsg::Deliver));
        Ok(AlertState { target, wakeup: Wakeup::new(), recent: VecDeque::new(), _ticker: ticker })
    }

    async fn handle(
        &self,
        myself: ActorRef<AlertMsg>,
        msg: AlertMsg,
        st: &mut AlertState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            AlertMsg::Deliver => {
                self.deliver(&myself, st, false).await;
            }
            AlertMsg::Flush(reply) => {
                let left = self.deliver(&myself, st, true).await;
                let _ = reply.send(left);
            }
        }
        Ok(())
    }
}

impl Alert {
    /// One delivery round; returns how many due rows are left undelivered. `flush` (before a
    /// `run --once` exits) also sends dead letters still waiting out their group_wait.
    async fn deliver(
        &self,
        myself: &ActorRef<AlertMsg>,
        st: &mut AlertState,
        flush: bool,
    ) -> usize {
        let shared = &self.shared;
        let Some(target) = st.target.clone() else { return 0 };
        let (rows, next) = match shared.store.alerts_due(shared.now(), BATCH).await {
            Ok(due) => due,
            Err(e) => {
                warn_event!("alert_failed", error = %e);
                self.arm(myself, st, shared.now() + TICK);
                return usize::MAX;
            }
        };
        let now = shared.now();
        while st.recent.front().is_some_and(|t| now - *t >= MINUTE) {
            st.recent.pop_front();
        }
        let (dead, others): (Vec<AlertRow>, Vec<AlertRow>) =
            rows.into_iter().partition(|r| r.kind == "dead_letter");
        let mut left = 0;
        for row in others {
            left += self.send_rows(&target, std::slice::from_ref(&row), message(&row)).await;
        }
        // A storm: the due dead letters plus the backlog still waiting out group_wait.
        let mut storm = dead.clone();
        if flush || !dead.is_empty() {
            let backlog =
                shared.store.alerts_untried("dead_letter", BATCH).await.unwrap_or_default();
            storm.extend(backlog.into_iter().filter(|r| !dead.iter().any(|d| d.id == r.id)));
        }
        let dead = if flush { storm.clone() } else { dead };
        if storm.len() > 1 && storm.len() + st.recent.len() > STORM {
            for chunk in digest_chunks(&storm, target.text_limit()) {
                let msg = Message::digest(chunk[0].id, &pairs(chunk));
                left += self.send_rows(&target, chunk, msg).await;
            }
        } else {
            for row in dead {
                let sent = self.send_rows(&target, std::slice::from_ref(&row), message(&row)).await;
                if sent == 0 {
                    st.recent.push_back(now);
                }
                left += sent;
            }
        }
        let soon = now + TICK;
        let next = if left > 0 { Some(next.map_or(soon, |n| n.min(soon))) } else { next };
        if let Some(at) = next {
            self.arm(myself, st, at);
        }
        left
    }

    /// Sends one message for `rows` and records the outcome on each; returns the rows left.
    async fn send_rows(&self, target: &Target, rows: &[AlertRow], msg: Message) -> usize {
        let shared = &self.shared;
        match target.send(&msg).await {
            Ok(()) => {
                for row in rows {
                    let _ = shared.store.alert_delivered(row.id, shared.now()).await;
                    event!("alert_sent", kind = %row.kind, key = row.key.as_deref().unwrap_or(""));
                }
                0
            }
            Err(error) => {
                for row in rows {
                    let retry_at = self.retry_at(row, &error);
                    warn_event!("alert_failed", kind = %row.kind,
                        key = row.key.as_deref().unwrap_or(""), attempt = row.attempts + 1,
                        error = %error.text, gave_up = retry_at.is_none());
                    let failed = DeliveryFailed { id: row.id, error: error.text.clone(), retry_at };
                    let _ = shared.store.alert_failed(failed).await;
                }
                rows.len()
            }
        }
    }

    fn arm(&self, myself: &ActorRef<AlertMsg>, st: &mut AlertState, at: Timestamp) {
        st.wakeup.arm(myself, at, self.shared.now(), || AlertMsg::Deliver);
    }

    /// When to try a failed row again; `None` gives up on a permanent refusal.
    fn retry_at(&self, row: &AlertRow, error: &SendError) -> Option<Timestamp> {
        if error.permanent {
            return None;
        }
        let cfg = &self.shared.config.alert;
        let wait = backoff(cfg.retry_base, cfg.retry_cap, row.attempts)
            .max(error.retry_after.unwrap_or_default());
        Some(self.shared.now() + wait)
    }
}

fn message(row: &AlertRow) -> Message {
    let details = serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null);
    Message::from_outbox(row.id, &row.kind, row.key.as_deref(), details)
}

fn pairs(rows: &[AlertRow]) -> Vec<(String, String)> {
    rows.iter()
        .map(|r| {
            let details: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
            let key = r.key.clone().unwrap_or_default();
            (key, details["error"].as_str().unwrap_or("").to_owned())
        })
        .collect()
}

/// Splits dead-letter rows into digests that each fit the service's text limit.
fn digest_chunks(rows: &[AlertRow], limit: usize) -> Vec<&[AlertRow]> {
    let mut chunks = Vec::new();
    let (mut start, mut size) = (0, 200);
    for (i, row) in rows.iter().enumerate() {
        // Each line: "- key: error (80 chars at most)\n".
        let line = row.key.as_deref().map_or(0, str::len) + 90;
        if size + line > limit && i > start {
            chunks.push(&rows[start..i]);
            (start, size) = (i, 200);
        }
        size += line;
    }
    if start < rows.len() {
        chunks.push(&rows[start..]);
    }
    chunks
}
