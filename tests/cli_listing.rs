//! What the read commands show: `jobs` newest first with a note when `--limit` cut the list,
//! attempts counted as the handler saw them, `dlq --json` in milliseconds with a real errors
//! array, and help for every argument.

use serde_json::Value;

use crate::util::cli::Workdir;

/// Initialises `w`'s database with `n` pending jobs, k000 first.
fn with_jobs(w: &Workdir, n: usize) {
    w.run(&["init"]).expect(0);
    let lines: String = (0..n).map(|i| format!("{{\"key\":\"k{i:03}\"}}\n")).collect();
    let file = w.write("jobs.jsonl", &lines);
    w.run(&["enqueue", "--jsonl", file.to_str().unwrap()]).expect(0);
}

fn keys(json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(json.trim()).expect("stdout is one JSON array");
    v.as_array().unwrap().iter().map(|j| j["key"].as_str().unwrap().to_owned()).collect()
}

crate::both_stores! {
    #[test]
    fn jobs_lists_the_newest_first_and_says_when_the_limit_cut_it(w: Workdir) {
    with_jobs(&w, 150);
    let text = w.run(&["jobs"]).expect(0);
    let rows: Vec<&str> = text.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 100);
    assert!(rows[0].starts_with("k149 ") && rows[99].starts_with("k050 "), "{}", text.stdout);
    assert!(
        text.stderr.contains("showing 100 of 150 jobs") && text.stderr.contains("--limit 150"),
        "{}",
        text.stderr
    );

    // JSON: stdout stays one array; the note goes to stderr.
    let json = w.run(&["jobs", "--json", "--limit", "10"]).expect(0);
    let listed = keys(&json.stdout);
    assert_eq!(listed.first().map(String::as_str), Some("k149"));
    assert_eq!(listed.len(), 10);
    assert!(json.stderr.contains("showing 10 of 150"), "{}", json.stderr);

    // Nothing cut, nothing said; filters count what they match.
    let all = w.run(&["jobs", "--limit", "150"]).expect(0);
    assert_eq!((all.stdout.lines().count(), all.stderr.as_str()), (151, ""));
    assert_eq!(w.run(&["jobs", "--queue", "other"]).expect(0).stderr, "");

    // A job enqueued later is listed first.
    w.run(&["enqueue", "late", "{}"]).expect(0);
    assert_eq!(keys(&w.run(&["jobs", "--json", "--limit", "1"]).expect(0).stdout), ["late"]);
    }
}

crate::both_stores! {
    #[test]
    fn attempts_count_the_attempts_made_as_the_handler_numbers_them(w: Workdir) {
    w.write("nightshift.toml", "[retry]\nbase = \"50ms\"\ncap = \"1s\"\n");
    w.run(&["init"]).expect(0);
    // `first-try` succeeds at once; the others fail their first attempt and succeed on the second.
    let agent = w.script(
        "agent.sh",
        "[ \"$NIGHTSHIFT_KEY\" = first-try ] && exit 0\n[ \"$NIGHTSHIFT_ATTEMPT\" = 2 ]",
    );
    w.run(&["enqueue", "first-try", "{}"]).expect(0);
    w.run(&["enqueue", "second-try", "{}"]).expect(0);
    w.run(&["enqueue", "waiting", "{}", "--delay", "1h"]).expect(0);
    w.run(&["run", "--once", "--", agent.to_str().unwrap()]).expect(0);
    let table = w.run(&["jobs"]).expect(0).stdout;
    let attempts = |key: &str| {
        let row = table.lines().find(|l| l.starts_with(&format!("{key} "))).unwrap();
        row.split_whitespace().nth(2).unwrap().to_owned()
    };
    assert_eq!(attempts("first-try"), "1/4", "{table}");
    assert_eq!(attempts("second-try"), "2/4", "{table}");
    assert_eq!(attempts("waiting"), "0/4", "{table}");
    let shown = w.run(&["jobs", "show", "first-try"]).expect(0).stdout;
    assert!(shown.contains("attempts      1 made of 4 allowed (0 failed)"), "{shown}");
    let json: Value = serde_json::from_str(
        w.run(&["jobs", "show", "second-try", "--json"]).expect(0).stdout.trim(),
    )
    .unwrap();
    assert_eq!((json["attempts"].as_u64(), json["attempts_made"].as_u64()), (Some(1), Some(2)));
    }
}

crate::both_stores! {
    #[test]
    fn dlq_json_gives_milliseconds_and_the_error_history_as_an_array(w: Workdir) {
    w.run(&["init"]).expect(0);
    let errors = r#"[{"attempt":1,"error":"boom 1","at":1795472916000},
                     {"attempt":2,"error":"boom 2","at":1795472917000}]"#;
    w.execute(&format!(
        "INSERT INTO dead_letter (key, queue, payload, error, attempts, max_attempts, died,
                                  errors, reason)
         VALUES ('d1', 'default', '{{}}', 'boom 2', 2, 2, 1795472917, '{errors}', 'exhausted')"
    ));
    let listed: Value =
        serde_json::from_str(w.run(&["dlq", "list", "--json"]).expect(0).stdout.trim()).unwrap();
    let shown: Value =
        serde_json::from_str(w.run(&["dlq", "show", "d1", "--json"]).expect(0).stdout.trim())
            .unwrap();
    for d in [&listed[0], &shown] {
        assert_eq!(d["died"], 1_795_472_917_000_i64, "{d}");
        assert_eq!(d["errors"][1]["error"], "boom 2", "{d}");
        assert_eq!(d["errors"][0]["at"], 1_795_472_916_000_i64, "{d}");
    }
    // The table keeps unix seconds, as the contract says.
    assert_eq!(w.count("SELECT died FROM dead_letter"), 1_795_472_917);
    let text = w.run(&["dlq", "show", "d1"]).expect(0).stdout;
    assert!(text.contains("died       2026-11-23T22:28:37.000Z"), "{text}");
    assert!(text.contains("attempt 1 at 2026-11-23T22:28:36.000Z: boom 1"), "{text}");
    }
}

crate::both_stores! {
    #[test]
    fn show_commands_say_what_their_key_is(w: Workdir) {
    assert!(
        w.run(&["jobs", "show", "--help"]).expect(0).stdout.contains("The job's idempotency key")
    );
    let dlq = w.run(&["dlq", "show", "--help"]).expect(0).stdout;
    assert!(dlq.contains("The dead-lettered job's idempotency key"), "{dlq}");
    }
}
