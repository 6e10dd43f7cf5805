//! The Alert actor is the alert outbox's transport: it delivers released rows to the
//! configured webhook, each rendered in the webhook's format, retried with backoff (a
//! receiver's Retry-After wins when longer) and recorded delivered or failed. A slow or dead
//! webhook holds up nothing but this actor; rows not yet delivered stay in the outbox across
//! restarts.
//!
//! It never decides what is grouped: a dead-letter alert reaches it only once the DeadLetter
//! actor has released it, alone or marked as a member of a digest, and it sends each digest
//! as marked (split only where one message would pass the service's text limit).

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::alerts::{Message, SendError, Target};
use crate::clock::Timestamp;
use crate::events::{event, warn_event};
use crate::policy::backoff::backoff;
use crate::shared::Shared;
use crate::store::{AlertRow, DELIVERY_LEASE, DeliveryFailed};
use crate::wakeup::Wakeup;

/// Rows fetched per round.
const BATCH: u32 = 500;
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
            Some(url) => Some(Target::with_timeout(url, cfg.format, cfg.request_timeout)?),
            None => None,
        };
        myself.cast(AlertMsg::Deliver)?;
        // Outbox rows are also owed by claims (cap_hit), by other processes and by rows whose
        // retry time passed while no timer was armed: look every second.
        let ticker = target.as_ref().map(|_| myself.send_interval(TICK, || AlertMsg::Deliver));
        Ok(AlertState { target, wakeup: Wakeup::new(), _ticker: ticker })
    }

    async fn handle(
        &self,
        myself: ActorRef<AlertMsg>,
        msg: AlertMsg,
        st: &mut AlertState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            AlertMsg::Deliver => {
                self.deliver(&myself, st).await;
            }
            AlertMsg::Flush(reply) => {
                let left = self.deliver(&myself, st).await;
                let _ = reply.send(left);
            }
        }
        Ok(())
    }
}

impl Alert {
    /// One delivery round; returns how many due rows are left undelivered.
    async fn deliver(&self, myself: &ActorRef<AlertMsg>, st: &mut AlertState) -> usize {
        let shared = &self.shared;
        let Some(target) = st.target.clone() else { return 0 };
        self.give_back().await;
        // Noted before the rows are taken, so whenever this actor is killed (or the Store is,
        // with the outcome of the take unknown) its successor finds what to give back.
        let taken_at = shared.now();
        let lease = taken_at + DELIVERY_LEASE;
        shared.alert_leases.lock().unwrap().push(lease);
        let (rows, next) = match shared.store.alerts_due(taken_at, BATCH).await {
            Ok(due) => due,
            Err(e) => {
                warn_event!("alert_failed", error = %e);
                self.arm(myself, st, shared.now() + TICK);
                return usize::MAX;
            }
        };
        let now = shared.now();
        let (mut left, mut recorded) = (0, true);
        for (rows, msg) in messages(rows, target.text_limit()) {
            let (unsent, all_recorded) = self.send_rows(&target, &rows, msg).await;
            left += unsent;
            recorded &= all_recorded;
        }
        // Every taken row's outcome is recorded: nothing to give back. (When a record failed,
        // the Store restarting, the next round gives the lease's rows back at once: a delivered
        // one may go out twice rather than any waiting out the lease.)
        if recorded {
            shared.alert_leases.lock().unwrap().retain(|l| *l != lease);
        }
        let soon = now + TICK;
        let next = if left > 0 { Some(next.map_or(soon, |n| n.min(soon))) } else { next };
        if let Some(at) = next {
            self.arm(myself, st, at);
        }
        left
    }

    /// Makes due again whatever a killed predecessor took and never recorded: the rows still
    /// carrying a delivery lease it noted (this actor removes its own before its round ends,
    /// so any lease noted now is theirs).
    async fn give_back(&self) {
        let shared = &self.shared;
        let leases = shared.alert_leases.lock().unwrap().clone();
        if leases.is_empty() {
            return;
        }
        if shared.store.alerts_give_back(leases.clone(), shared.now()).await.is_ok() {
            shared.alert_leases.lock().unwrap().retain(|l| !leases.contains(l));
        }
    }

    /// Sends one message for `rows` and records the outcome on each; returns the rows left
    /// and whether every outcome was recorded.
    async fn send_rows(&self, target: &Target, rows: &[AlertRow], msg: Message) -> (usize, bool) {
        let mut recorded = true;
        let shared = &self.shared;
        match target.send(&msg).await {
            Ok(()) => {
                for row in rows {
                    recorded &= shared.store.alert_delivered(row.id, shared.now()).await.is_ok();
                    event!("alert_sent", kind = %row.kind, key = row.key.as_deref().unwrap_or(""));
                }
                (0, recorded)
            }
            Err(error) => {
                for row in rows {
                    let retry_at = self.retry_at(row, &error);
                    warn_event!("alert_failed", kind = %row.kind,
                        key = row.key.as_deref().unwrap_or(""), attempt = row.attempts + 1,
                        error = %error.text, gave_up = retry_at.is_none());
                    let failed = DeliveryFailed { id: row.id, error: error.text.clone(), retry_at };
                    recorded &= shared.store.alert_failed(failed).await.is_ok();
                }
                (rows.len(), recorded)
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

/// The messages `rows` go out as, each with the rows it reports: a row alone, or the members
/// of one digest together (wherever they fall among the rows), in chunks that fit the
/// service's text limit.
fn messages(rows: Vec<AlertRow>, limit: usize) -> Vec<(Vec<AlertRow>, Message)> {
    let mut groups: Vec<Vec<AlertRow>> = Vec::new();
    // Where each digest's group is in `groups`.
    let mut digests: HashMap<i64, usize> = HashMap::new();
    for row in rows {
        match row.digest.map(|d| *digests.entry(d).or_insert(groups.len())) {
            Some(i) if i < groups.len() => groups[i].push(row),
            _ => groups.push(vec![row]),
        }
    }
    let mut out = Vec::new();
    for group in groups {
        if group[0].digest.is_none() {
            let msg = message(&group[0]);
            out.push((group, msg));
            continue;
        }
        for chunk in digest_chunks(&group, limit) {
            out.push((chunk.to_vec(), Message::digest(chunk[0].id, &pairs(chunk))));
        }
    }
    out
}

fn message(row: &AlertRow) -> Message {
    let details = serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null);
    Message::from_outbox(row.id, row.kind, row.key.as_deref(), details)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::AlertKind;

    fn row(id: i64, kind: AlertKind, digest: Option<i64>) -> AlertRow {
        let key = format!("job-{id}");
        let body = serde_json::json!({ "key": key, "error": "boom" }).to_string();
        AlertRow { id, kind, key: Some(key), body, attempts: 0, digest }
    }

    #[test]
    fn a_digest_goes_out_as_marked_and_the_rest_alone() {
        let rows = vec![
            row(1, AlertKind::DeadLetter, Some(1)),
            row(2, AlertKind::CapHit, None),
            row(3, AlertKind::DeadLetter, Some(1)),
            row(4, AlertKind::DeadLetter, None),
        ];
        let sent: Vec<(Vec<i64>, AlertKind)> = messages(rows, 100_000)
            .into_iter()
            .map(|(rows, msg)| (rows.iter().map(|r| r.id).collect(), msg.kind))
            .collect();
        assert_eq!(
            sent,
            [
                (vec![1, 3], AlertKind::Digest),
                (vec![2], AlertKind::CapHit),
                (vec![4], AlertKind::DeadLetter),
            ]
        );
    }

    #[test]
    fn a_digest_past_the_text_limit_is_split_keeping_every_key() {
        let rows: Vec<AlertRow> =
            (1..=40).map(|id| row(id, AlertKind::DeadLetter, Some(1))).collect();
        let sent = messages(rows, 2000);
        assert!(sent.len() > 1, "one Discord message cannot name forty keys");
        let named: Vec<i64> = sent.iter().flat_map(|(rows, _)| rows.iter().map(|r| r.id)).collect();
        assert_eq!(named, (1..=40).collect::<Vec<_>>());
        for (rows, msg) in &sent {
            assert_eq!(msg.kind, AlertKind::Digest);
            assert!(rows.iter().all(|r| msg.text.contains(r.key.as_deref().unwrap())));
        }
    }
}
