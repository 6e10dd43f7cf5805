//! Snoozes, failure classes and the ledger's model and tokens through the binary: a command
//! handler's exit 75 and its `retry_after_s`, `error_class`, `model`, `tokens_in` and
//! `tokens_out` lines, and `spend --by`.

use serde_json::Value;

use crate::util::cli::Run;

/// The JSON events of a run's stdout.
fn events(run: &Run) -> Vec<Value> {
    run.stdout.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).collect()
}

fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

crate::both_stores! {
    #[test]
    fn exit_75_with_retry_after_s_snoozes_the_job_as_the_same_attempt(w: Workdir) {
    w.run(&["init"]).expect(0);
    let agent = w.script(
        "agent.sh",
        "echo \"$NIGHTSHIFT_ATTEMPT\" >> attempts.txt\n\
         if [ ! -e snoozed ]; then touch snoozed; echo '{\"retry_after_s\": 1}'; exit 75; fi\n\
         echo done",
    );
    w.run(&["enqueue", "sleepy", "{}"]).expect(0);
    let run = w.run(&["run", "--once", "--wait", "20s", "--", agent.to_str().unwrap()]).expect(0);
    let events = events(&run);
    let snoozed = named(&events, "job_snoozed");
    assert_eq!(snoozed.len(), 1, "{}", run.stdout);
    assert_eq!((snoozed[0]["key"].as_str(), snoozed[0]["delay_ms"].as_u64()), (Some("sleepy"), Some(1000)));
    assert_eq!(snoozed[0]["snoozes"], 1);
    assert!(named(&events, "job_failed").is_empty(), "a snooze is not a failure");
    let attempts = std::fs::read_to_string(w.path().join("attempts.txt")).unwrap();
    assert_eq!(attempts, "1\n1\n", "NIGHTSHIFT_ATTEMPT stays the same after a snooze");
    assert_eq!(w.text("SELECT status FROM jobs WHERE key = 'sleepy'"), "done");
    assert_eq!(w.count("SELECT attempts FROM jobs WHERE key = 'sleepy'"), 0);
    let show = w.run(&["jobs", "show", "sleepy"]).expect(0).stdout;
    assert!(show.contains("snoozes       1"), "{show}");
    let json: Value =
        serde_json::from_str(&w.run(&["jobs", "show", "sleepy", "--json"]).expect(0).stdout).unwrap();
    assert_eq!(json["snoozes"], 1);
    }
}

crate::both_stores! {
    #[test]
    fn exit_75_alone_snoozes_for_the_backoff_of_the_current_attempt(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", "[retry]\nbase = \"400ms\"\ncap = \"2s\"\n");
    let agent = w.script("agent.sh", "if [ ! -e snoozed ]; then touch snoozed; exit 75; fi");
    w.run(&["enqueue", "tempfail", "{}"]).expect(0);
    let run = w.run(&["run", "--once", "--wait", "20s", "--", agent.to_str().unwrap()]).expect(0);
    let events = events(&run);
    let snoozed = named(&events, "job_snoozed");
    assert_eq!(snoozed.len(), 1, "{}", run.stdout);
    let delay = snoozed[0]["delay_ms"].as_u64().unwrap();
    assert!((200..=600).contains(&delay), "{delay} ms is not the first backoff (400 ms, jittered)");
    assert_eq!(w.count("SELECT attempts FROM jobs WHERE key = 'tempfail'"), 0);
    }
}

crate::both_stores! {
    #[test]
    fn an_error_class_line_decides_what_a_failure_becomes(w: Workdir) {
    w.run(&["init"]).expect(0);
    let agent = w.script(
        "agent.sh",
        "echo \"{\\\"error_class\\\": \\\"$NIGHTSHIFT_KEY\\\"}\"\necho 'HTTP 400' >&2\nexit 1",
    );
    for key in ["client", "context_length", "teapot"] {
        w.run(&["enqueue", key, "{}", "--max-attempts", "2"]).expect(0);
    }
    let run = w.run(&["run", "--once", "--wait", "20s", "--", agent.to_str().unwrap()]).expect(0);
    let reasons = w.rows("SELECT key, reason, attempts, error FROM dead_letter ORDER BY key");
    let row = |key: &str| reasons.iter().find(|r| r[0] == key).cloned().unwrap();
    for key in ["client", "context_length"] {
        let r = row(key);
        assert_eq!((r[1].as_str(), r[2].as_str()), ("permanent", "1"), "{key} at once: {r:?}");
        assert!(r[3].starts_with(&format!("error_class {key}: exit status 1: HTTP 400")), "{r:?}");
    }
    let teapot = row("teapot");
    assert_eq!((teapot[1].as_str(), teapot[2].as_str()), ("exhausted", "2"), "an ordinary failure");
    let events = events(&run);
    let unknown = named(&events, "unknown_error_class");
    assert_eq!(unknown.len(), 2, "one warning per attempt:\n{}", run.stdout);
    assert_eq!((unknown[0]["level"].as_str(), unknown[0]["error_class"].as_str()), (Some("warn"), Some("teapot")));
    let known = unknown[0]["known"].as_str().unwrap();
    assert_eq!(known, "rate_limited, overloaded, server, client, auth, context_length");
    }
}

crate::both_stores! {
    #[test]
    fn spend_by_model_and_queue_reports_cost_and_tokens(w: Workdir) {
    w.run(&["init"]).expect(0);
    let agent = w.script(
        "agent.sh",
        "model=small; [ \"$NIGHTSHIFT_KEY\" = c ] && model=big\n\
         echo \"{\\\"cost_usd\\\": 0.002, \\\"model\\\": \\\"$model\\\", \\\"tokens_in\\\": 100}\"\n\
         echo '{\"tokens_in\": 20, \"tokens_out\": 7}'",
    );
    for (key, queue) in [("a", "mail"), ("b", "mail"), ("c", "triage")] {
        w.run(&["enqueue", key, "{}", "--queue", queue]).expect(0);
    }
    w.run(&["run", "--once", "--", agent.to_str().unwrap()]).expect(0);

    let text = w.run(&["spend", "--by", "model"]).expect(0).stdout;
    let small = text.lines().find(|l| l.starts_with("small")).unwrap_or_default();
    let small: Vec<&str> = small.split_whitespace().collect();
    assert_eq!(small, ["small", "$0.0040", "2", "240", "14"], "{text}");
    assert!(text.contains("MODEL") && text.contains("TOKENS IN"), "{text}");
    let json: Value =
        serde_json::from_str(&w.run(&["spend", "--by", "queue", "--json"]).expect(0).stdout).unwrap();
    assert_eq!(json["by"], "queue");
    let groups = json["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{json}");
    assert_eq!(groups[0]["queue"], "mail", "the costliest first: {json}");
    assert_eq!(
        (groups[0]["micros"].as_i64(), groups[0]["attempts"].as_i64(), groups[0]["tokens_in"].as_i64()),
        (Some(4_000), Some(2), Some(240))
    );
    assert_eq!((groups[1]["queue"].as_str(), groups[1]["tokens_out"].as_i64()), (Some("triage"), Some(7)));

    let days: Value = serde_json::from_str(&w.run(&["spend", "--json"]).expect(0).stdout).unwrap();
    assert_eq!((days["days"][0]["micros"].as_i64(), days["days"][0]["attempts"].as_i64()), (Some(6_000), Some(3)));
    let by_limit = w.run(&["spend", "--by", "limit", "--json"]).expect(0).stdout;
    assert!(by_limit.contains("\"by\":\"limit\""), "{by_limit}");
    }
}
