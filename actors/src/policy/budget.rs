//! The daily spend cap: a UTC day's recorded cost against the cap, and when the next day starts.

use crate::clock::Timestamp;

const DAY_MS: i64 = 86_400_000;

/// The most one attempt can cost, in US dollars. A handler reporting more breaks the protocol:
/// the attempt is logged as `bad_cost` and charged exactly this much, so a runaway agent trips
/// the daily cap instead of overflowing the ledger.
pub const MAX_ATTEMPT_COST_USD: f64 = 1_000.0;

/// Whether `spent` (micro-dollars today) leaves no room under `cap`.
pub fn exhausted(spent: i64, cap: i64) -> bool {
    spent >= cap
}

/// The first instant of the UTC day after `now`.
pub fn next_day(now: Timestamp) -> Timestamp {
    let day = now.as_millis().div_euclid(DAY_MS);
    Timestamp::from_millis(day.saturating_add(1).saturating_mul(DAY_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_reached_at_equality() {
        assert!(!exhausted(9_999, 10_000));
        assert!(exhausted(10_000, 10_000));
        assert!(exhausted(0, 0), "a zero cap spends nothing");
    }

    #[test]
    fn next_day_is_the_following_utc_midnight() {
        let at = Timestamp::from_millis;
        assert_eq!(next_day(at(0)), at(DAY_MS));
        assert_eq!(next_day(at(DAY_MS - 1)), at(DAY_MS));
        assert_eq!(next_day(at(DAY_MS)), at(2 * DAY_MS));
        assert_eq!(next_day(at(-1)), at(0), "before the epoch too");
    }
}
