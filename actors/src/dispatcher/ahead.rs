//! How many jobs to claim ahead of free workers. Claiming ahead lets a small pool finish more
//! than one job per worker per commit, but a job claimed ahead waits for a worker holding its
//! lease (a crash counts an interrupted attempt for it, and a more urgent job enqueued meanwhile
//! waits behind it). So it is done only while jobs finish faster than a round commits, and
//! only a few times as many as finished during the last round (see [`Ahead::round_took`]):
//! for jobs that take longer than a commit (an LLM call), or while attempts fail, nothing is
//! claimed ahead. Under a daily cap nothing is claimed ahead either: the cap's overshoot stays
//! at most one job per worker, as README promises.

use std::time::Duration;

use crate::config::EngineConfig;

/// The most jobs ever claimed ahead.
const MOST: usize = 256;

#[derive(Debug)]
pub(super) struct Ahead {
    /// Attempts that ended, faster than a round, since the last round's answer.
    short: usize,
    /// Whether one that took longer than a round ended meanwhile.
    slow: bool,
    /// How long the last round took.
    round: Duration,
    target: usize,
    most: usize,
}

impl Ahead {
    pub(super) fn new(config: &EngineConfig) -> Self {
        let most = if config.daily_cap_micros.is_some() { 0 } else { MOST.max(config.workers) };
        Self { short: 0, slow: false, round: Duration::ZERO, target: 0, most }
    }

    /// An attempt that ran for `took` ended, a success when `ok`. A failure stops claiming
    /// ahead like a slow job does: failing jobs claimed ahead would run on against an upstream
    /// the breaker is about to shut out.
    pub(super) fn finished(&mut self, took: Option<Duration>, ok: bool) {
        match took {
            Some(took) if ok && took <= self.round => self.short += 1,
            Some(_) => self.slow = true,
            None => {}
        }
    }

    /// A round was answered after `took`: the target for the next claims. Four times what
    /// finished during the last round: a round starts holding the jobs the last one claimed,
    /// which the workers run while it commits, so what it claims must last through the round
    /// after, and rounds vary in length. With less, a small pool waits on commits: measured
    /// with no-op jobs, twice drained 4 workers at 0.8 of 32, four times at 1.0.
    pub(super) fn round_took(&mut self, took: Duration) {
        self.round = took;
        self.target = if self.slow { 0 } else { (4 * self.short).min(self.most) };
        self.short = 0;
        self.slow = false;
    }

    /// Jobs to hold claimed beyond the free workers.
    pub(super) fn target(&self) -> usize {
        self.target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn ahead(workers: usize) -> Ahead {
        let mut config = EngineConfig::new("unused.db");
        config.workers = workers;
        Ahead::new(&config)
    }

    #[test]
    fn jobs_faster_than_a_round_are_claimed_ahead_four_times_as_many_as_finished() {
        let mut a = ahead(4);
        a.round_took(2 * MS);
        for _ in 0..12 {
            a.finished(Some(Duration::ZERO), true);
        }
        a.round_took(2 * MS);
        assert_eq!(a.target(), 48);
        a.round_took(2 * MS);
        assert_eq!(a.target(), 0, "nothing finished during the last round");
    }

    #[test]
    fn one_slow_job_stops_claiming_ahead() {
        let mut a = ahead(4);
        a.round_took(2 * MS);
        a.finished(Some(Duration::ZERO), true);
        a.finished(Some(Duration::from_secs(30)), true);
        a.round_took(2 * MS);
        assert_eq!(a.target(), 0);
    }

    #[test]
    fn one_failure_stops_claiming_ahead() {
        let mut a = ahead(4);
        a.round_took(2 * MS);
        a.finished(Some(Duration::ZERO), true);
        a.finished(Some(Duration::ZERO), false);
        a.round_took(2 * MS);
        assert_eq!(a.target(), 0);
    }

    #[test]
    fn the_target_is_bounded() {
        let mut a = ahead(4);
        a.round_took(MS);
        for _ in 0..10_000 {
            a.finished(Some(Duration::ZERO), true);
        }
        a.round_took(MS);
        assert_eq!(a.target(), MOST);
        assert_eq!(ahead(1024).most, 1024, "never fewer than the workers");
    }

    #[test]
    fn nothing_is_claimed_ahead_under_a_daily_cap() {
        let mut config = EngineConfig::new("unused.db");
        config.daily_cap_micros = Some(1_000_000);
        let mut a = Ahead::new(&config);
        a.round_took(MS);
        a.finished(Some(Duration::ZERO), true);
        a.round_took(MS);
        assert_eq!(a.target(), 0);
    }

    #[test]
    fn attempts_that_never_ran_do_not_count() {
        let mut a = ahead(4);
        a.round_took(MS);
        a.finished(None, true);
        a.round_took(MS);
        assert_eq!(a.target(), 0);
    }
}
