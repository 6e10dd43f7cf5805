//! The chaos checker's invariants read from PostgreSQL, for runners sharing one database, plus
//! a stricter look at the handler's completions: the shared checker reads SQLite only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::util::checker::History;
use crate::util::cli::Workdir;

/// The chaos agent (`util::checker::chaos_agent`) wrapped so that every attempt reaching its
/// end also appends `key<TAB>attempt` to completions.txt (O_APPEND, one write per line). The
/// agent's own effect stays idempotent; completions are not, which shows an attempt run twice
/// or a job run again after it was done.
pub fn agent(w: &Workdir) -> String {
    let inner = crate::util::checker::chaos_agent(w);
    w.script(
        "runners-agent.sh",
        &format!(
            "{inner} || exit $?\nprintf '%s\\t%s\\n' \"$NIGHTSHIFT_KEY\" \"$NIGHTSHIFT_ATTEMPT\" \
             >> completions.txt"
        ),
    )
    .display()
    .to_string()
}

/// Rows of a two-text-column query (key first), read on the test's own connection.
fn rows(w: &Workdir, sql: &str) -> BTreeMap<String, String> {
    let url = w.db().display().to_string();
    let mut client = url
        .parse::<postgres::Config>()
        .and_then(|c| c.connect(postgres::NoTls))
        .expect("connect to the test database");
    let rows = client.query(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// Lines of a tab-separated file, split in two at the first tab.
fn lines(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap_or((l, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Checks every invariant once the queue is drained; panics naming the first broken one.
/// Returns the numbers of done and dead-lettered jobs.
pub fn check(w: &Workdir, history: &History) -> (usize, usize) {
    let jobs = rows(w, "SELECT key, status || ' ' || attempts FROM jobs");
    let dead = rows(w, "SELECT key, reason || ' ' || attempts FROM dead_letter");
    let stuck: Vec<_> = jobs.iter().filter(|(_, s)| !s.starts_with("done ")).collect();
    assert!(stuck.is_empty(), "jobs not finished after the drain: {stuck:?}");
    // Every acknowledged enqueue ended once: done or dead-lettered, never both, never lost;
    // and nothing ended that no client enqueued.
    let both: Vec<_> = jobs.keys().filter(|k| dead.contains_key(*k)).collect();
    assert!(both.is_empty(), "done and dead-lettered: {both:?}");
    let ended: BTreeSet<&String> = jobs.keys().chain(dead.keys()).collect();
    let lost: Vec<_> = history.acked.iter().filter(|k| !ended.contains(k)).collect();
    assert!(lost.is_empty(), "acknowledged, then lost: {lost:?}");
    let known = |k: &&&String| history.acked.contains(**k) || history.unknown.contains(**k);
    let stray: Vec<_> = ended.iter().filter(|k| !known(k)).collect();
    assert!(stray.is_empty(), "never enqueued, yet in the tables: {stray:?}");
    // The agent's effect: one line per key, present for every done job.
    let mut effects: BTreeMap<String, usize> = BTreeMap::new();
    for (key, _) in lines(&w.path().join("effects.txt")) {
        *effects.entry(key).or_default() += 1;
    }
    for key in jobs.keys() {
        assert_eq!(effects.get(key).copied(), Some(1), "side effect of done job {key}");
    }
    for (key, n) in &effects {
        assert_eq!(*n, 1, "side effect of {key} applied {n} times");
    }
    // Completions: a killed runner's attempt may have completed in its handler before its
    // outcome was committed (at least once), but no attempt number completes twice, the
    // committed attempt (failures counted + 1) is among them, and none came after it.
    let mut completed: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for (key, attempt) in lines(&w.path().join("completions.txt")) {
        let attempt: u32 = attempt.parse().expect("completion line's attempt");
        assert!(
            completed.entry(key.clone()).or_default().insert(attempt),
            "{key}: attempt {attempt} completed twice"
        );
    }
    let attempts = |s: &str| s.rsplit(' ').next().unwrap().parse::<u32>().unwrap();
    for (key, status) in &jobs {
        let committed = attempts(status) + 1;
        let runs = completed.get(key).cloned().unwrap_or_default();
        assert!(
            runs.contains(&committed),
            "{key} done at attempt {committed}; completions {runs:?}"
        );
        assert_eq!(runs.last(), Some(&committed), "{key} ran again after attempt {committed}");
    }
    for (key, row) in &dead {
        let last = attempts(row);
        let late = completed.get(key).and_then(|r| r.last()).filter(|a| **a > last);
        assert!(late.is_none(), "{key} dead after attempt {last} but completed attempt {late:?}");
    }
    // The outbox: one dead-letter alert per dead letter, none for anything else.
    let alerts =
        rows(w, "SELECT key, count(*)::text FROM alerts WHERE kind = 'dead_letter' GROUP BY key");
    for key in dead.keys() {
        assert_eq!(alerts.get(key).map(String::as_str), Some("1"), "dead_letter alerts for {key}");
    }
    let extra: Vec<_> = alerts.keys().filter(|k| !dead.contains_key(*k)).collect();
    assert!(extra.is_empty(), "dead_letter alerts without a dead letter: {extra:?}");
    // `status` agrees with the tables.
    let status: serde_json::Value =
        serde_json::from_str(w.run(&["status", "--json"]).expect(0).stdout.trim()).unwrap();
    let count = |k: &str| status[k].as_u64().unwrap() as usize;
    assert_eq!((count("pending"), count("running"), count("done")), (0, 0, jobs.len()), "status");
    assert_eq!(count("dead"), dead.len(), "status dead");
    (jobs.len(), dead.len())
}
