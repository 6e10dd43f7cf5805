//! What a signal and a cancel answer (`nightshift signal`, `nightshift cancel`, and the
//! embedding API's [`EngineHandle::signal`] / [`EngineHandle::cancel`]).
//!
//! [`EngineHandle::signal`]: crate::EngineHandle::signal
//! [`EngineHandle::cancel`]: crate::EngineHandle::cancel

use serde::Serialize;

use std::time::Duration;

use super::{JobStatus, Outcome};

impl Outcome {
    /// Wait for the signal `name` for at most `timeout` (a failed attempt when it times out).
    pub fn wait(name: impl Into<String>, timeout: Duration) -> Self {
        Outcome::Wait { name: name.into(), timeout, dead_on_timeout: false, cost_usd: 0.0 }
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
