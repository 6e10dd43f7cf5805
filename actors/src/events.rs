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

/// A periodic Store call failed: a warn-level event named `$name` with the error, or a
/// debug-level one while the Store is restarting (`Unavailable`), which the Supervisor reports
/// itself once per try (`worker_restarted`, `store_reconnecting`): a Store reconnecting to a
/// restarted database for a minute would otherwise log every rescan and sweep in between.
macro_rules! store_call_failed {
    ($name:literal, $error:expr $(, $($field:tt)+)?) => {{
        let error = &$error;
        if matches!(error, $crate::error::StoreError::Unavailable(_)) {
            ::tracing::debug!(target: "nightshift", event = $name, error = %error $(, $($field)+)?)
        } else {
            ::tracing::warn!(target: "nightshift", event = $name, error = %error $(, $($field)+)?)
        }
    }};
}

pub(crate) use error_event;
pub(crate) use event;
pub(crate) use store_call_failed;
pub(crate) use warn_event;

use crate::policy::budget::MAX_ATTEMPT_COST_USD;

/// Converts a handler's cost in dollars to the ledger's integer micro-dollars. NaN and negative
/// costs are recorded as zero, a cost above [`MAX_ATTEMPT_COST_USD`] (infinity included) as that
/// maximum; either is reported as `bad_cost`, and neither can poison or overflow the sum.
pub(crate) fn cost_micros(key: &str, usd: f64) -> i64 {
    let charged = if usd.is_nan() || usd < 0.0 { 0.0 } else { usd.min(MAX_ATTEMPT_COST_USD) };
    if charged != usd {
        warn_event!("bad_cost", key = %key, cost_usd = usd, charged_usd = charged);
    }
    (charged * 1_000_000.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_become_micro_dollars() {
        assert_eq!(cost_micros("k", 0.0), 0);
        assert_eq!(cost_micros("k", 0.4), 400_000);
        assert_eq!(cost_micros("k", 0.000_000_6), 1);
        assert_eq!(cost_micros("k", MAX_ATTEMPT_COST_USD), 1_000_000_000);
    }

    #[test]
    fn a_cost_above_the_maximum_is_charged_as_the_maximum() {
        for usd in [1_000.01, 1e308, f64::MAX, f64::INFINITY] {
            assert_eq!(cost_micros("k", usd), 1_000_000_000, "{usd}");
        }
    }

    #[test]
    fn nan_and_negative_costs_are_charged_nothing() {
        for usd in [f64::NAN, -0.5, f64::NEG_INFINITY] {
            assert_eq!(cost_micros("k", usd), 0, "{usd}");
        }
    }
}
