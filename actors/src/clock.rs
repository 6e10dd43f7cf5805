//! Time as the engine sees it: unix milliseconds from one injectable clock, so tests can move
//! the wall clock (day boundaries, lease expiry) without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the unix epoch, UTC.
pub type Timestamp = i64;

/// The source of wall-clock time for everything the engine persists (run_at, leases, spend days).
/// Timeouts and heartbeats use tokio's monotonic timers instead, so a clock jump cannot cut a
/// handler short.
pub trait Clock: Send + Sync + 'static {
    /// The current time in unix milliseconds.
    fn now(&self) -> Timestamp;
}

/// The system's real-time clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

/// A clock that follows the system clock plus an offset the test controls; `advance` jumps it
/// forward or back without touching the machine's clock.
#[derive(Debug, Default, Clone)]
pub struct ManualClock {
    offset_ms: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock that reads the system time until it is moved.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock by `ms` milliseconds (negative moves it back).
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        SystemClock.now() + self.offset_ms.load(Ordering::SeqCst)
    }
}

/// The UTC calendar day of `ts` as `YYYY-MM-DD` (the daily cap's ledger key).
pub fn utc_day(ts: Timestamp) -> String {
    let days = ts.div_euclid(86_400_000);
    // Howard Hinnant's days-to-civil algorithm, valid for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::utc_day;

    #[test]
    fn utc_day_names_the_calendar_date() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(86_399_999), "1970-01-01");
        assert_eq!(utc_day(86_400_000), "1970-01-02");
        // 2026-11-23T22:28:37Z
        assert_eq!(utc_day(1_795_472_917_000), "2026-11-23");
        // 2024-02-29 (leap day) 12:00Z
        assert_eq!(utc_day(1_709_208_000_000), "2024-02-29");
        assert_eq!(utc_day(-1), "1969-12-31");
    }
}
