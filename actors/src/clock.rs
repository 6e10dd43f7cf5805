//! Time as the engine sees it: [`Timestamp`], unix milliseconds read from one injectable
//! [`Clock`], so tests can move the wall clock (day boundaries, lease expiry) without sleeping.
//!
//! It owns every conversion between durations, system time and stored milliseconds: the rest
//! of the engine adds and subtracts [`Duration`]s, and the arithmetic saturates instead of
//! wrapping, so an absurd configured duration gives a far-off time, never a time in the past.
//! It never sleeps and never reads the database.
//!
//! # Waiting for a wall-clock time
//!
//! What the engine persists is wall-clock time from the injected clock: a retry's `run_at`, a
//! lease's expiry, a breaker's cooldown, a held dead-letter alert's group_wait, an alert's next
//! try. An actor that must act at such a time never sleeps on the system clock: it reads the
//! injected clock, takes the difference as a [`Duration`] and sleeps that long on tokio's timer
//! (the `Wakeup` each such actor holds: the Retry scheduler for `run_at` and for a gate that
//! lifts by itself, the DeadLetter actor for group_wait, the Alert actor for its outbox). Periodic work (the Rescuer's sweep for expired leases, the Retry scheduler's
//! rescan, heartbeats) runs on tokio intervals and compares with the injected clock. When the
//! timer fires, the actor reads the clock again and compares: a timer that fired early or late
//! costs one more look, never a wrong decision, since the database is what is compared.
//!
//! So one clock drives both halves when it follows tokio's own: [`TokioClock`] reads the
//! epoch it started at plus the time tokio's clock has moved since. In a test on paused tokio
//! time (`#[tokio::test(start_paused = true)]`, `tokio::time::advance`) moving tokio's clock
//! moves the engine's wall clock by the same amount and fires the timers due by then: a
//! breaker's cooldown, a retry's backoff and a lease's expiry pass without real waiting.
//! [`ManualClock`] instead jumps the wall clock alone, as a machine whose clock is reset does.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

/// A point in wall-clock time: milliseconds since the unix epoch, UTC. Stored in SQLite as an
/// INTEGER of milliseconds and serialized as that plain integer.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// The time `ms` milliseconds after the epoch (before it when negative).
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The time `secs` seconds after the epoch, clamped to what milliseconds hold.
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }

    /// Whole seconds since the epoch, rounded down (towards the past).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// A system time, clamped to what an `i64` of milliseconds holds.
    pub fn from_system(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(after) => Timestamp(millis(after)),
            Err(before) => Timestamp(millis(before.duration()).saturating_neg()),
        }
    }

    /// This time as a system time.
    pub fn to_system(self) -> SystemTime {
        let span = Duration::from_millis(self.0.unsigned_abs());
        if self.0 >= 0 { UNIX_EPOCH + span } else { UNIX_EPOCH - span }
    }

    /// How long after `earlier` this is; zero when it is not later.
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        duration(self.0.saturating_sub(earlier.0))
    }

    /// Milliseconds from `earlier` to this, negative when this comes first (saturating).
    pub fn millis_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// A duration in whole milliseconds as stored beside timestamps (`timeout_ms`, a cooldown),
/// saturating at `i64::MAX`.
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A stored count of milliseconds as a duration; zero when negative.
pub fn duration(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturates at the latest representable time.
    fn add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(millis(d)))
    }
}

impl AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturates at the earliest representable time.
    fn sub(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(millis(d)))
    }
}

impl SubAssign<Duration> for Timestamp {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

impl Sub<Timestamp> for Timestamp {
    type Output = Duration;

    /// [`Timestamp::duration_since`]: zero when `earlier` is not earlier. Use
    /// [`Timestamp::millis_since`] where the sign matters.
    fn sub(self, earlier: Timestamp) -> Duration {
        self.duration_since(earlier)
    }
}

/// The milliseconds, as stored.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.0))
    }
}

impl FromSql for Timestamp {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        i64::column_result(value).map(Timestamp)
    }
}

/// The source of wall-clock time for everything the engine persists (run_at, leases, spend days).
/// Timeouts and heartbeats use tokio's monotonic timers instead, so a clock jump cannot cut a
/// handler short.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's real-time clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_system(SystemTime::now())
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

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(millis(by), Ordering::SeqCst);
    }

    /// Moves the clock back by `by`.
    pub fn rewind(&self, by: Duration) {
        self.offset_ms.fetch_sub(millis(by), Ordering::SeqCst);
    }

    /// Sets the clock so that it reads `at` now.
    pub fn set(&self, at: Timestamp) {
        let offset = at.millis_since(SystemClock.now());
        self.offset_ms.store(offset, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let now = SystemClock.now();
        Timestamp(now.0.saturating_add(self.offset_ms.load(Ordering::SeqCst)))
    }
}

/// A clock that follows tokio's: the wall-clock time it was started at plus how far
/// `tokio::time::Instant` has moved since. Outside a test it moves with the monotonic clock
/// (a change of the system clock does not move it); on paused tokio time it moves only when
/// tokio's clock does, so `tokio::time::advance` moves the engine's wall clock and fires its
/// wake-ups together.
///
/// It reads the clock of the tokio runtime it is called on: call it, and run the engine, on the
/// runtime whose time is paused. (tokio follows paused time only when built with its
/// `test-util` feature, as test builds usually are; without it this is the monotonic clock.)
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    epoch: Timestamp,
    base: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading the system time now, and moving with tokio's clock from here on.
    pub fn new() -> Self {
        Self::starting_at(SystemClock.now())
    }

    /// A clock reading `epoch` now, and moving with tokio's clock from here on.
    pub fn starting_at(epoch: Timestamp) -> Self {
        Self { epoch, base: tokio::time::Instant::now() }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.epoch + tokio::time::Instant::now().saturating_duration_since(self.base)
    }
}

/// The UTC calendar day of `ts` as `YYYY-MM-DD` (the daily cap's ledger key).
pub fn utc_day(ts: Timestamp) -> String {
    let days = ts.0.div_euclid(86_400_000);
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
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn utc_day_names_the_calendar_date() {
        assert_eq!(utc_day(at(0)), "1970-01-01");
        assert_eq!(utc_day(at(86_399_999)), "1970-01-01");
        assert_eq!(utc_day(at(86_400_000)), "1970-01-02");
        // 2026-11-23T22:28:37Z
        assert_eq!(utc_day(at(1_795_472_917_000)), "2026-11-23");
        // 2024-02-29 (leap day) 12:00Z
        assert_eq!(utc_day(at(1_709_208_000_000)), "2024-02-29");
        assert_eq!(utc_day(at(-1)), "1969-12-31");
    }

    #[test]
    fn duration_arithmetic_saturates_instead_of_wrapping() {
        let t = at(1_000);
        assert_eq!(t + Duration::from_millis(500), at(1_500));
        assert_eq!(t - Duration::from_secs(2), at(-1_000));
        assert_eq!(at(i64::MAX - 1) + Duration::from_secs(1), at(i64::MAX));
        assert_eq!(t + Duration::MAX, at(i64::MAX));
        assert_eq!(at(i64::MIN + 1) - Duration::MAX, at(i64::MIN));
        assert_eq!(millis(Duration::MAX), i64::MAX);
        assert_eq!(duration(-5), Duration::ZERO);
        assert_eq!(duration(5), Duration::from_millis(5));
    }

    #[test]
    fn the_difference_of_two_times_is_a_duration_or_a_signed_count() {
        assert_eq!(at(1_500) - at(1_000), Duration::from_millis(500));
        assert_eq!(at(1_000) - at(1_500), Duration::ZERO, "a later time is not a negative span");
        assert_eq!(at(1_000).millis_since(at(1_500)), -500);
        assert_eq!(at(i64::MAX).millis_since(at(i64::MIN)), i64::MAX);
        assert_eq!(at(-1).as_secs(), -1, "seconds round towards the past");
        assert_eq!(Timestamp::from_secs(i64::MAX), at(i64::MAX));
    }

    #[test]
    fn system_times_on_both_sides_of_the_epoch() {
        let after = UNIX_EPOCH + Duration::from_millis(1_234);
        let before = UNIX_EPOCH - Duration::from_millis(1_234);
        assert_eq!(Timestamp::from_system(after), at(1_234));
        assert_eq!(Timestamp::from_system(before), at(-1_234));
        assert_eq!(at(1_234).to_system(), after);
        assert_eq!(at(-1_234).to_system(), before);
    }

    #[test]
    fn stored_and_serialized_as_plain_milliseconds() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let back: (Timestamp, String) = conn
            .query_row("SELECT ?1, typeof(?1)", [at(1_795_472_917_000)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(back, (at(1_795_472_917_000), "integer".to_owned()));
        assert_eq!(serde_json::to_string(&at(42)).unwrap(), "42");
        assert_eq!(serde_json::from_str::<Timestamp>("-7").unwrap(), at(-7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_moves_with_paused_tokio_time_and_fires_timers_with_it() {
        let clock = TokioClock::starting_at(at(1_795_472_917_000));
        assert_eq!(clock.now(), at(1_795_472_917_000));
        let due = clock.now() + Duration::from_secs(90);
        let wake = tokio::spawn(tokio::time::sleep(due - clock.now()));
        tokio::time::advance(Duration::from_secs(89)).await;
        assert_eq!(clock.now(), at(1_795_473_006_000));
        assert!(!wake.is_finished(), "fired before the wall clock reached it");
        tokio::time::advance(Duration::from_secs(1)).await;
        wake.await.unwrap();
        assert_eq!(clock.now(), due);
    }

    #[test]
    fn a_manual_clock_moves_both_ways_and_can_be_set() {
        let clock = ManualClock::new();
        clock.set(at(1_000_000));
        let read = clock.now();
        assert!(read >= at(1_000_000) && read < at(1_060_000), "{read:?}");
        clock.advance(Duration::from_secs(3_600));
        assert!(clock.now() >= at(4_600_000));
        clock.rewind(Duration::from_secs(7_200));
        assert!(clock.now() < at(1_000_000));
    }
}
