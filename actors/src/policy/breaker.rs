//! The circuit breaker: after `failures` consecutive failed attempts it opens for a cooldown
//! (no claims), then lets exactly one probe job through; the probe's success closes it, its
//! failure re-opens it with the cooldown doubled, up to a ceiling. Pure: the Store persists
//! the state, the global breaker's in the `control` row and each `[[limit]]`'s own in its
//! `limits` row, so a cron `run --once` honours an open breaker.

use std::time::Duration;

use crate::clock::{self, Timestamp};

/// The breaker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failed attempts that open it; 0 turns the breaker off.
    pub failures: u32,
    /// The first cooldown.
    pub cooldown: Duration,
    /// The longest cooldown after repeated failed probes.
    pub max_cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 5,
            cooldown: Duration::from_secs(60),
            max_cooldown: Duration::from_secs(3600),
        }
    }
}

/// The persisted state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BreakerState {
    /// Consecutive failed attempts.
    pub failures: u32,
    /// Open until then; `None` when closed.
    pub open_until: Option<Timestamp>,
    /// The cooldown the last opening used, ms.
    pub cooldown_ms: Option<i64>,
    /// The key of the half-open probe in flight.
    pub probe: Option<String>,
}

/// What the breaker lets a claim do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admit {
    /// Closed: claim freely.
    Closed,
    /// Open: no claim before `until`.
    Open {
        /// When the cooldown ends.
        until: Timestamp,
    },
    /// Half-open and the probe is still running: no claim.
    Probing,
    /// Half-open: the next job claimed is the probe.
    Probe,
}

/// A change worth an event (and, for the first opening, an alert).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Opened until `until`; `reopened` when a probe failed.
    Opened {
        /// When the cooldown ends.
        until: Timestamp,
        /// Whether a failed probe re-opened it (the first opening alerts, re-openings log).
        reopened: bool,
    },
    /// A probe succeeded.
    Closed,
}

impl BreakerState {
    /// Whether a claim may go ahead at `now`.
    pub fn admit(&self, now: Timestamp) -> Admit {
        match self.open_until {
            None => Admit::Closed,
            Some(until) if now < until => Admit::Open { until },
            Some(_) if self.probe.is_some() => Admit::Probing,
            Some(_) => Admit::Probe,
        }
    }

    /// Records a successful attempt of `key`.
    pub fn on_success(&mut self, key: &str) -> Option<Transition> {
        self.failures = 0;
        if self.open_until.is_some() && self.probe.as_deref() == Some(key) {
            *self = BreakerState::default();
            return Some(Transition::Closed);
        }
        None
    }

    /// Records a failed attempt of `key` at `now`.
    pub fn on_failure(
        &mut self,
        key: &str,
        now: Timestamp,
        cfg: &BreakerConfig,
    ) -> Option<Transition> {
        if cfg.failures == 0 {
            return None;
        }
        self.failures = self.failures.saturating_add(1);
        let base = cfg.cooldown;
        let ceiling = cfg.max_cooldown.max(cfg.cooldown);
        if self.open_until.is_some() && self.probe.as_deref() == Some(key) {
            let last = self.cooldown_ms.map_or(base, clock::duration);
            let cooldown = last.saturating_mul(2).min(ceiling);
            return Some(self.open(now, cooldown, true));
        }
        if self.open_until.is_none() && self.failures >= cfg.failures {
            return Some(self.open(now, base, false));
        }
        None
    }

    /// Records a failed attempt of `key` that opens it at once (every job would fail the same
    /// way), unless the breaker is off or already open.
    pub fn trip(&mut self, key: &str, now: Timestamp, cfg: &BreakerConfig) -> Option<Transition> {
        let at_once = BreakerConfig { failures: cfg.failures.min(1), ..*cfg };
        self.on_failure(key, now, &at_once)
    }

    /// Forgets a probe that ended without an outcome (released at shutdown).
    pub fn on_release(&mut self, key: &str) {
        if self.probe.as_deref() == Some(key) {
            self.probe = None;
        }
    }

    fn open(&mut self, now: Timestamp, cooldown: Duration, reopened: bool) -> Transition {
        let until = now + cooldown;
        self.open_until = Some(until);
        self.cooldown_ms = Some(clock::millis(cooldown));
        self.probe = None;
        Transition::Opened { until, reopened }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            failures: 3,
            cooldown: Duration::from_secs(10),
            max_cooldown: Duration::from_secs(25),
        }
    }

    #[test]
    fn opens_after_n_consecutive_failures_only() {
        let mut b = BreakerState::default();
        assert_eq!(b.on_failure("a", at(0), &cfg()), None);
        assert_eq!(b.on_failure("b", at(0), &cfg()), None);
        assert_eq!(b.on_success("c"), None);
        assert_eq!(b.on_failure("d", at(0), &cfg()), None);
        assert_eq!(b.on_failure("e", at(0), &cfg()), None);
        assert_eq!(
            b.on_failure("f", at(100), &cfg()),
            Some(Transition::Opened { until: at(10_100), reopened: false })
        );
        assert_eq!(b.admit(at(5_000)), Admit::Open { until: at(10_100) });
    }

    #[test]
    fn one_probe_after_the_cooldown_closes_it_on_success() {
        let mut b = BreakerState::default();
        for k in ["a", "b", "c"] {
            b.on_failure(k, at(0), &cfg());
        }
        assert_eq!(b.admit(at(10_000)), Admit::Probe);
        b.probe = Some("p".into());
        assert_eq!(b.admit(at(10_001)), Admit::Probing);
        assert_eq!(b.on_success("p"), Some(Transition::Closed));
        assert_eq!(b.admit(at(10_002)), Admit::Closed);
        assert_eq!(b.failures, 0);
    }

    #[test]
    fn a_failed_probe_reopens_with_a_doubled_capped_cooldown() {
        let mut b = BreakerState::default();
        for k in ["a", "b", "c"] {
            b.on_failure(k, at(0), &cfg());
        }
        b.probe = Some("p".into());
        assert_eq!(
            b.on_failure("p", at(10_000), &cfg()),
            Some(Transition::Opened { until: at(30_000), reopened: true })
        );
        b.probe = Some("q".into());
        // 40 s doubled would pass the 25 s ceiling.
        assert_eq!(
            b.on_failure("q", at(30_000), &cfg()),
            Some(Transition::Opened { until: at(55_000), reopened: true })
        );
    }

    #[test]
    fn a_released_probe_lets_another_through() {
        let mut b =
            BreakerState { open_until: Some(at(0)), probe: Some("p".into()), ..Default::default() };
        b.on_release("p");
        assert_eq!(b.admit(at(1)), Admit::Probe);
    }

    #[test]
    fn a_trip_opens_it_at_once_unless_it_is_off() {
        let mut b = BreakerState::default();
        let opened = Some(Transition::Opened { until: at(10_000), reopened: false });
        assert_eq!(b.trip("a", at(0), &cfg()), opened);
        assert_eq!(b.trip("b", at(1), &cfg()), None, "already open");
        let mut b = BreakerState::default();
        assert_eq!(b.trip("a", at(0), &BreakerConfig { failures: 0, ..cfg() }), None);
    }

    #[test]
    fn zero_failures_turns_it_off() {
        let mut b = BreakerState::default();
        let off = BreakerConfig { failures: 0, ..cfg() };
        for _ in 0..100 {
            assert_eq!(b.on_failure("a", at(0), &off), None);
        }
        assert_eq!(b.admit(at(0)), Admit::Closed);
    }
}
