//! The tracing events of DESIGN.md section 11. Every event carries an `event` field with its
//! name; the binary's subscriber turns them into JSON lines. Payloads are never logged.

/// Emits an info-level event named `$name` with the given fields.
macro_rules! event {
    ($name:literal $(, $($field:tt)*)?) => {
        ::tracing::info!(target: "nightshift", event = $name $(, $($field)*)?)
    };
}

/// Emits a warn-level event named `$name` with the given fields.
macro_rules! warn_event {
    ($name:literal $(, $($field:tt)*)?) => {
        ::tracing::warn!(target: "nightshift", event = $name $(, $($field)*)?)
    };
}

/// Emits an error-level event named `$name` with the given fields.
macro_rules! error_event {
    ($name:literal $(, $($field:tt)*)?) => {
        ::tracing::error!(target: "nightshift", event = $name $(, $($field)*)?)
    };
}

pub(crate) use error_event;
pub(crate) use event;
pub(crate) use warn_event;

/// Converts a handler's cost in dollars to the ledger's integer micro-dollars. NaN, infinite and
/// negative costs are recorded as zero (and reported), never allowed to poison the sum.
pub(crate) fn cost_micros(key: &str, usd: f64) -> i64 {
    if usd.is_finite() && usd >= 0.0 {
        (usd * 1_000_000.0).round().min(i64::MAX as f64) as i64
    } else {
        warn_event!("bad_cost", key = %key, cost_usd = usd);
        0
    }
}
