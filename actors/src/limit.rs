//! Provider limits: a `[[limit]]` names a bucket that jobs share (an LLM provider, an API key),
//! with how many of its jobs may run at once, how many may start per window, what they may
//! spend per UTC day, and whether it has a circuit breaker of its own.

use std::time::Duration;

use serde::Serialize;

use crate::clock::Timestamp;
use crate::error::StoreError;

/// One `[[limit]]`, as a runner's config defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitConfig {
    /// Letters, digits, `-`, `_` and `.`, 1 to 64 of them.
    pub name: String,
    /// At most this many of its jobs run at once (across every runner sharing the database).
    pub concurrency: Option<u32>,
    /// At most this many claims per window.
    pub rate: Option<Rate>,
    /// Claims stop once the spend charged to this limit today reaches it (micro-dollars).
    pub cost_micros_per_day: Option<i64>,
    /// The limit has its own breaker: an `auth` failure of one of its jobs opens it (and not
    /// the global one), and its `server` failures count toward it.
    pub breaker: bool,
    /// Jobs enqueued onto these queues count against this limit unless they name one
    /// themselves. A queue belongs to one limit at most (the config refuses a queue listed by
    /// two; given two here, the first listed wins).
    pub queues: Vec<String>,
}

impl LimitConfig {
    /// A limit named `name` with no bound yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            concurrency: None,
            rate: None,
            cost_micros_per_day: None,
            breaker: false,
            queues: Vec::new(),
        }
    }
}

/// The limit jobs of `queue` count against when they name none: the first of `limits` that
/// lists the queue.
pub(crate) fn of_queue<'a>(limits: &'a [LimitConfig], queue: &str) -> Option<&'a str> {
    let listed = |l: &&LimitConfig| l.queues.iter().any(|q| q == queue);
    limits.iter().find(listed).map(|l| l.name.as_str())
}

/// `count` claims per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Claims allowed per window.
    pub count: u32,
    /// The window.
    pub per: Duration,
}

impl Rate {
    /// Parses `"50/m"`: a count, `/`, and `s`, `m`, `h` or `d` (or a duration such as `10s`).
    pub fn parse(text: &str) -> Result<Rate, StoreError> {
        let bad = || {
            StoreError::InvalidValue(format!(
                "rate {text:?} is not COUNT/UNIT, such as \"50/m\" (units s, m, h, d)"
            ))
        };
        let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let unit = unit.trim();
        let (n, u) = unit.split_at(unit.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
        let n: u64 = if n.is_empty() { 1 } else { n.parse().map_err(|_| bad())? };
        let secs = match u {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        if count == 0 || n == 0 {
            return Err(bad());
        }
        Ok(Rate { count, per: Duration::from_secs(n * secs) })
    }
}

/// One limit's state, for `status`, `--json` and `/metrics`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitStatus {
    /// The `[[limit]]` name.
    pub name: String,
    /// Its jobs running now.
    pub running: u64,
    /// As configured.
    pub concurrency: Option<u32>,
    /// Claims in the current rate window.
    pub rate_used: u64,
    /// As configured, such as `50/60s`.
    pub rate: Option<String>,
    /// A 429's hold, while it lasts.
    pub held_until: Option<Timestamp>,
    /// `open` (until `breaker_open_until`), `half_open` (its cooldown over: one job is claimed
    /// as the probe, or runs as the probe now, and its outcome closes or re-opens the breaker)
    /// or `closed`.
    pub breaker: String,
    /// When its breaker's cooldown ends, while open.
    pub breaker_open_until: Option<Timestamp>,
    /// The key of the probe job running, while half-open.
    pub breaker_probe: Option<String>,
    /// Spend charged to the limit today (UTC), micro-dollars.
    pub spent_today_micros: i64,
}

/// Whether `name` is a valid limit name.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        let r = Rate::parse("50/m").unwrap();
        assert_eq!((r.count, r.per), (50, Duration::from_secs(60)));
        assert_eq!(Rate::parse("2/s").unwrap().per, Duration::from_secs(1));
        assert_eq!(Rate::parse("3/10s").unwrap().per, Duration::from_secs(10));
        for bad in ["", "50", "0/m", "5/x", "x/m", "5/0s"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
        assert!(valid_name("openai") && !valid_name("a b") && !valid_name(""));
    }
}
