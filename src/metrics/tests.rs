//! The rendering of a snapshot made by hand: names, values, escaping, cumulative buckets.

use nightshift_actors::{DURATION_BUCKETS_MS, QueueTally, Status, Tallies, Timestamp};

use super::{Runners, Snapshot, render};

fn snapshot() -> Snapshot {
    let mut durations = vec![0; DURATION_BUCKETS_MS.len() + 1];
    // Two jobs in the first bucket, one in the fourth, one past the last bound.
    (durations[0], durations[3], durations[DURATION_BUCKETS_MS.len()]) = (2, 1, 1);
    let queue = QueueTally {
        queue: "odd \"name\"\\".to_owned(),
        pending: 3,
        done: 4,
        dead: 1,
        failed_attempts: 5,
        durations,
        duration_sum_ms: 90_000_250,
        ..QueueTally::default()
    };
    let status = Status {
        oldest_pending_ms: Some(1_500),
        alerts_undelivered: 2,
        spend_today_micros: 1_250_000,
        cap_micros: Some(10_000_000),
        paused: true,
        breaker_failures: 3,
        ..Status::default()
    };
    Snapshot {
        tallies: Tallies { status, breaker_open: true, queues: vec![queue] },
        runners: Runners {
            alive: vec!["r1".to_owned(), "r2".to_owned()],
            last_heartbeat: Some(Timestamp::from_millis(1_700_000_000_500)),
        },
    }
}

#[test]
fn every_value_of_the_snapshot_is_rendered_under_its_name() {
    let text = render(&snapshot()).unwrap();
    let q = r#"queue="odd \"name\"\\""#;
    for line in [
        format!("nightshift_jobs{{{q},status=\"pending\"}} 3"),
        format!("nightshift_jobs{{{q},status=\"running\"}} 0"),
        format!("nightshift_jobs{{{q},status=\"done\"}} 4"),
        format!("nightshift_dead_letters{{{q}}} 1"),
        format!("nightshift_attempts_total{{{q}}} 9"),
        format!("nightshift_failures_total{{{q}}} 5"),
        "nightshift_oldest_pending_age_seconds 1.5".to_owned(),
        "nightshift_alerts_owed 2".to_owned(),
        "nightshift_spend_today_usd 1.25".to_owned(),
        "nightshift_daily_cap_usd 10.0".to_owned(),
        "nightshift_paused 1".to_owned(),
        "nightshift_breaker_open 1".to_owned(),
        "nightshift_breaker_failures 3".to_owned(),
        "nightshift_runners_alive 2".to_owned(),
        "nightshift_runner_last_heartbeat_timestamp_seconds 1700000000.5".to_owned(),
        "# TYPE nightshift_attempts_total counter".to_owned(),
        "# TYPE nightshift_job_duration_seconds histogram".to_owned(),
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
    }
    // The Prometheus text format, not OpenMetrics: no EOF marker, no UNIT lines.
    assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
}

#[test]
fn the_duration_histogram_is_cumulative_in_seconds() {
    let text = render(&snapshot()).unwrap();
    let bucket = |le: &str| {
        let prefix = "nightshift_job_duration_seconds_bucket{queue=";
        let line = text
            .lines()
            .find(|l| l.starts_with(prefix) && l.contains(&format!("le=\"{le}\"}}")))
            .unwrap_or_else(|| panic!("no bucket {le} in\n{text}"));
        line.rsplit(' ').next().unwrap().to_owned()
    };
    assert_eq!(
        [bucket("0.1"), bucket("0.5"), bucket("5"), bucket("14400"), bucket("+Inf")],
        ["2", "2", "3", "3", "4"]
    );
    assert!(text.contains("_count{queue=\"odd \\\"name\\\"\\\\\"} 4\n"), "{text}");
    assert!(text.contains("_sum{queue=\"odd \\\"name\\\"\\\\\"} 90000.25\n"), "{text}");
}

#[test]
fn what_is_not_known_is_left_out_rather_than_shown_as_zero() {
    let mut snap = snapshot();
    snap.tallies.status.cap_micros = None;
    snap.runners.last_heartbeat = None;
    let text = render(&snap).unwrap();
    assert!(!text.contains("nightshift_daily_cap_usd "), "{text}");
    assert!(!text.contains("heartbeat_timestamp_seconds "), "{text}");
}
