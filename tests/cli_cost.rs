//! The cost protocol through the binary: a cost line anywhere in stdout counts against the
//! daily cap, one attempt's cost is bounded, and a ledger summing past `i64::MAX` still reads.

use nightshift_actors::clock::utc_day;
use nightshift_actors::{Clock, SystemClock};
use serde_json::Value;

use crate::util::cli::{Run, Workdir};

fn json(run: Run) -> Value {
    serde_json::from_str(run.expect(0).stdout.trim()).expect("JSON output")
}

/// `run --once` with one worker under `cap` (dollars).
fn run_once_capped(w: &Workdir, agent: &str, cap: &str) -> std::process::Output {
    let mut run = w.cmd(&["run", "--once", "--workers", "1", "--", agent]);
    run.env("DAILY_CAP_USD", cap);
    run.output().unwrap()
}

crate::both_stores! {
    #[test]
    fn a_cost_line_after_64_kib_of_stdout_counts_against_the_cap(w: Workdir) {
    w.run(&["init"]).expect(0);
    // About 180 KiB of transcript, then the cost: far past the 64 KiB kept as the result.
    let agent = w.script(
        "chatty.sh",
        "yes 'a long transcript line' | head -n 8000\necho '{\"cost_usd\": 0.40}'",
    );
    for k in ["a", "b", "c", "d", "e"] {
        w.run(&["enqueue", k, "{}"]).expect(0);
    }
    let out = run_once_capped(&w, agent.to_str().unwrap(), "1.00");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // One worker: $0.40 and $0.80 leave room under $1.00, the third brings the day to $1.20.
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 3);
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'pending'"), 2);
    let spend = json(w.run(&["spend", "--json"]));
    assert_eq!(
        (spend["days"][0]["micros"].as_i64(), spend["days"][0]["attempts"].as_i64()),
        (Some(1_200_000), Some(3)),
        "{spend}"
    );

    // The cap keeps holding on a later run.
    let again = run_once_capped(&w, agent.to_str().unwrap(), "1.00");
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 3);
    }
}

crate::both_stores! {
    #[test]
    fn a_cost_above_the_per_attempt_maximum_is_logged_and_charged_as_the_maximum(w: Workdir) {
    w.run(&["init"]).expect(0);
    let agent = w.script("huge.sh", "echo '{\"cost_usd\": 1e308}'\necho '{\"cost_usd\": 1e308}'");
    for k in ["first", "second"] {
        w.run(&["enqueue", k, "{}"]).expect(0);
    }
    let run = w.run(&["run", "--once", "--", agent.to_str().unwrap()]).expect(0);
    let bad: Vec<Value> = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "bad_cost")
        .collect();
    assert_eq!(bad.len(), 2, "one bad_cost per attempt:\n{}", run.stdout);
    assert!(bad.iter().all(|e| e["level"] == "warn" && e["charged_usd"] == 1000.0), "{bad:?}");
    assert_eq!((bad[0]["key"].as_str(), bad[1]["key"].as_str()), (Some("first"), Some("second")));
    assert_eq!(w.count("SELECT count(*) FROM spend WHERE micros = 1000000000"), 2);

    let spend = json(w.run(&["spend", "--json"]));
    assert_eq!(spend["days"][0]["micros"].as_i64(), Some(2_000_000_000), "{spend}");
    assert_eq!(json(w.run(&["status", "--json"]))["spend_today_micros"], 2_000_000_000i64);
    }
}

crate::both_stores! {
    #[test]
    fn a_ledger_summing_past_i64_max_still_reads_and_holds_the_cap(w: Workdir) {
    w.run(&["init"]).expect(0);
    let now = SystemClock.now();
    // An odd ledger, as an old version or a hand edit could leave it.
    for attempt in 1..=3 {
        w.execute(&format!(
            "INSERT INTO spend (day, key, attempt, micros, at) VALUES ('{}', 'odd', {attempt}, {}, {now})",
            utc_day(now),
            i64::MAX
        ));
    }
    w.run(&["enqueue", "waiting", "{}"]).expect(0);

    let st = json(w.run(&["status", "--json"]));
    assert_eq!(st["spend_today_micros"], i64::MAX, "{st}");
    let spend = json(w.run(&["spend", "--json"]));
    assert_eq!(spend["days"][0]["micros"], i64::MAX, "{spend}");
    w.run(&["status"]).expect(0);
    w.run(&["spend"]).expect(0);

    let agent = w.script("agent.sh", "touch ran");
    let out = run_once_capped(&w, agent.to_str().unwrap(), "1.00");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!w.path().join("ran").exists(), "the cap let a job run");
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'pending'"), 1);
    }
}
