//! A Jepsen-style checker: a scenario records which enqueues were acknowledged, then, once the
//! queue is drained, `check` decides whether nothing was lost, duplicated or left stuck.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::cli::Workdir;
use super::store;

/// What a scenario's clients were told.
#[derive(Debug, Default)]
pub struct History {
    /// Keys whose enqueue was acknowledged (exit 0).
    pub acked: BTreeSet<String>,
    /// Keys whose enqueue outcome is unknown (the client died or timed out).
    pub unknown: BTreeSet<String>,
}

/// A small deterministic generator (xorshift), seeded so a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `NIGHTSHIFT_CHAOS_SEED` when set, otherwise from the clock; prints the seed.
    pub fn from_env(name: &str) -> Self {
        let seed = std::env::var("NIGHTSHIFT_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("{name}: seed {seed} (rerun with NIGHTSHIFT_CHAOS_SEED={seed})");
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Checks every invariant after the queue was drained; panics naming the first broken one.
pub fn check(w: &Workdir, history: &History, effects: &Path) {
    let effects = std::fs::read_to_string(effects).unwrap_or_default();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for line in effects.lines() {
        *seen.entry(line.split('\t').next().unwrap().to_owned()).or_default() += 1;
    }
    let (jobs, dead) = check_db(&w.db(), history, &seen);
    let status: serde_json::Value =
        serde_json::from_str(w.run(&["status", "--json"]).expect(0).stdout.trim()).unwrap();
    let counted =
        ["pending", "running", "done"].iter().map(|k| status[*k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(counted as usize, jobs, "status counts add up to the jobs table");
    assert_eq!(status["dead"].as_u64().unwrap() as usize, dead);
}

/// The database-level invariants, given how often each key's side effect happened, on either
/// store (`db` is the SQLite file or the PostgreSQL URL). Returns the number of rows in `jobs`
/// and in `dead_letter`.
pub fn check_db(db: &Path, history: &History, seen: &BTreeMap<String, usize>) -> (usize, usize) {
    if store::url(db).is_none() {
        let ok = store::rows(db, "PRAGMA quick_check");
        assert_eq!(ok, [["ok"]], "quick_check");
    }
    let rows = |sql: &str| -> BTreeMap<String, String> {
        store::rows(db, sql).into_iter().map(|r| (r[0].clone(), r[1].clone())).collect()
    };
    let jobs = rows("SELECT key, status FROM jobs");
    let dead = rows("SELECT key, reason FROM dead_letter");
    let stuck: Vec<_> = jobs.iter().filter(|(_, s)| *s != "done").collect();
    assert!(stuck.is_empty(), "jobs not finished after the drain: {stuck:?}");
    for key in &history.acked {
        let (in_jobs, in_dead) = (jobs.contains_key(key), dead.contains_key(key));
        assert!(in_jobs ^ in_dead, "acknowledged {key}: done={in_jobs} dead_lettered={in_dead}");
    }
    for key in jobs.keys().chain(dead.keys()) {
        assert!(
            history.acked.contains(key) || history.unknown.contains(key),
            "{key} appeared but was never enqueued"
        );
    }
    for key in jobs.keys() {
        let n = seen.get(key.as_str()).copied().unwrap_or(0);
        assert_eq!(n, 1, "side effect of done job {key}");
    }
    for (key, n) in seen {
        assert_eq!(*n, 1, "side effect of {key} applied {n} times");
    }
    let alerts = rows(
        "SELECT key, CAST(count(*) AS TEXT) FROM alerts WHERE kind = 'dead_letter' GROUP BY key",
    );
    for key in dead.keys() {
        let owed = alerts.get(key).map(String::as_str);
        assert_eq!(owed, Some("1"), "dead_letter alerts owed for {key}");
    }
    (jobs.len(), dead.len())
}

/// The chaos handler: its fate comes from the key's prefix. `good-` succeeds, `flaky-` fails its
/// first attempt, `poison-` always fails, `slow-` takes a while. Its side effect is idempotent
/// on NIGHTSHIFT_KEY: one line per key in effects.txt, however often it runs.
pub fn chaos_agent(w: &Workdir) -> String {
    w.script(
        "chaos-agent.sh",
        r#"cat > /dev/null
case "$NIGHTSHIFT_KEY" in
  poison-*) echo "poisoned" >&2; exit 1 ;;
  flaky-*) if [ "$NIGHTSHIFT_ATTEMPT" = 1 ]; then echo "flaked" >&2; exit 1; fi ;;
  slow-*) sleep 0.3 ;;
esac
flock effects.lock sh -c 'grep -q "^$NIGHTSHIFT_KEY	" effects.txt 2>/dev/null || printf "%s\tdone\n" "$NIGHTSHIFT_KEY" >> effects.txt'"#,
    )
    .display()
    .to_string()
}
