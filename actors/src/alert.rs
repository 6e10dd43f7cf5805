//! The Alert actor: delivers the alert outbox to the configured webhook as a JSON POST, with
//! retries and backoff. A slow or dead webhook holds up nothing but this actor; rows that are
//! not yet delivered stay in the outbox across restarts. The URL may carry a token, so neither
//! it nor a reqwest error that embeds it is ever logged.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::{Value, json};

use crate::clock::Timestamp;
use crate::events::{event, warn_event};
use crate::policy::backoff::backoff;
use crate::shared::Shared;
use crate::store::{AlertRow, DeliveryFailed};
use crate::wakeup::Wakeup;

/// Rows delivered per round before yielding to the mailbox.
const BATCH: u32 = 20;

/// The Alert actor's mailbox.
pub(crate) enum AlertMsg {
    /// Deliver whatever is due.
    Deliver,
    /// Deliver whatever is due, then answer how many alerts remain undelivered and due.
    Flush(RpcReplyPort<usize>),
}

#[cfg(feature = "cluster")]
impl ractor::Message for AlertMsg {}

pub(crate) struct Alert {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct AlertState {
    client: reqwest::Client,
    wakeup: Wakeup<AlertMsg>,
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
        let timeout = self.shared.config.alert.request_timeout;
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .build()
            .map_err(|e| e.without_url().to_string())?;
        myself.cast(AlertMsg::Deliver)?;
        Ok(AlertState { client, wakeup: Wakeup::new() })
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
        let Some(url) = shared.config.alert.webhook.clone() else { return 0 };
        let mut left = 0;
        let next = loop {
            let (rows, next) = match shared.store.alerts_due(shared.now(), BATCH).await {
                Ok(due) => due,
                Err(e) => {
                    warn_event!("alert_failed", error = %e);
                    break Some(shared.now() + 1000);
                }
            };
            let full = rows.len() as u32 == BATCH;
            let mut progressed = false;
            for row in rows {
                match self.post(&st.client, &url, &row).await {
                    Ok(()) => {
                        progressed = true;
                        let _ = shared.store.alert_delivered(row.id, shared.now()).await;
                        event!("alert_sent", kind = %row.kind, key = row.key.as_deref().unwrap_or(""));
                    }
                    Err((error, retry_after)) => {
                        left += 1;
                        let retry_at = self.retry_at(&row, retry_after, &error);
                        warn_event!("alert_failed", kind = %row.kind,
                            key = row.key.as_deref().unwrap_or(""), attempt = row.attempts + 1,
                            error = %error.text, gave_up = retry_at.is_none());
                        let failed = DeliveryFailed { id: row.id, error: error.text, retry_at };
                        let _ = shared.store.alert_failed(failed).await;
                    }
                }
            }
            if !(full && progressed) {
                break next;
            }
        };
        // Wake up for the earliest retry (a failed row's next attempt, or a later one).
        let next = next.or_else(|| (left > 0).then(|| shared.now() + 1000));
        if let Some(at) = next {
            self.arm(myself, st, at);
        }
        left
    }

    fn arm(&self, myself: &ActorRef<AlertMsg>, st: &mut AlertState, at: Timestamp) {
        st.wakeup.arm(myself, at, self.shared.now(), || AlertMsg::Deliver);
    }

    /// When to try a failed row again; `None` gives up on a permanent refusal.
    fn retry_at(
        &self,
        row: &AlertRow,
        retry_after: Option<Duration>,
        error: &PostError,
    ) -> Option<Timestamp> {
        if error.permanent {
            return None;
        }
        let cfg = &self.shared.config.alert;
        let wait = backoff(cfg.retry_base, cfg.retry_cap, row.attempts)
            .max(retry_after.unwrap_or_default());
        Some(self.shared.now() + wait.as_millis() as i64)
    }

    async fn post(
        &self,
        client: &reqwest::Client,
        url: &str,
        row: &AlertRow,
    ) -> Result<(), (PostError, Option<Duration>)> {
        let body = render(row);
        let sent = client.post(url).json(&body).send().await;
        let response = sent.map_err(|e| {
            // reqwest's Display includes the URL, which may hold a token: strip it.
            (
                PostError {
                    text: format!("webhook request failed: {}", e.without_url()),
                    permanent: false,
                },
                None,
            )
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let permanent = status.is_client_error()
            && status != reqwest::StatusCode::TOO_MANY_REQUESTS
            && status != reqwest::StatusCode::REQUEST_TIMEOUT;
        Err((
            PostError { text: format!("webhook answered HTTP {}", status.as_u16()), permanent },
            retry_after,
        ))
    }
}

struct PostError {
    text: String,
    permanent: bool,
}

/// The JSON body: the outbox row's details plus a one-line text a person can read.
fn render(row: &AlertRow) -> Value {
    let details: Value = serde_json::from_str(&row.body).unwrap_or(Value::Null);
    let text = match row.kind.as_str() {
        "dead_letter" => format!(
            "nightshift: job {} dead-lettered after {} attempt(s): {}",
            details["key"].as_str().unwrap_or("?"),
            details["attempts"],
            details["error"].as_str().unwrap_or("?")
        ),
        kind => format!("nightshift: {kind}"),
    };
    json!({ "id": row.id, "kind": row.kind, "key": row.key, "text": text, "details": details })
}
