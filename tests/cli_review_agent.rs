//! README's complete example of an agent that calls an LLM (`examples/review_agent.py`): the
//! block of "A complete example" run as written, and the 429 that holds the example's limit.

use std::path::Path;

use serde_json::Value;

use crate::util::cli::{Run, Workdir, user_shell};

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/review_agent.py")
}

/// The first block of `kind` (```sh, ```text) under "### A complete example" in README.md.
fn readme_block(kind: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = readme.split_once("\n### A complete example").expect("the section").1;
    let block = section.split_once(&format!("\n```{kind}\n")).expect("a block in it").1;
    block.split_once("\n```").expect("the block's end").0.to_owned()
}

// SQLite only: the README's example uses the default SQLite file in its own directory.
#[test]
fn the_readme_agent_example_runs_as_written_and_pays_each_model_call_once() {
    let w = Workdir::new();
    let checkout = w.path().join("checkout");
    let home = w.path().join("home");
    std::fs::create_dir_all(checkout.join("examples")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::fs::copy(example(), checkout.join("examples/review_agent.py")).unwrap();

    let block = readme_block("sh");
    assert!(block.contains("nightshift signal post-42 approval"), "{block}");
    let out = user_shell(&format!("set -e\n{block}"), &checkout, &home).output().unwrap();
    let run = Run::from(out).expect(0);

    // The first `jobs show` saw the job waiting with two steps; the second, done with four.
    let shows: Vec<&str> = run.stdout.split("key           post-42").skip(1).collect();
    assert_eq!(shows.len(), 2, "{}", run.stdout);
    assert!(shows[0].contains("status        waiting"), "{}", shows[0]);
    assert!(shows[0].contains("steps         2 recorded"), "{}", shows[0]);
    assert!(shows[1].contains("status        done"), "{}", shows[1]);
    assert!(shows[1].contains("steps         4 recorded"), "{}", shows[1]);

    let dir = home.join("review");
    let published = std::fs::read_to_string(dir.join("published/post-42.md")).unwrap();
    assert!(published.contains("Write the post for:"), "{published}");
    assert!(published.ends_with("approved: ship it\n"), "{published}");

    // Each model call charged once, with its model and tokens; reading it back cost nothing.
    let db = rusqlite::Connection::open(dir.join("nightshift.db")).unwrap();
    let ledger: Vec<(String, i64, i64)> = db
        .prepare("SELECT model, micros, tokens_in FROM spend ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ledger.len(), 2, "{ledger:?}");
    assert!(
        ledger
            .iter()
            .all(|(model, micros, tokens)| model == "small-model" && *micros == 100 * tokens),
        "{ledger:?}"
    );
    // `spend --by model` printed what README says it prints.
    let shown = readme_block("text");
    let by_model =
        |text: &str| text.lines().find(|l| l.starts_with("small-model")).map(str::to_owned);
    assert_eq!(by_model(&run.stdout), by_model(&shown), "{}", run.stdout);
}

/// The events of `log` for `key` named `event`, as JSON.
fn events(log: &str, key: &str, event: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["key"] == key && e["event"] == event)
        .collect()
}

fn ts_millis(event: &Value) -> i64 {
    let ts = humantime::parse_rfc3339(event["ts"].as_str().unwrap()).unwrap();
    let since = ts.duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

crate::both_stores! {
    #[test]
    fn a_429_in_the_example_snoozes_its_job_and_holds_every_job_of_its_limit(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", "[[limit]]\nname = \"llm\"\nconcurrency = 2\n");
    for key in ["first", "second"] {
        w.run(&["enqueue", key, "{\"topic\": \"tests\"}", "--limit", "llm"]).expect(0);
    }
    let busy = w.write("provider-busy", "");
    let example = example();
    let out = w
        .cmd(&["run", "--once", "--workers", "1", "--", "python3", example.to_str().unwrap()])
        .env("AGENT_PROVIDER_BUSY", &busy)
        .output()
        .unwrap();
    let run = Run::from(out).expect(0);
    assert!(!busy.exists(), "the stand-in answered its one 429");

    // The first job met the 429: snoozed for the second the provider asked, no attempt counted.
    let snoozed = events(&run.stdout, "first", "job_snoozed");
    assert_eq!(snoozed.len(), 1, "{}", run.stdout);
    assert_eq!(snoozed[0]["delay_ms"], 1000, "{}", run.stdout);
    // The one worker was free at once, but the limit was held: the other job of `llm` did not
    // start before the hold ended.
    let second = events(&run.stdout, "second", "job_started");
    assert_eq!(second.len(), 1, "{}", run.stdout);
    assert!(ts_millis(&second[0]) >= ts_millis(&snoozed[0]) + 990, "{}", run.stdout);
    // Both then drafted and now wait for their approval; neither the snooze nor the wait
    // counted an attempt.
    let rows = w.rows("SELECT key, status, attempts, snoozes FROM jobs ORDER BY key");
    assert_eq!(
        rows,
        [["first", "waiting", "0", "1"], ["second", "waiting", "0", "0"]].map(|r| r.map(String::from)),
    );
    }
}
