//! What `status` shows.

use serde::Serialize;

use crate::clock::Timestamp;

/// Counts and gates, as `status` shows them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Jobs waiting.
    pub pending: u64,
    /// Jobs claimed by a worker.
    pub running: u64,
    /// Jobs finished.
    pub done: u64,
    /// Jobs parked until a signal.
    pub waiting: u64,
    /// Jobs cancelled.
    pub cancelled: u64,
    /// Rows in `dead_letter`.
    pub dead: u64,
    /// Age of the oldest due pending job, ms.
    pub oldest_pending_ms: Option<i64>,
    /// The earliest `run_at` among pending jobs.
    pub next_due: Option<Timestamp>,
    /// Whether the kill switch is on.
    pub paused: bool,
    /// Why it was paused.
    pub pause_reason: Option<String>,
    /// Alerts in the outbox not yet delivered.
    pub alerts_undelivered: u64,
    /// Cost recorded today (UTC), micro-dollars.
    pub spend_today_micros: i64,
    /// The daily cap in force, micro-dollars: the one the last runner started with (before any
    /// runner started, the reading process's own); `None`: no cap.
    pub cap_micros: Option<i64>,
    /// Where the cap in force was set (`DAILY_CAP_USD`, `[budget] daily_usd in FILE`), if known.
    pub cap_set_by: Option<String>,
    /// The gate holding every claim now (kill switch, daily cap, open breaker), if any.
    pub gate: Option<crate::Gate>,
    /// Consecutive failed attempts the breaker has counted.
    pub breaker_failures: u32,
    /// Each `[[limit]]` the reading process's config defines: running, rate used, held until.
    pub limits: Vec<crate::limit::LimitStatus>,
}
