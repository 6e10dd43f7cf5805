//! What a new user types, checked where it is given: `[[schedule]]` entries by enqueue's rules
//! when the config loads, exit codes and the database path, `--jsonl` with a conflict in the
//! middle, `jobs purge`, conflicts that show the difference, stdin's final newline, JSON
//! payloads.

use crate::util::cli::Workdir;

/// Initialises `w`'s database with one pending job, `keep`.
fn setup(w: &Workdir) {
    w.run(&["init"]).expect(0);
    w.run(&["enqueue", "keep", "{}"]).expect(0);
}

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

crate::both_stores! {
    // One workdir for every config: each refusal must leave it as it was for the next.
    #[test]
    fn a_bad_schedule_is_refused_by_every_command_naming_it(w: Workdir) {
    setup(&w);
    let entry = |name: &str, extra: &str| {
        format!("[[schedule]]\nname = \"{name}\"\ncron = \"* * * * *\"\n{extra}\n")
    };
    let configs = [
        (entry("noqueue", "queue = \"\""), "[[schedule]] noqueue", "queue names"),
        (
            format!(
                "[store]\nmax_payload = \"16\"\n{}",
                entry("big", &format!("payload = '{}'", "x".repeat(17)))
            ),
            "[[schedule]] big",
            "over the 16-byte limit",
        ),
        (
            format!(
                "[store]\npayload = \"json\"\n{}",
                entry("mangled", "payload = '{kind:digest}'")
            ),
            "[[schedule]] mangled",
            "line 1 column 2",
        ),
    ];
    for (config, name, needle) in &configs {
        w.write("nightshift.toml", config);
        let before = w.snapshot();
        for args in [
            &["status"][..],
            &["doctor"],
            &["jobs"],
            &["enqueue", "another", "{}"],
            &["run", "--once", "--", "true"],
        ] {
            let out = w.run(args).expect(2);
            assert!(
                out.stderr.contains(name) && out.stderr.contains(needle),
                "{args:?} with {config:?}: {}",
                out.stderr
            );
        }
        assert_eq!(w.snapshot(), before, "{name}: files changed");
        assert_eq!(
            w.count("SELECT count(*) FROM jobs WHERE key = 'keep' AND status = 'pending' AND attempts = 0"),
            1,
            "{name}: the good job was claimed"
        );
    }
}
}

crate::both_stores! {
    #[test]
    fn exit_codes_outside_1_to_255_are_refused_naming_the_key_and_the_value(w: Workdir) {
    setup(&w);
    w.write("nightshift.toml", "[handler]\npermanent_exit_codes = [65, 300]\n");
    let out = w.run(&["run", "--once", "--", "true"]).expect(2);
    assert!(out.stderr.contains("[handler] permanent_exit_codes: 300"), "{}", out.stderr);
    w.write("nightshift.toml", "[handler]\npermanent_exit_codes = [-1]\n");
    assert!(w.run(&["status"]).expect(2).stderr.contains("-1"));
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'pending'"), 1);
    }
}

crate::both_stores! {
    #[test]
    fn an_empty_database_path_is_refused_naming_where_it_came_from(w: Workdir) {
    setup(&w);
    let before = w.snapshot();
    let flag = w.run(&["--db", "", "status"]).expect(2);
    assert!(flag.stderr.contains("--db is empty"), "{}", flag.stderr);
    let env = w.cmd(&["init"]).env("NIGHTSHIFT_DB", "").output().unwrap();
    assert_eq!(env.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&env.stderr).contains("NIGHTSHIFT_DB is set but empty"));
    assert_eq!(w.snapshot(), before);
    w.write("nightshift.toml", "db = \"\"\n");
    let before = w.snapshot();
    for args in [&["init"][..], &["status"], &["enqueue", "k", "{}"]] {
        let file = w.run(args).expect(2);
        assert!(file.stderr.contains("db = \"\" in nightshift.toml"), "{args:?}: {}", file.stderr);
    }
    assert_eq!(w.snapshot(), before);
    }
}

crate::both_stores! {
    #[test]
    fn jsonl_with_a_conflict_in_the_middle_says_what_was_applied(w: Workdir) {
    setup(&w);
    let lines = "{\"key\":\"a\"}\n{\"key\":\"keep\",\"payload\":{\"other\":1}}\n\n{\"key\":\"b\"}\n{\"key\":\"keep\",\"payload\":{}}\n";
    let file = w.write("jobs.jsonl", lines);
    let text = w.run(&["enqueue", "--jsonl", file.to_str().unwrap()]).expect(1);
    assert_eq!(
        text.stdout,
        "enqueued a\nconflict keep (pending)\nenqueued b\nduplicate keep (pending)\n\
         4 lines: 2 enqueued, 1 duplicate, 0 dead_lettered, 1 conflict\n"
    );
    assert!(!text.stderr.contains("nothing changed"), "{}", text.stderr);
    assert!(text.stderr.contains("(line 2)"), "{}", text.stderr);
    assert!(
        text.stderr
            .contains("1 of 4 lines conflicted and changed nothing; the others were applied")
    );
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE key IN ('a', 'b')"), 2);

    let again = w.run(&["enqueue", "--jsonl", file.to_str().unwrap(), "--json"]).expect(1);
    let v = json_lines(&again.stdout);
    assert_eq!(v.len(), 5);
    assert_eq!((v[1]["outcome"].as_str(), v[1]["line"].as_u64()), (Some("conflict"), Some(2)));
    assert_eq!(v[1]["differs_at_byte"], 1);
    assert_eq!((v[2]["key"].as_str(), v[2]["line"].as_u64()), (Some("b"), Some(4)));
    assert_eq!(
        v[4]["summary"],
        serde_json::json!({"lines": 4, "enqueued": 0, "duplicate": 3, "dead_lettered": 0, "conflict": 1})
    );
    assert!(again.stderr.contains("nothing changed"), "{}", again.stderr);
    }
}

/// Sets a job's status directly, as a runner (claim, complete) would.
fn set_status(w: &Workdir, key: &str, status: &str) {
    w.execute(&format!("UPDATE jobs SET status = '{status}' WHERE key = '{key}'"));
}

crate::both_stores! {
    #[test]
    fn jobs_purge_deletes_pending_and_done_jobs_and_refuses_running_ones(w: Workdir) {
    setup(&w);
    for key in ["done", "busy"] {
        w.run(&["enqueue", key, "{}"]).expect(0);
    }
    set_status(&w, "done", "done");
    set_status(&w, "busy", "running");
    let out = w.run(&["jobs", "purge", "keep", "done", "busy", "ghost"]).expect(1);
    assert_eq!(out.stdout, "purged keep\npurged done\n");
    assert!(out.stderr.contains("running, left as they are: \"busy\"; wait"), "{}", out.stderr);
    assert!(out.stderr.contains("not in jobs: \"ghost\""), "{}", out.stderr);
    assert_eq!(w.rows("SELECT key, status FROM jobs"), [["busy", "running"]]);
    // A purged key takes a new payload.
    w.run(&["enqueue", "done", "{\"v\":2}"]).expect(0);
    set_status(&w, "done", "done");
    let json = w.run(&["jobs", "purge", "done", "--json"]).expect(0);
    assert_eq!(
        json_lines(&json.stdout)[0],
        serde_json::json!({"purged": ["done"], "running": [], "missing": []})
    );
    let refused = w.run(&["jobs", "purge", "busy", "--json"]).expect(1);
    assert_eq!(json_lines(&refused.stdout)[0]["running"], serde_json::json!(["busy"]));
    }
}

crate::both_stores! {
    #[test]
    fn a_conflict_names_the_command_that_really_frees_the_key(w: Workdir) {
    setup(&w);
    w.run(&["enqueue", "finished", "{}"]).expect(0);
    set_status(&w, "finished", "done");
    w.run(&["enqueue", "busy", "{}"]).expect(0);
    set_status(&w, "busy", "running");
    let running = w.run(&["enqueue", "busy", "{\"v\":2}"]).expect(1);
    assert!(running.stderr.contains("wait: the job is running"), "{}", running.stderr);
    assert!(!running.stderr.contains("purge it first"), "{}", running.stderr);
    for key in ["keep", "finished"] {
        let out = w.run(&["enqueue", key, "{\"v\":2}"]).expect(1);
        let advice = format!("`nightshift jobs purge {key}`");
        assert!(out.stderr.contains(&advice), "{}", out.stderr);
        // The advice works: after it, the new payload is taken.
        w.run(&["jobs", "purge", key]).expect(0);
        w.run(&["enqueue", key, "{\"v\":2}"]).expect(0);
    }
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE payload = '{\"v\":2}'"), 2);
    }
}

crate::both_stores! {
    #[test]
    fn a_payload_piped_with_a_final_newline_is_stored_without_it(w: Workdir) {
    setup(&w);
    w.run_with_stdin(&["enqueue", "k", "-"], b"{\"a\":1}\n").expect(0);
    assert_eq!(w.run(&["enqueue", "k", "{\"a\":1}"]).expect(0).stdout, "duplicate k (pending)\n");
    w.run_with_stdin(&["enqueue", "crlf", "-"], b"line one\nline two\r\n").expect(0);
    w.run_with_stdin(&["enqueue", "two", "-"], b"x\n\n").expect(0);
    assert_eq!(w.count("SELECT payload = 'line one\nline two' FROM jobs WHERE key = 'crlf'"), 1);
    assert_eq!(w.count("SELECT payload = 'x\n' FROM jobs WHERE key = 'two'"), 1, "only one goes");
    }
}

crate::both_stores! {
    #[test]
    fn a_conflict_shows_invisible_differences_escaped_and_cut_around_them(w: Workdir) {
    setup(&w);
    w.run(&["enqueue", "zw", "{\"a\":\"b\u{200b}\"}"]).expect(0);
    let out = w.run(&["enqueue", "zw", "{\"a\":\"b\"}"]).expect(1);
    assert!(out.stderr.contains(r#"stored '\u{200b}', given '"'"#), "{}", out.stderr);
    w.run_with_stdin(&["enqueue", "nl", "-"], b"{\"a\":1}\n\n").expect(0);
    let out = w.run(&["enqueue", "nl", "{\"a\":1}"]).expect(1);
    assert!(out.stderr.contains("stored: {\"a\":1}\\n\n"), "{}", out.stderr);
    // Near the 1 MiB limit (through stdin: one argument holds at most 128 KiB).
    let big = "p".repeat((1 << 20) - 1);
    w.run_with_stdin(&["enqueue", "big", "-"], format!("{big}1").as_bytes()).expect(0);
    let out = w.run_with_stdin(&["enqueue", "big", "-"], format!("{big}2").as_bytes()).expect(1);
    assert!(out.stderr.len() < 1000, "{} bytes of stderr", out.stderr.len());
    assert!(out.stderr.contains(&format!("differ from byte {}", big.len())), "{}", out.stderr);
    }
}

crate::both_stores! {
    #[test]
    fn json_payloads_are_required_where_asked_naming_the_position(w: Workdir) {
    setup(&w);
    let before = w.snapshot();
    let flag = w.run(&["enqueue", "m", "{topic:inbox}", "--json-payload"]).expect(2);
    assert!(flag.stderr.contains("line 1 column 2"), "{}", flag.stderr);
    assert!(flag.stderr.contains("--json-payload requires JSON"), "{}", flag.stderr);
    assert_eq!(w.snapshot(), before);
    w.write("nightshift.toml", "[store]\npayload = \"json\"\n");
    let before = w.snapshot();
    let config = w.run_with_stdin(&["enqueue", "m", "-"], b"{\"a\":\n  oops}\n").expect(2);
    assert!(config.stderr.contains("line 2 column 3"), "{}", config.stderr);
    assert!(config.stderr.contains("[store] payload = \"json\""), "{}", config.stderr);
    let lines =
        "{\"key\":\"fine\",\"payload\":{\"a\":1}}\n{\"key\":\"text\",\"payload\":\"hello\"}\n";
    let jsonl = w.run_with_stdin(&["enqueue", "--jsonl", "-"], lines.as_bytes()).expect(2);
    assert!(
        jsonl.stderr.contains("line 2: the payload of \"text\" is not JSON"),
        "{}",
        jsonl.stderr
    );
    assert_eq!(w.snapshot(), before, "nothing was written");
    w.run(&["enqueue", "ok", "{\"topic\":\"inbox\"}"]).expect(0);
    }
}

crate::both_stores! {
    #[test]
    fn a_payload_that_starts_like_json_but_is_not_is_enqueued_with_a_warning(w: Workdir) {
    setup(&w);
    let out = w.run(&["enqueue", "m", "{topic:inbox}"]).expect(0);
    assert_eq!(out.stdout, "enqueued m\n");
    assert!(out.stderr.contains("warning: the payload starts like JSON but is not JSON"));
    assert!(out.stderr.contains("line 1 column 2"), "{}", out.stderr);
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE payload = '{topic:inbox}'"), 1);
    for quiet in ["{\"topic\":\"inbox\"}", "plain text", "[1, 2]"] {
        let out = w.run(&["enqueue", &format!("k-{quiet}"), quiet]).expect(0);
        assert_eq!(out.stderr, "", "{quiet}");
    }
    }
}
