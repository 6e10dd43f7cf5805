//! What `run` says on stderr when a gate holds claims: which gate, when it lifts, and how to
//! lift it sooner. The engine logs the same as events (`waiting_for_gate`, `claims_held`).

use nightshift_actors::{Clock, Gate, Status, SystemClock, Timestamp};

use crate::output;

/// The drain waits for `gate` to lift within `--wait`.
pub(super) fn waiting(gate: &Gate) {
    let what = match gate {
        Gate::Paused { .. } => return,
        Gate::Cap { until } => {
            format!("the daily cap is reached; waiting until {} for the next UTC day", when(*until))
        }
        Gate::Breaker { until: Some(until) } => format!(
            "the circuit breaker is open; waiting until {} to run one probe job (a success \
             closes the breaker); `run --once --wait 0s` does not wait",
            when(*until)
        ),
        Gate::Breaker { until: None } => {
            "the circuit breaker's probe job is running; waiting for its outcome".to_owned()
        }
    };
    eprintln!("nightshift: {what}");
}

/// The run ends with `gate` still holding claims: the held jobs stay pending.
pub(super) fn held(gate: &Gate, status: &Status) {
    let jobs = match status.pending {
        0 => "no job is pending".to_owned(),
        1 => "1 pending job waits".to_owned(),
        n => format!("{n} pending jobs wait"),
    };
    let what = match gate {
        Gate::Paused { reason } => format!(
            "paused ({}); {jobs}. `nightshift resume` turns it back on",
            reason.as_deref().unwrap_or("no reason given")
        ),
        Gate::Cap { until } => {
            let cap = status.cap_micros.map(output::usd).unwrap_or_else(|| "?".to_owned());
            let set_by = status.cap_set_by.as_deref().map(|s| format!(", set by {s}"));
            format!(
                "the daily cap is reached ({} spent of {cap}{} today, UTC); {jobs}. Claims \
                 resume at {}, or sooner if the cap is raised",
                output::usd(status.spend_today_micros),
                set_by.unwrap_or_default(),
                when(*until)
            )
        }
        Gate::Breaker { until: Some(until) } => format!(
            "the circuit breaker is open after {} consecutive failed attempts; {jobs}. At {} one \
             probe job runs and its success closes the breaker; `nightshift dlq replay` of a \
             fixed job resets it",
            status.breaker_failures,
            when(*until)
        ),
        Gate::Breaker { until: None } => format!(
            "the circuit breaker's probe job has not reported; {jobs}. Its outcome (or its lease \
             running out) opens or closes the breaker"
        ),
    };
    eprintln!("nightshift: {what}");
}

/// `2026-11-27T18:00:00.000Z (in 47s)`.
fn when(at: Timestamp) -> String {
    let now = SystemClock.now();
    format!("{} (in {})", output::time(at), output::span(at - now))
}
