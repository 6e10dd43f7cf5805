//! How long a Flush waits for the rest of a burst (SQLite at synchronous=full only).

use std::time::{Duration, Instant};

/// When to commit a batch. Callers answered by one commit come back over the next tens of
/// microseconds (their tasks wake, each sends its next write); flushing at the first of them
/// splits them over two commits, each paying a sync to disk. So at synchronous=full, when the
/// last batch had several writes (callers are concurrent), the Flush waits a little (a quarter
/// of the last commit's time, at most [`LINGER_MOST`]) for the rest to arrive. A lone write (an
/// idle runner's enqueue, the latency the pickup figure measures) never waits, and at normal,
/// where a commit syncs nothing, waiting only takes the CPU from the callers: measured with 32
/// producers, waiting raised full's enqueue rate by a tenth and cut normal's by as much.
#[derive(Debug, Default)]
pub(crate) struct Pace {
    /// Whether commits sync to disk (synchronous=full), the only case worth waiting for.
    pub(crate) syncs: bool,
    /// Writes in the last batch.
    last_ops: usize,
    /// How long the last commit took.
    last_commit: Duration,
    /// When the Flush now pending first came due.
    since: Option<Instant>,
}

impl Pace {
    /// A pace for a Store whose commits sync to disk (`syncs`) or not.
    pub(crate) fn new(syncs: bool) -> Self {
        Pace { syncs, ..Pace::default() }
    }
}

/// The longest a Flush waits for more writes.
const LINGER_MOST: Duration = Duration::from_micros(200);

impl Pace {
    /// Whether the Flush due now should wait a little longer.
    pub(crate) fn linger(&mut self) -> bool {
        if !self.syncs || self.last_ops < 2 {
            return false;
        }
        let since = *self.since.get_or_insert_with(Instant::now);
        since.elapsed() < (self.last_commit / 4).min(LINGER_MOST)
    }

    pub(crate) fn committed(&mut self, ops: usize, took: Duration) {
        self.last_ops = ops;
        self.last_commit = took;
        self.since = None;
    }
}

#[cfg(test)]
mod tests {
    /// A lone write is never held back; after a batch of several, a Flush waits a little for the
    /// callers the last commit answered, never longer than a quarter of that commit or the bound.
    #[test]
    fn a_flush_lingers_only_after_concurrent_writes_and_only_briefly() {
        use std::time::{Duration, Instant};

        use super::{LINGER_MOST, Pace};
        let mut normal = Pace::default();
        normal.committed(16, Duration::from_millis(5));
        assert!(!normal.linger(), "commits that sync nothing are not worth a wait");
        let mut pace = Pace { syncs: true, ..Pace::default() };
        assert!(!pace.linger(), "nothing committed yet: no reason to wait");
        pace.committed(1, Duration::from_millis(5));
        assert!(!pace.linger(), "a lone write goes at once");
        pace.committed(16, Duration::from_millis(5));
        assert!(pace.linger(), "callers were concurrent: wait for the rest");
        pace.since = Some(Instant::now() - LINGER_MOST);
        assert!(!pace.linger(), "never past the bound");
        pace.committed(16, Duration::from_micros(40));
        pace.since = Some(Instant::now() - Duration::from_micros(10));
        assert!(!pace.linger(), "never past a quarter of the last commit");
    }
}
