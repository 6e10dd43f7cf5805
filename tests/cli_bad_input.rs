//! Bad input through the CLI: each case exits 2 (or 1) with a message naming the problem, and
//! leaves every file in the working directory byte for byte as it was.

struct Case {
    name: &'static str,
    config: Option<&'static str>,
    env: &'static [(&'static str, &'static str)],
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    code: i32,
    needle: &'static str,
}

fn case(name: &'static str, args: &[&str], code: i32, needle: &'static str) -> Case {
    Case {
        name,
        config: None,
        env: &[],
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: None,
        code,
        needle,
    }
}

crate::both_stores! {
    // One workdir for every case: each must leave it as it was for the next.
    #[test]
    fn bad_input_is_refused_with_a_clear_message_and_changes_nothing(w: Workdir) {
    let long_key = "k".repeat(300);
    let big_payload = "x".repeat(2000);
    let cases = vec![
        Case {
            config: Some("daly_cap = 1\n"),
            ..case("unknown config key", &["status"], 2, "unknown field `daly_cap`")
        },
        Case {
            config: Some("[retry]\nmax_attempts = \"five\"\n"),
            ..case("wrong type", &["status"], 2, "invalid type")
        },
        Case {
            config: Some("[retry]\nbase = \"soon\"\n"),
            ..case("bad duration", &["status"], 2, "[retry] base")
        },
        Case {
            env: &[("DAILY_CAP_USD", "NaN")],
            ..case("NaN cap", &["status"], 2, "DAILY_CAP_USD")
        },
        Case {
            env: &[("DAILY_CAP_USD", "-3")],
            ..case("negative cap", &["status"], 2, "DAILY_CAP_USD")
        },
        case("empty key", &["enqueue", "", "{}"], 2, "key is empty"),
        case("300-byte key", &["enqueue", &long_key, "{}"], 2, "at most 255 bytes"),
        case("control character in key", &["enqueue", "a\u{7}b", "{}"], 2, "control character"),
        Case {
            config: Some("[store]\nmax_payload = \"1000\"\n"),
            ..case(
                "payload over the limit",
                &["enqueue", "big", &big_payload],
                2,
                "over the 1000-byte limit",
            )
        },
        Case {
            stdin: Some(vec![b'{', 0xff, 0xfe, b'}']),
            ..case("payload not UTF-8", &["enqueue", "bin", "-"], 2, "not UTF-8")
        },
        case("bad delay", &["enqueue", "later", "{}", "--delay", "tomorrow-ish"], 2, "--delay"),
        case("bad --at", &["enqueue", "later", "{}", "--at", "next tuesday"], 2, "--at"),
        case("db is a directory", &["--db", "adir", "status"], 2, "is a directory"),
        case("db is not SQLite", &["--db", "notes.txt", "status"], 2, "not a SQLite database"),
        case("db is empty", &["--db", "empty.db", "enqueue", "k", "{}"], 2, "empty (0 bytes)"),
        case("db missing", &["--db", "missing.db", "status"], 2, "nightshift init"),
        case("run without a handler", &["run", "--once"], 2, "no handler command"),
        case(
            "run on a file that is not SQLite",
            &["--db", "notes.txt", "run", "--once", "--", "true"],
            2,
            "not a SQLite database",
        ),
        case(
            "missing explicit config",
            &["--config", "nope.toml", "status"],
            2,
            "cannot read config",
        ),
        case("zero workers", &["run", "--workers", "0", "--", "true"], 2, "workers"),
        case(
            "overflowing max attempts",
            &["enqueue", "k", "{}", "--max-attempts", "18446744073709551616"],
            2,
            "--max-attempts",
        ),
        case("absurd timeout", &["enqueue", "k", "{}", "--timeout", "999999999d"], 2, "--timeout"),
        case("a key that looks like a flag", &["enqueue", "-rf", "{}"], 2, "unexpected argument"),
        Case {
            config: Some("[retry\nmax_attempts = 4\n"),
            ..case("TOML syntax error", &["status"], 2, "line 1")
        },
        Case {
            config: Some("[budget]\ndaily_usd = inf\n"),
            ..case("infinite cap in TOML", &["status"], 2, "[budget] daily_usd")
        },
        Case {
            config: Some("[alert]\nformat = \"carrier-pigeon\"\n"),
            ..case("unknown alert format", &["status"], 2, "[alert] format")
        },
        Case {
            env: &[("ALERT_WEBHOOK", "not a url")],
            ..case("webhook not a URL", &["status"], 2, "ALERT_WEBHOOK")
        },
        Case {
            env: &[("DAILY_CAP_USD", "")],
            ..case("empty cap", &["status"], 2, "DAILY_CAP_USD")
        },
        Case {
            stdin: Some(b"{\"key\":\"a\"}\nnot json\n".to_vec()),
            ..case("bad JSONL line", &["enqueue", "--jsonl", "-"], 2, "line 2")
        },
        Case {
            stdin: Some(b"{\"key\":\"a\",\"payload\":1,\"priority\":\"high\"}\n".to_vec()),
            ..case("JSONL wrong type", &["enqueue", "--jsonl", "-"], 2, "line 1")
        },
    ];
    w.run(&["init"]).expect(0);
    w.execute("INSERT INTO jobs (key, payload, status, max_attempts, run_at, created_at, updated_at) VALUES ('keep', '{}', 'pending', 4, 0, 0, 0)");
    std::fs::create_dir(w.path().join("adir")).unwrap();
    w.write("notes.txt", "not a database, and it must stay exactly like this\n");
    w.write("empty.db", "");
    for c in cases {
        match c.config {
            Some(text) => w.write("nightshift.toml", text),
            None => w.write("nightshift.toml", "[retry]\nmax_attempts = 4\n"),
        };
        let before = w.snapshot();
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let mut cmd = w.cmd(&args);
        for (k, v) in c.env {
            cmd.env(k, v);
        }
        let out = match &c.stdin {
            Some(bytes) => {
                use std::io::Write;
                cmd.stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                let mut child = cmd.spawn().unwrap();
                child.stdin.take().unwrap().write_all(bytes).unwrap();
                child.wait_with_output().unwrap()
            }
            None => cmd.output().unwrap(),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(c.code), "{}: exit code; stderr: {stderr}", c.name);
        assert!(stderr.contains(c.needle), "{}: message {stderr:?} lacks {:?}", c.name, c.needle);
        assert_eq!(w.snapshot(), before, "{}: files changed on disk", c.name);
        assert_eq!(w.count("SELECT count(*) FROM jobs"), 1, "{}: jobs changed", c.name);
    }
}
}

crate::both_stores! {
    #[test]
    fn keys_and_payloads_at_the_limits_round_trip_literally(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", "[store]\nmax_payload = \"64\"\n");
    let keys = [
        "'; DROP TABLE jobs;--",
        "100%_done",
        "$(rm -rf ~)",
        "../../etc/passwd",
        "ключ-🔑",
        &"k".repeat(255),
    ];
    for key in keys {
        w.run(&["enqueue", key, "x"]).expect(0);
        let shown: serde_json::Value =
            serde_json::from_str(w.run(&["jobs", "show", key, "--json"]).expect(0).stdout.trim())
                .unwrap();
        assert_eq!(shown["key"], key, "the key round-trips literally");
    }
    // A key that starts with '-' goes after `--`.
    w.run(&["enqueue", "--", "-leading", "x"]).expect(0);
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE key = '-leading'"), 1);
    w.run(&["enqueue", "empty", ""]).expect(0);
    w.run(&["enqueue", "exact", &"p".repeat(64)]).expect(0);
    let over = w.run(&["enqueue", "over", &"p".repeat(65)]).expect(2);
    assert!(over.stderr.contains("65 bytes, over the 64-byte limit"), "{}", over.stderr);
    assert_eq!(w.count("SELECT count(*) FROM jobs"), keys.len() as i64 + 3);
    assert_eq!(w.count("SELECT length(payload) FROM jobs WHERE key = 'empty'"), 0);
    }
}
