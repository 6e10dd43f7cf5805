//! Exponential backoff with jitter: `backoff(a) = min(cap, base * 2^a) * (0.5 + U[0,1))`.
//!
//! The jitter spreads retries of jobs that failed together (an API outage) so they do not return
//! in lock-step; the cap bounds the wait however many attempts came before.

use std::time::Duration;

/// The delay before the retry that follows the `a`-th failed attempt (0-based: `a = 0` after
/// the first failure). Never above 1.5 x `cap`; overflow-safe for any `a`.
pub fn backoff(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let jitter: f64 = rand::random_range(0.5..1.5);
    backoff_with(base, cap, attempt, jitter)
}

/// [`backoff`] with the jitter factor given, for tests and for callers with their own randomness.
pub fn backoff_with(base: Duration, cap: Duration, attempt: u32, jitter: f64) -> Duration {
    ceiling(base, cap, attempt).mul_f64(jitter.clamp(0.5, 1.5))
}

/// `min(cap, base * 2^attempt)`, the centre of the jitter envelope.
pub fn ceiling(base: Duration, cap: Duration, attempt: u32) -> Duration {
    // 2^attempt overflows u32 past 31; past 63 even u64. Saturate instead of panicking.
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(Duration::MAX).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(50);
    const CAP: Duration = Duration::from_secs(2);

    #[test]
    fn every_value_lies_within_the_jitter_envelope() {
        for attempt in 0..200 {
            let centre = ceiling(BASE, CAP, attempt);
            for _ in 0..50 {
                let d = backoff(BASE, CAP, attempt);
                assert!(d >= centre.mul_f64(0.5), "attempt {attempt}: {d:?} below the envelope");
                assert!(d <= centre.mul_f64(1.5), "attempt {attempt}: {d:?} above the envelope");
            }
        }
    }

    #[test]
    fn the_centre_doubles_until_the_cap() {
        assert_eq!(ceiling(BASE, CAP, 0), Duration::from_millis(50));
        assert_eq!(ceiling(BASE, CAP, 1), Duration::from_millis(100));
        assert_eq!(ceiling(BASE, CAP, 3), Duration::from_millis(400));
        assert_eq!(ceiling(BASE, CAP, 6), CAP);
        assert_eq!(ceiling(BASE, CAP, u32::MAX), CAP);
    }

    #[test]
    fn nothing_exceeds_one_and_a_half_caps() {
        for attempt in [10, 31, 32, 64, 1000, u32::MAX] {
            for _ in 0..100 {
                assert!(backoff(Duration::from_secs(1), CAP, attempt) <= CAP.mul_f64(1.5));
            }
        }
    }

    #[test]
    fn values_vary_between_calls() {
        let values: std::collections::HashSet<Duration> =
            (0..50).map(|_| backoff(BASE, CAP, 2)).collect();
        assert!(values.len() > 10, "only {} distinct delays in 50 calls", values.len());
    }

    #[test]
    fn jitter_bounds_map_to_envelope_edges() {
        assert_eq!(backoff_with(BASE, CAP, 1, 0.5), Duration::from_millis(50));
        assert_eq!(backoff_with(BASE, CAP, 1, 1.5), Duration::from_millis(150));
        assert_eq!(backoff_with(BASE, CAP, 1, 9.0), Duration::from_millis(150));
    }
}
