//! What an attempt that ended carries to its round, and what is logged and announced once the
//! round commits: the outcome events, the retry wake-up, the dead letter's notice.

use std::time::Duration;

use crate::error::StoreError;
use crate::events::{error_event, event, warn_event};
use crate::links::Notices;
use crate::store::{Failed, Settle, Settled, Snoozed, Waited};

/// An attempt that ended, waiting for its round.
#[derive(Debug, Clone)]
pub(crate) struct Ended {
    pub(crate) settle: Settle,
    /// The attempt's number, when a worker ran it (none for a job claimed ahead and given back,
    /// or the attempt of a worker that crashed).
    pub(crate) attempt: Option<u32>,
    /// How long the handler ran.
    pub(crate) duration: Option<Duration>,
    pub(crate) cost_usd: f64,
}

impl Ended {
    /// An attempt a worker ran and reports.
    pub(crate) fn ran(settle: Settle, attempt: u32, duration: Duration, cost_usd: f64) -> Self {
        Self { settle, attempt: Some(attempt), duration: Some(duration), cost_usd }
    }

    /// An attempt settled for a worker that cannot report it (it crashed).
    pub(crate) fn unreported(settle: Settle) -> Self {
        Self { settle, attempt: None, duration: None, cost_usd: 0.0 }
    }

    /// A job claimed ahead that never ran: back to pending, nothing counted.
    pub(crate) fn given_back(key: String, token: String) -> Self {
        Self::unreported(Settle::Release { key, token })
    }
}

/// Logs and announces what each committed settle did; returns the ones to send again (a
/// transient error on their item: fenced by the lease token, a repeat is safe).
pub(crate) fn settled(
    notices: &Notices,
    ended: Vec<Ended>,
    answers: Vec<Result<Settled, StoreError>>,
) -> Vec<Ended> {
    let mut again = Vec::new();
    for (e, answer) in ended.into_iter().zip(answers) {
        let key = e.settle.key().to_owned();
        let duration_ms = e.duration.map(|d| d.as_millis() as u64);
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) if error.is_transient() => {
                again.push(e);
                continue;
            }
            Err(error) => {
                warn_event!("outcome_unknown", key = %key, error = %error);
                continue;
            }
        };
        match (&e.settle, answer) {
            (Settle::Complete { .. }, Settled::Completed(true)) => {
                event!("job_succeeded", key = %key, attempt = e.attempt, duration_ms = duration_ms,
                    cost_usd = e.cost_usd);
            }
            (Settle::Complete { .. }, Settled::Completed(false)) => {
                warn_event!("lease_lost", key = %key, attempt = e.attempt,
                    error = "the job succeeded after its lease was taken over");
            }
            (Settle::Fail { error, .. }, Settled::Failed(failed)) => {
                if e.attempt.is_some() && !matches!(failed, Failed::LeaseLost) {
                    warn_event!("job_failed", key = %key, attempt = e.attempt,
                        duration_ms = duration_ms, error = %error, cost_usd = e.cost_usd);
                }
                announce(notices, &key, failed);
            }
            (Settle::Snooze { .. }, Settled::Snoozed(Snoozed::Due { at, snoozes, delay })) => {
                event!("job_snoozed", key = %key, attempt = e.attempt, duration_ms = duration_ms,
                    delay_ms = delay.as_millis() as u64, snoozes = snoozes, cost_usd = e.cost_usd);
                notices.retry_due(at);
            }
            (Settle::Snooze { .. }, Settled::Snoozed(Snoozed::Counted(failed))) => {
                if !matches!(failed, Failed::LeaseLost) {
                    warn_event!("job_failed", key = %key, attempt = e.attempt,
                        duration_ms = duration_ms, cost_usd = e.cost_usd,
                        error = "snoozed past [retry] max_snoozes: counted as a failed attempt");
                }
                announce(notices, &key, failed);
            }
            (Settle::Wait { wait, .. }, Settled::Waited(Waited::Waiting { until })) => {
                event!("job_waiting", key = %key, attempt = e.attempt, duration_ms = duration_ms,
                    name = %wait.name, until = until.as_millis(), cost_usd = e.cost_usd);
                // At `until` the Retry scheduler fails the wait (the Rescuer's sweep too).
                notices.retry_due(until);
            }
            (Settle::Wait { wait, .. }, Settled::Waited(Waited::Signalled)) => {
                event!("job_signalled", key = %key, name = %wait.name,
                    reason = "the signal was already recorded: due again now");
                notices.retry_due(crate::clock::Timestamp::from_millis(0));
            }
            (Settle::Release { .. }, Settled::Released(released)) if e.attempt.is_some() => {
                event!("job_interrupted", key = %key, attempt = e.attempt,
                    duration_ms = duration_ms, released = released,
                    reason = "shutdown grace period elapsed; lease released without counting an attempt");
            }
            _ => {}
        }
    }
    again
}

/// Tells the Retry and DeadLetter actors what a failure became.
pub(crate) fn announce(notices: &Notices, key: &str, failed: Failed) {
    match failed {
        Failed::Retry { at, attempts, delay } => {
            event!("retry_scheduled", key = %key, attempt = attempts,
                delay_ms = delay.as_millis() as u64);
            notices.retry_due(at);
        }
        Failed::Dead { job: dead, alert } => {
            error_event!("dead_lettered", key = %key, queue = %dead.queue, attempt = dead.attempts,
                reason = %dead.reason, error = %dead.error);
            notices.dead_arrived(alert);
        }
        Failed::LeaseLost => {
            warn_event!("lease_lost", key = %key,
                error = "the attempt failed after its lease was taken over");
        }
    }
}
