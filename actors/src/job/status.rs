//! A job's status in the `jobs` table.

use serde::Serialize;

/// A job's status in the `jobs` table.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for its `run_at`, or for a worker.
    Pending,
    /// Claimed by a worker holding its lease.
    Running,
    /// Finished successfully.
    Done,
    /// Parked by its handler until a signal (`nightshift signal KEY NAME`) or its deadline.
    Waiting,
    /// Cancelled (`nightshift cancel`): terminal, its key kept.
    Cancelled,
}

impl JobStatus {
    /// The word stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Waiting => "waiting",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Every status, in the order a job may pass through them.
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Waiting,
        JobStatus::Done,
        JobStatus::Cancelled,
    ];

    /// The status a word names; `None` for any other word.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Every word, comma-separated, for messages about another one.
    pub fn known() -> String {
        Self::ALL.map(JobStatus::as_str).join(", ")
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
