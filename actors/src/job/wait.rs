//! What a waiting job waits for ([`JobWait`], and the command that continues it), and what a
//! signal and a cancel answer (`nightshift signal`, `nightshift cancel`, and the embedding
//! API's [`EngineHandle::signal`] / [`EngineHandle::cancel`]).
//!
//! [`EngineHandle::signal`]: crate::EngineHandle::signal
//! [`EngineHandle::cancel`]: crate::EngineHandle::cancel

use std::time::Duration;

use serde::Serialize;

use super::{JobStatus, Outcome};
use crate::clock::Timestamp;

impl Outcome {
    /// Wait for the signal `name` for at most `timeout` (a failed attempt when it times out).
    pub fn wait(name: impl Into<String>, timeout: Duration) -> Self {
        Outcome::Wait { name: name.into(), timeout, dead_on_timeout: false, cost_usd: 0.0 }
    }
}

/// What a `waiting` job waits for (`jobs show`, `/api/jobs/{key}`, the job's page).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobWait {
    /// The signal's name (`nightshift signal KEY NAME`).
    pub name: String,
    /// When the wait times out, unix ms.
    pub until: Timestamp,
    /// What its timeout does.
    pub on_timeout: OnTimeout,
}

impl JobWait {
    /// The command that continues the job `key`, the payload on its stdin.
    pub fn command(&self, key: &str) -> String {
        signal_command(key, &self.name)
    }
}

/// What a wait's timeout does to its job.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// A failed attempt, retried with the backoff while attempts remain.
    Retry,
    /// A dead letter at once (reason `permanent`).
    Dead,
}

impl OnTimeout {
    /// What the `wait_dead` column (or a [`Outcome::Wait`]'s `dead_on_timeout`) says.
    pub(crate) fn of_dead(dead: bool) -> Self {
        if dead { OnTimeout::Dead } else { OnTimeout::Retry }
    }

    /// The word a handler's `wait` line gives (`retry` or `dead`).
    pub const fn as_str(self) -> &'static str {
        match self {
            OnTimeout::Retry => "retry",
            OnTimeout::Dead => "dead",
        }
    }
}

impl std::fmt::Display for OnTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `nightshift signal KEY NAME -`, each word quoted for a POSIX shell when it needs to be: what
/// the `waiting` alert says and the job's page shows, to paste with the payload on stdin.
pub fn signal_command(key: &str, name: &str) -> String {
    format!("nightshift signal {} {} -", shell_word(key), shell_word(name))
}

/// `word` as one shell word: as it is when it needs no quoting, else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The answer to a signal.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Signalled {
    /// The payload is stored as the step of the signal's name and the job is due now.
    Resumed,
    /// The job does not wait for this signal; nothing changed.
    NotWaiting {
        /// The job's status (`None`: no such job in `jobs`).
        status: Option<JobStatus>,
        /// The signal it waits for, when it waits for another.
        waits_for: Option<String>,
    },
}

/// What a cancel did to one job.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cancelled {
    /// The job's key.
    pub key: String,
    /// Its status before (`None`: no such job in `jobs`). `pending`, `waiting` and `running`
    /// ones are now `cancelled`; any other is left as it was.
    pub was: Option<JobStatus>,
}

impl Cancelled {
    /// Whether this cancel changed the job.
    pub fn changed(&self) -> bool {
        matches!(self.was, Some(JobStatus::Pending | JobStatus::Waiting | JobStatus::Running))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signal_command_quotes_only_the_words_that_need_it() {
        assert_eq!(
            signal_command("review-42", "approval"),
            "nightshift signal review-42 approval -"
        );
        assert_eq!(
            signal_command("needs review", "it's"),
            r"nightshift signal 'needs review' 'it'\''s' -"
        );
        assert_eq!(signal_command("", "a"), "nightshift signal '' a -");
    }
}
