//! `nightshift bench` through the built binary, on a few jobs: the shape of its JSON (flat for
//! one synchronous level, one object per level with `--compare-sync`), its text table, and the
//! refusal of two levels asked at once. Figures are checked to be there and positive, never
//! against a time: the machines these run on are shared.

use serde_json::Value;

use crate::util::cli::Workdir;

/// Every figure one level reports; all are positive numbers.
const FIGURES: &[&str] = &[
    "jobs_per_s",
    "enqueue_per_s",
    "drain_per_s",
    "raw_batch100_jobs_per_s",
    "vs_raw",
    "drain_4_per_s",
    "drain_32_per_s",
    "drain_4_vs_32",
    "pickup_p50_ms",
    "pickup_p99_ms",
    "pickup_samples",
    "pickup_other_p50_ms",
    "pickup_other_p99_ms",
    "pickup_other_samples",
    "peak_rss_kb",
    "rss_end_kb",
];

/// Checks one level's object: every figure, the run's parameters, and the orderings that hold
/// by definition (a p99 is never below its p50, the peak never below the current size).
fn check_level(v: &Value, synchronous: &str, jobs: u64, workers: u64) {
    for key in FIGURES {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key} missing or not positive in {v}");
    }
    assert!(v["pickup_p99_ms"].as_f64() >= v["pickup_p50_ms"].as_f64(), "{v}");
    assert!(v["pickup_other_p99_ms"].as_f64() >= v["pickup_other_p50_ms"].as_f64(), "{v}");
    assert!(v["peak_rss_kb"].as_u64() >= v["rss_end_kb"].as_u64(), "{v}");
    assert_eq!(v["synchronous"], synchronous, "{v}");
    assert_eq!(v["jobs"], jobs, "{v}");
    assert_eq!(v["workers"], workers, "{v}");
    assert_eq!(v["rounds"], 3, "{v}");
}

// SQLite only: bench measures the engine and raw rusqlite on its own SQLite files.
#[test]
fn bench_reports_every_figure_as_json() {
    let w = Workdir::new();
    let out = w
        .run(&["bench", "--jobs", "200", "--workers", "4", "--synchronous", "normal", "--json"])
        .expect(0);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    check_level(&v, "normal", 200, 4);
}

// SQLite only: bench measures the engine and raw rusqlite on its own SQLite files.
#[test]
fn bench_compare_sync_reports_full_and_normal_side_by_side() {
    let w = Workdir::new();
    let out = w.run(&["bench", "--jobs", "200", "--compare-sync", "--json"]).expect(0);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let levels: Vec<&String> = v.as_object().expect("an object").keys().collect();
    assert_eq!(levels, ["full", "normal"], "{v}");
    check_level(&v["full"], "full", 200, 32);
    check_level(&v["normal"], "normal", 200, 32);
}

// SQLite only: bench measures the engine and raw rusqlite on its own SQLite files.
#[test]
fn bench_prints_every_figure_in_a_table() {
    let w = Workdir::new();
    let out = w.run(&["bench", "--jobs", "20", "--compare-sync"]).expect(0).stdout;
    let header = out.lines().find(|l| l.contains("synchronous=")).expect("a header row");
    assert!(header.contains("synchronous=full") && header.contains("synchronous=normal"), "{out}");
    for label in [
        "enqueue, 32 producers (jobs/s)",
        "drain, 32 workers (jobs/s)",
        "end to end (jobs/s)",
        "raw rusqlite lifecycle, tx of 100 (jobs/s)",
        "end to end / raw",
        "drain, 4 workers (jobs/s)",
        "drain 4 / drain 32 workers",
        "pickup p50 / p99, in process (ms)",
        "pickup p50 / p99, other connection (ms)",
        "peak RSS (KiB)",
        "RSS at end (KiB)",
    ] {
        let row = out.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| {
            panic!("no {label:?} row in\n{out}");
        });
        // One figure per level: the numbers after the label, two per pickup cell.
        let numbers: Vec<f64> = row[row.find(label).unwrap() + label.len()..]
            .split_whitespace()
            .filter(|t| *t != "/")
            .map(|t| t.parse().unwrap_or_else(|_| panic!("{t:?} in {row:?} is not a number")))
            .collect();
        let expected = if label.starts_with("pickup") { 4 } else { 2 };
        assert_eq!(numbers.len(), expected, "{row}");
        assert!(numbers.iter().all(|x| *x > 0.0), "{row}");
    }
}

// SQLite only: bench measures the engine and raw rusqlite on its own SQLite files.
#[test]
fn bench_refuses_compare_sync_with_one_level() {
    let w = Workdir::new();
    let refused = w.run(&["bench", "--compare-sync", "--synchronous", "normal"]).expect(2);
    assert!(
        refused.stderr.contains("--compare-sync") && refused.stderr.contains("--synchronous"),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
}
