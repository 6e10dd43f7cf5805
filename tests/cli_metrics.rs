//! `status --prom`: Prometheus metrics that a strict text-format parser accepts, whose values
//! are the ones `status --json` shows, on both stores.

use std::time::Duration;

use serde_json::Value;

use crate::util::cli::{Workdir, signal, wait_exit, wait_until};
use crate::util::prom::{Exposition, parse};

const CONFIG: &str = "[retry]\nbase = \"20ms\"\ncap = \"100ms\"\n";

fn status_json(w: &Workdir) -> Value {
    serde_json::from_str(w.run(&["status", "--json"]).expect(0).stdout.trim()).unwrap()
}

fn prom(w: &Workdir) -> Exposition {
    let out = w.run(&["status", "--prom"]).expect(0);
    parse(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.stdout))
}

fn int(v: &Value, field: &str) -> f64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} in {v}")) as f64
}

/// Every queue's histogram: cumulative buckets never decrease, the +Inf bucket is the count,
/// and the count is that queue's done jobs.
fn assert_histograms_consistent(m: &Exposition, queues: &[&str]) {
    let name = "nightshift_job_duration_seconds";
    for q in queues {
        let buckets = m.matching(&format!("{name}_bucket"), &[("queue", q)]);
        let mut last = (f64::NEG_INFINITY, 0.0);
        for b in &buckets {
            let le: f64 = b.labels["le"].replace("+Inf", "inf").parse().unwrap();
            assert!(le > last.0 && b.value >= last.1, "{q}: buckets out of order: {buckets:?}");
            last = (le, b.value);
        }
        let count = m.value(&format!("{name}_count"), &[("queue", q)]);
        assert_eq!(last, (f64::INFINITY, count), "{q}: the +Inf bucket is the count");
        let done = m.value("nightshift_jobs", &[("queue", q), ("status", "done")]);
        assert_eq!(count, done, "{q}");
        assert!(m.value(&format!("{name}_sum"), &[("queue", q)]) >= 0.0);
    }
}

crate::both_stores! {
    #[test]
    fn status_prom_parses_and_matches_status_json(w: Workdir) {
    w.write("nightshift.toml", CONFIG);
    w.run(&["init"]).expect(0);
    // Every attempt costs; an attempt whose payload says so fails after its cost line.
    let agent = w.script(
        "agent.sh",
        "if grep -q fail; then echo '{\"cost_usd\": 0.10}'; exit 1; fi\n\
         echo '{\"cost_usd\": 0.25}'",
    );
    w.run(&["enqueue", "a", "{}"]).expect(0);
    w.run(&["enqueue", "--queue", "mail", "b", "{}"]).expect(0);
    w.run(&["enqueue", "--queue", "mail", "c", "{}"]).expect(0);
    w.run(&["enqueue", "--queue", "mail", "--max-attempts", "2", "boom", "{\"fail\":1}"])
        .expect(0);
    let mut run = w.cmd(&["run", "--once", "--workers", "1", "--", agent.to_str().unwrap()]);
    run.env("DAILY_CAP_USD", "5.00");
    let out = run.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    w.run(&["enqueue", "--delay", "1h", "later", "{}"]).expect(0);
    w.run(&["enqueue", "--queue", "mail", "waiting", "{}"]).expect(0);
    w.run(&["pause", "--reason", "metrics test"]).expect(0);

    let st = status_json(&w);
    let m = prom(&w);
    for status in ["pending", "running", "done"] {
        let total = m.sum("nightshift_jobs", &[("status", status)]);
        assert_eq!(total, int(&st, status), "{status}");
    }
    assert_eq!(m.value("nightshift_jobs", &[("queue", "mail"), ("status", "done")]), 2.0);
    assert_eq!(m.value("nightshift_jobs", &[("queue", "default"), ("status", "pending")]), 1.0);
    assert_eq!(m.sum("nightshift_dead_letters", &[]), int(&st, "dead"));
    assert_eq!(m.value("nightshift_dead_letters", &[("queue", "mail")]), 1.0);
    assert_eq!(m.value("nightshift_alerts_owed", &[]), int(&st, "alerts_undelivered"));
    // Four jobs ran: boom failed both its attempts, the three others succeeded at once.
    assert_eq!(m.value("nightshift_failures_total", &[("queue", "mail")]), 2.0);
    assert_eq!(m.value("nightshift_attempts_total", &[("queue", "mail")]), 4.0);
    assert_eq!(m.value("nightshift_attempts_total", &[("queue", "default")]), 1.0);
    // $0.25 for each of three successes and $0.10 for each of two failures.
    let spend = m.value("nightshift_spend_today_usd", &[]);
    assert_eq!((spend * 1e6).round(), int(&st, "spend_today_micros"));
    assert_eq!(int(&st, "spend_today_micros"), 950_000.0);
    let cap = m.value("nightshift_daily_cap_usd", &[]);
    assert_eq!(((cap * 1e6).round(), cap), (int(&st, "cap_micros"), 5.0));
    assert_eq!(m.value("nightshift_paused", &[]), 1.0);
    assert_eq!(st["paused"], true);
    assert_eq!(m.value("nightshift_breaker_open", &[]), 0.0);
    assert_eq!(m.value("nightshift_breaker_failures", &[]), int(&st, "breaker_failures"));
    assert_eq!((m.value("nightshift_runners_alive", &[]), &st["runner"]), (0.0, &Value::Null));
    // `waiting` fell due before either read; the metrics were read after the JSON.
    let age = m.value("nightshift_oldest_pending_age_seconds", &[]);
    let json_age = int(&st, "oldest_pending_ms") / 1000.0;
    assert!(age >= json_age && age < json_age + 60.0, "{age} vs {json_age}");
    assert_histograms_consistent(&m, &["default", "mail"]);
    assert_eq!(m.sum("nightshift_job_duration_seconds_count", &[]), int(&st, "done"));
    }
}

crate::both_stores! {
    #[test]
    fn a_running_runner_counts_as_alive_and_a_stopped_one_does_not(w: Workdir) {
    w.run(&["init"]).expect(0);
    let empty = prom(&w);
    assert_eq!(empty.value("nightshift_runners_alive", &[]), 0.0);
    // No job ever: the labelled families are declared with no sample, no cap is absent.
    assert!(empty.matching("nightshift_jobs", &[]).is_empty());
    assert_eq!(empty.families["nightshift_jobs"].kind, "gauge");
    assert!(empty.get("nightshift_daily_cap_usd", &[]).is_none());

    let mut runner = w.spawn(&["run", "--", "true"]);
    wait_until(Duration::from_secs(20), "the runner is up", || !status_json(&w)["runner"].is_null());
    let m = prom(&w);
    assert_eq!(m.value("nightshift_runners_alive", &[]), 1.0);
    let heartbeat = m.get("nightshift_runner_last_heartbeat_timestamp_seconds", &[]);
    // PostgreSQL records heartbeats in `runners`; a SQLite runner has its lock file instead.
    assert_eq!(heartbeat.is_some(), w.is_postgres(), "{heartbeat:?}");
    if let Some(at) = heartbeat {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        assert!((now.as_secs_f64() - at).abs() < 120.0, "{at}");
    }
    signal(&runner, 15);
    assert!(wait_exit(&mut runner, Duration::from_secs(20)).success());
    assert_eq!(prom(&w).value("nightshift_runners_alive", &[]), 0.0);
    }
}

#[test]
fn the_parser_refuses_what_the_text_format_does_not_allow() {
    let family = "# HELP x_total X.\n# TYPE x_total counter\n";
    assert!(parse(&format!("{family}x_total{{queue=\"a\\\"b\"}} 1\n")).is_ok());
    for bad in [
        "x_total 1\n".to_owned(),                          // no HELP or TYPE
        format!("{family}x_total 1"),                      // no final newline
        format!("{family}x_total 1 1700000000\n"),         // a timestamp
        format!("{family}x_total{{a=\"1\",}} 1\n"),        // a trailing comma
        format!("{family}x_total{{a=\"1\" b=\"2\"}} 1\n"), // no comma
        format!("{family}x_total{{a=\"1}} 1\n"),           // unclosed
        format!("{family}x_total{{a=\"\\t\"}} 1\n"),       // a bad escape
        format!("{family}x_total{{1a=\"1\"}} 1\n"),        // a bad label name
        format!("{family}x_total one\n"),                  // not a number
        format!("{family}x_total 1\nx_total 2\n"),         // twice
        format!("{family}x_total 1\n# EOF\n"),             // OpenMetrics
        format!("{family}\nx_total 1\n"),                  // a blank line
        "# TYPE x_total counter\nx_total 1\n".to_owned(),  // no HELP
        "# HELP h H.\n# TYPE h histogram\nh_bucket 1\n".to_owned(), // no le
        "# HELP h H.\n# TYPE h histogram\nh 1\n".to_owned(), // no suffix
    ] {
        assert!(parse(&bad).is_err(), "accepted: {bad:?}");
    }
    // A family's samples stay together.
    let split =
        format!("{family}x_total 1\n# HELP y Y.\n# TYPE y gauge\ny 1\nx_total{{a=\"b\"}} 1\n");
    assert!(parse(&split).is_err());
}
