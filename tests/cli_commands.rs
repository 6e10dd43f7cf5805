//! Every command's text and JSON output and exit codes, through the built binary.

use crate::util::cli::Workdir;

fn init(w: &Workdir) {
    w.run(&["init"]).expect(0);
}

crate::both_stores! {
    #[test]
    fn init_creates_the_database_and_a_commented_config_once(w: Workdir) {
    let first = w.run(&["init"]).expect(0);
    let created = if w.is_postgres() {
        "created nightshift's schema in postgres://"
    } else {
        "created database nightshift.db"
    };
    assert!(first.stdout.contains(created), "{}", first.stdout);
    assert_eq!(w.count("SELECT count(*) FROM jobs"), 0);
    let config = std::fs::read_to_string(w.path().join("nightshift.toml")).unwrap();
    assert!(config.contains("# max_attempts = 4"));
    std::fs::write(w.path().join("nightshift.toml"), "[retry]\nmax_attempts = 7\n").unwrap();
    let again = w.run(&["init"]).expect(0);
    assert!(again.stdout.contains("; left as it is"), "{}", again.stdout);
    assert_eq!(
        std::fs::read_to_string(w.path().join("nightshift.toml")).unwrap(),
        "[retry]\nmax_attempts = 7\n"
    );
    }
}

crate::both_stores! {
    #[test]
    fn enqueue_reports_enqueued_duplicate_conflict_and_dead_lettered(w: Workdir) {
    init(&w);
    assert_eq!(w.run(&["enqueue", "k1", r#"{"a":1}"#]).expect(0).stdout, "enqueued k1\n");
    assert_eq!(
        w.run(&["enqueue", "k1", r#"{"a":1}"#]).expect(0).stdout,
        "duplicate k1 (pending)\n"
    );
    let conflict = w.run(&["enqueue", "k1", r#"{"a":2}"#]).expect(1);
    assert!(
        conflict.stderr.contains("conflict: k1 (pending) already exists with a different payload"),
        "{}",
        conflict.stderr
    );
    let piped = w.run_with_stdin(&["enqueue", "k2", "-", "--json"], b"from stdin").expect(0);
    let v: serde_json::Value = serde_json::from_str(piped.stdout.trim()).unwrap();
    assert_eq!(v["outcome"], "enqueued");
    assert_eq!(v["key"], "k2");
    let dup: serde_json::Value = serde_json::from_str(
        w.run(&["enqueue", "k1", r#"{"a":1}"#, "--json"]).expect(0).stdout.trim(),
    )
    .unwrap();
    assert_eq!(
        (dup["outcome"].as_str(), dup["status"].as_str()),
        (Some("duplicate"), Some("pending"))
    );
    // A buried key stays buried.
    w.execute(
            "INSERT INTO dead_letter (key, queue, payload, error, attempts, max_attempts, died, errors, reason)
             VALUES ('gone', 'default', '{}', 'boom', 4, 4, 0, '[]', 'exhausted')",
    );
    assert_eq!(w.run(&["enqueue", "gone", "{}"]).expect(0).stdout, "dead_lettered gone\n");
    assert_eq!(w.count("SELECT count(*) FROM jobs"), 2);
    assert_eq!(w.count("SELECT payload = 'from stdin' FROM jobs WHERE key = 'k2'"), 1);
    }
}

crate::both_stores! {
    #[test]
    fn enqueue_jsonl_writes_every_line_or_none(w: Workdir) {
    init(&w);
    let good = w.write(
        "jobs.jsonl",
        "{\"key\":\"a\",\"payload\":{\"n\":1}}\n\n{\"key\":\"b\",\"payload\":\"text\",\"priority\":5,\"delay\":\"1h\"}\n",
    );
    let run = w.run(&["enqueue", "--jsonl", good.to_str().unwrap()]).expect(0);
    assert_eq!(
        run.stdout,
        "enqueued a\nenqueued b\n2 lines: 2 enqueued, 0 duplicate, 0 dead_lettered, 0 conflict\n"
    );
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE key = 'a' AND payload = '{\"n\":1}'"), 1);
    assert_eq!(w.count("SELECT priority FROM jobs WHERE key = 'b'"), 5);
    let bad = w.write("bad.jsonl", "{\"key\":\"c\"}\n{\"key\":\"\"}\n");
    let refused = w.run(&["enqueue", "--jsonl", bad.to_str().unwrap()]).expect(2);
    assert!(refused.stderr.contains("key is empty"), "{}", refused.stderr);
    let typo = w.write("typo.jsonl", "{\"key\":\"d\",\"payloda\":1}\n");
    let refused = w.run(&["enqueue", "--jsonl", typo.to_str().unwrap()]).expect(2);
    assert!(
        refused.stderr.contains("line 1") && refused.stderr.contains("payloda"),
        "{}",
        refused.stderr
    );
    assert_eq!(w.count("SELECT count(*) FROM jobs"), 2, "a bad file enqueues nothing");
    }
}

crate::both_stores! {
    #[test]
    fn status_jobs_and_pause_show_what_is_in_the_database(w: Workdir) {
    init(&w);
    w.run(&["enqueue", "one", "{}"]).expect(0);
    w.run(&["enqueue", "two", "{}", "--delay", "10m"]).expect(0);
    let status = w.run(&["status"]).expect(0).stdout;
    assert!(status.contains("2 pending"), "{status}");
    assert!(status.contains("runner       not running"), "{status}");
    assert!(status.contains("paused       no"), "{status}");
    let paused = w.run(&["pause", "--reason", "provider outage"]).expect(0);
    assert!(paused.stdout.starts_with("paused"));
    let v: serde_json::Value =
        serde_json::from_str(w.run(&["status", "--json"]).expect(0).stdout.trim()).unwrap();
    assert_eq!((v["pending"].as_u64(), v["paused"].as_bool()), (Some(2), Some(true)));
    assert_eq!(v["pause_reason"], "provider outage");
    assert!(v["runner"].is_null());
    assert!(w.run(&["status"]).expect(0).stdout.contains("yes: provider outage"));
    assert_eq!(w.run(&["resume"]).expect(0).stdout, "resumed\n");

    let jobs = w.run(&["jobs"]).expect(0).stdout;
    assert!(jobs.lines().count() == 3 && jobs.contains("one") && jobs.contains("two"), "{jobs}");
    let listed: serde_json::Value = serde_json::from_str(
        w.run(&["jobs", "--json", "--status", "pending"]).expect(0).stdout.trim(),
    )
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let shown: serde_json::Value =
        serde_json::from_str(w.run(&["jobs", "show", "one", "--json"]).expect(0).stdout.trim())
            .unwrap();
    assert_eq!((shown["key"].as_str(), shown["status"].as_str()), (Some("one"), Some("pending")));
    let missing = w.run(&["jobs", "show", "nope"]).expect(1);
    assert!(missing.stderr.contains("no job \"nope\""));
    }
}

crate::both_stores! {
    #[test]
    fn dlq_lists_shows_replays_and_purges(w: Workdir) {
    init(&w);
    w.execute(
            "INSERT INTO dead_letter (key, queue, payload, error, attempts, max_attempts, died, errors, reason) VALUES
             ('d1', 'default', '{\"x\":1}', 'boom 1', 4, 4, 1795472917, '[{\"attempt\":4,\"error\":\"boom 1\",\"at\":0}]', 'exhausted'),
             ('d2', 'default', '{}', 'bad input', 1, 4, 1795472918, '[]', 'permanent');",
    );
    let list = w.run(&["dlq", "list"]).expect(0).stdout;
    assert!(list.contains("d1") && list.contains("d2") && list.contains("permanent"), "{list}");
    let json: serde_json::Value =
        serde_json::from_str(w.run(&["dlq", "list", "--json"]).expect(0).stdout.trim()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    let show = w.run(&["dlq", "show", "d1"]).expect(0).stdout;
    assert!(show.contains("boom 1") && show.contains("attempt 4"), "{show}");
    w.run(&["dlq", "show", "nope"]).expect(1);

    let replay = w.run(&["dlq", "replay", "d1", "nope"]).expect(1);
    assert_eq!(replay.stdout, "replayed d1\n");
    assert!(replay.stderr.contains("not in the dead letter: \"nope\""), "{}", replay.stderr);
    assert_eq!(
        w.count(
            "SELECT count(*) FROM jobs WHERE key = 'd1' AND status = 'pending' AND attempts = 0"
        ),
        1
    );
    let purge = w.run(&["dlq", "purge", "--all", "--json"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(purge.stdout.trim()).unwrap();
    assert_eq!(v["purged"], serde_json::json!(["d2"]));
    assert_eq!(w.count("SELECT count(*) FROM dead_letter"), 0);
    assert_eq!(w.run(&["dlq", "replay", "--all"]).expect(0).stdout, "0 replayed\n");
    }
}

// No store: --help opens no database.
#[test]
fn help_names_every_command() {
    let w = Workdir::new();
    let help = w.run(&["--help"]).expect(0).stdout;
    for cmd in ["init", "enqueue", "run", "status", "jobs", "dlq", "pause", "resume", "demo"] {
        assert!(help.contains(cmd), "--help lacks {cmd}");
    }
    w.run(&["frobnicate"]).expect(2);
}

// SQLite only: the demo makes its own SQLite database by design.
#[test]
fn demo_shows_retries_the_dead_letter_and_one_effect_per_key() {
    let w = Workdir::new();
    let out = w.run(&["demo", "--dir", "demo"]).expect(0);
    assert!(out.stdout.contains("retry_scheduled"), "{}", out.stdout);
    assert!(out.stdout.contains("dead_lettered"), "{}", out.stdout);
    let dlq = out.stdout.split("== nightshift dlq list").nth(1).expect("a dlq section");
    assert!(dlq.contains("triage-13") && dlq.contains("exhausted"), "{dlq}");
    let effects = std::fs::read_to_string(w.path().join("demo/effects.txt")).unwrap();
    let keys: Vec<&str> = effects.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(keys.len(), 4, "{effects}");
    for key in ["digest-mon", "digest-tue", "triage-42", "report-q3"] {
        assert!(keys.contains(&key), "{key} missing from {effects}");
    }
    // Running it again changes nothing: the keys are duplicates, the poison job stays buried.
    let again = w.run(&["demo", "--dir", "demo"]).expect(0);
    assert!(again.stdout.contains("dead_lettered triage-13"), "{}", again.stdout);
    assert_eq!(std::fs::read_to_string(w.path().join("demo/effects.txt")).unwrap(), effects);
}
