//! The DeadLetter actor's decisions about dead-letter alerts, with no I/O: how long each waits
//! (`group_wait`), and whether the ones whose wait is over go out each alone or, in a storm,
//! folded with every alert still waiting into one digest.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::clock::Timestamp;

/// Dead-letter alerts per minute sent one by one; past that the rest are folded into digests.
pub(crate) const STORM: usize = 10;
const MINUTE: Duration = Duration::from_secs(60);

/// How a set of held alerts (outbox row ids, oldest first) goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Release {
    /// Each as a message of its own.
    Alone(Vec<i64>),
    /// All in one digest naming every key.
    Digest(Vec<i64>),
}

impl Release {
    pub(crate) fn ids(&self) -> &[i64] {
        match self {
            Release::Alone(ids) | Release::Digest(ids) => ids,
        }
    }
}

/// Whether every held alert goes now, group_wait or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Only those whose group_wait is over.
    Waited,
    /// All of them (the process is about to exit).
    All,
}

/// The alerts held and the singles sent lately.
#[derive(Debug)]
pub(crate) struct Grouping {
    group_wait: Duration,
    /// Held alerts by outbox row id, with when each one's group_wait is over.
    waiting: BTreeMap<i64, Timestamp>,
    /// When each single released in the last minute went, oldest first.
    recent: VecDeque<Timestamp>,
}

impl Grouping {
    pub(crate) fn new(group_wait: Duration) -> Self {
        Self { group_wait, waiting: BTreeMap::new(), recent: VecDeque::new() }
    }

    /// Holds the alert of a job buried at `buried`; an alert already held is left as it is.
    pub(crate) fn hold(&mut self, id: i64, buried: Timestamp) {
        self.waiting.entry(id).or_insert(buried + self.group_wait);
    }

    /// When the earliest group_wait is over.
    pub(crate) fn next(&self) -> Option<Timestamp> {
        self.waiting.values().min().copied()
    }

    /// How many alerts are held.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.waiting.len()
    }

    /// What goes out at `now`, forgotten here once returned (the caller writes it). A storm is
    /// more than [`STORM`] dead letters within a minute, counting the singles already sent:
    /// then every held alert, waited or not, goes out in one digest; otherwise those whose
    /// group_wait is over go out alone.
    pub(crate) fn decide(&mut self, now: Timestamp, due: Due) -> Option<Release> {
        while self.recent.front().is_some_and(|t| now - *t >= MINUTE) {
            self.recent.pop_front();
        }
        let ready: Vec<i64> = self
            .waiting
            .iter()
            .filter(|(_, at)| due == Due::All || **at <= now)
            .map(|(id, _)| *id)
            .collect();
        if ready.is_empty() {
            return None;
        }
        let all = self.waiting.len();
        if all > 1 && all + self.recent.len() > STORM {
            let ids = std::mem::take(&mut self.waiting).into_keys().collect();
            return Some(Release::Digest(ids));
        }
        for id in &ready {
            self.waiting.remove(id);
            self.recent.push_back(now);
        }
        Some(Release::Alone(ready))
    }

    /// Takes back a release whose write failed, so the decision is made again at `retry_at`.
    pub(crate) fn undo(&mut self, release: &Release, retry_at: Timestamp) {
        for id in release.ids() {
            self.waiting.insert(*id, retry_at);
        }
        if let Release::Alone(ids) = release {
            let keep = self.recent.len().saturating_sub(ids.len());
            self.recent.truncate(keep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(2);

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn an_alert_waits_out_its_group_wait_then_goes_alone() {
        let mut g = Grouping::new(WAIT);
        g.hold(1, at(1_000));
        assert_eq!(g.next(), Some(at(3_000)));
        assert_eq!(g.decide(at(2_999), Due::Waited), None);
        assert_eq!(g.decide(at(3_000), Due::Waited), Some(Release::Alone(vec![1])));
        assert_eq!((g.held(), g.next()), (0, None));
    }

    #[test]
    fn eleven_in_a_burst_are_one_digest_including_those_still_waiting() {
        let mut g = Grouping::new(WAIT);
        for id in 1..=11 {
            g.hold(id, at(1_000 + id * 10));
        }
        let digest = g.decide(at(3_010), Due::Waited);
        assert_eq!(digest, Some(Release::Digest((1..=11).collect())));
        assert_eq!(g.held(), 0);
    }

    #[test]
    fn ten_singles_in_a_minute_fold_the_next_two_into_a_digest() {
        let mut g = Grouping::new(WAIT);
        for id in 1..=9 {
            g.hold(id, at(id * 1_000));
            assert_eq!(
                g.decide(at(id * 1_000 + 2_000), Due::Waited),
                Some(Release::Alone(vec![id]))
            );
        }
        // The tenth alone still fits: 1 + 9 recent is not more than ten.
        g.hold(10, at(10_000));
        assert_eq!(g.decide(at(12_000), Due::Waited), Some(Release::Alone(vec![10])));
        g.hold(11, at(13_000));
        g.hold(12, at(13_000));
        assert_eq!(g.decide(at(15_000), Due::Waited), Some(Release::Digest(vec![11, 12])));
        // A minute after the singles, one alone is alone again.
        g.hold(13, at(80_000));
        assert_eq!(g.decide(at(82_000), Due::Waited), Some(Release::Alone(vec![13])));
    }

    #[test]
    fn an_exit_sends_every_held_alert_without_waiting() {
        let mut g = Grouping::new(WAIT);
        g.hold(1, at(1_000));
        g.hold(2, at(1_500));
        assert_eq!(g.decide(at(1_600), Due::All), Some(Release::Alone(vec![1, 2])));
    }

    #[test]
    fn a_release_that_was_not_written_is_decided_again() {
        let mut g = Grouping::new(WAIT);
        g.hold(1, at(0));
        let release = g.decide(at(2_000), Due::Waited).unwrap();
        g.undo(&release, at(2_000));
        assert_eq!(g.decide(at(2_000), Due::Waited), Some(Release::Alone(vec![1])));
        // Held twice (the message and the reload after a restart): one alert.
        g.hold(5, at(0));
        g.hold(5, at(0));
        assert_eq!(g.held(), 1);
    }
}
