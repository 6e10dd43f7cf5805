//! `nightshift demo --dir <tmp>` through the built binary: it prints words rather than Rust debug
//! text, shows the dead-letter alert arriving (at its loopback webhook, or at ALERT_WEBHOOK,
//! which it never prints), and every "Next" hint it prints runs as printed, whether the demo was
//! started as an installed binary or through `cargo run`.

use std::process::Command;

use crate::util::cli::{Run, Workdir};
use crate::util::sink::Sink;

/// The variables `cargo run` (and the test runner) set for the program they start: the demo
/// reads them to tell `cargo run -- demo` from an installed binary.
const CARGO_VARS: [&str; 2] = ["CARGO", "CARGO_PKG_NAME"];

/// Runs the demo in `w/demo` as an installed binary would run, plus `env`.
fn demo(w: &Workdir, env: &[(&str, &str)]) -> Run {
    let mut cmd = w.cmd(&["demo", "--dir", "demo"]);
    for var in CARGO_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    output(cmd)
}

fn output(mut cmd: Command) -> Run {
    let out = cmd.output().expect("run nightshift");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The command lines under "Next, from this directory:".
fn hints(stdout: &str) -> Vec<String> {
    let after = stdout.split_once("\nNext, from this directory:\n").expect("a Next section").1;
    let hints: Vec<String> =
        after.lines().take_while(|l| l.starts_with("  ")).map(|l| l.trim().to_owned()).collect();
    assert_eq!(hints.len(), 3, "three hints:\n{after}");
    hints
}

/// Runs a hint as a user pastes it: through a shell, in the directory the demo ran in.
fn run_hint(w: &Workdir, hint: &str, path: &str) -> Run {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", hint]).current_dir(w.path()).env("PATH", path);
    for var in ["NIGHTSHIFT_DB", "NIGHTSHIFT_CONFIG", "ALERT_WEBHOOK"].iter().chain(&CARGO_VARS) {
        cmd.env_remove(var);
    }
    output(cmd)
}

fn assert_hints_work(w: &Workdir, hints: &[String], path: &str) {
    for hint in hints {
        let out = run_hint(w, hint, path);
        assert_eq!(out.code, Some(0), "`{hint}` failed: {out:?}");
        assert!(out.stdout.contains("triage-13"), "`{hint}` printed: {}", out.stdout);
    }
    let db = rusqlite::Connection::open(w.path().join("demo/nightshift.db")).unwrap();
    let status: String = db
        .query_row("SELECT status FROM jobs WHERE key = 'triage-13'", [], |r| r.get(0))
        .expect("the replay hint brought triage-13 back");
    assert_eq!(status, "pending");
}

// SQLite only: the demo makes its own SQLite database by design.
#[test]
fn the_demo_prints_words_and_the_dead_letter_alert_its_webhook_received() {
    let w = Workdir::new();
    let first = demo(&w, &[]).expect(0);
    assert!(first.stdout.contains("   enqueued triage-13\n"), "{}", first.stdout);
    let (_, alerts) = first
        .stdout
        .split_once("== alerts received by the demo's webhook")
        .unwrap_or_else(|| panic!("no received alert shown:\n{}", first.stdout));
    assert!(alerts.contains("POST /demo-alerts"), "{alerts}");
    assert!(alerts.contains(r#""kind": "dead_letter""#), "{alerts}");
    assert!(alerts.contains(r#""key": "triage-13""#), "the poison job's key: {alerts}");
    assert!(first.stdout.contains("alerts       0 undelivered"), "{}", first.stdout);

    // A second run finds every key: the words `enqueue` prints, never `Duplicate { .. }`.
    let second = demo(&w, &[]).expect(0);
    assert!(second.stdout.contains("   duplicate digest-mon (done)\n"), "{}", second.stdout);
    assert!(second.stdout.contains("   dead_lettered triage-13\n"), "{}", second.stdout);
    for out in [&first, &second] {
        for debug in ["{ status", "Duplicate", "Enqueued", "DeadLettered"] {
            assert!(!out.stdout.contains(debug), "debug text {debug:?}:\n{}", out.stdout);
        }
    }
}

// SQLite only: the demo makes its own SQLite database by design.
#[test]
fn the_demo_hints_run_as_printed_for_an_installed_binary() {
    let w = Workdir::new();
    let out = demo(&w, &[]).expect(0);
    let hints = hints(&out.stdout);
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_nightshift"));
    for hint in &hints {
        assert!(hint.starts_with(&exe.display().to_string()), "this binary's path: {hint}");
    }
    assert_hints_work(&w, &hints, "/usr/bin:/bin");
}

// SQLite only: the demo makes its own SQLite database by design.
#[test]
fn the_demo_hints_say_nightshift_when_that_is_the_binary_on_path() {
    let w = Workdir::new();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_nightshift")).parent().unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let out = demo(&w, &[("PATH", &path)]).expect(0);
    let hints = hints(&out.stdout);
    for hint in &hints {
        assert!(hint.starts_with("nightshift --db demo/nightshift.db "), "{hint}");
    }
    assert_hints_work(&w, &hints, &path);
}

// SQLite only: the demo makes its own SQLite database by design.
#[test]
fn the_demo_hints_run_as_printed_after_cargo_run() {
    let w = Workdir::new();
    let out = demo(&w, &[("CARGO", "/usr/bin/false"), ("CARGO_PKG_NAME", "nightshift")]).expect(0);
    let hints = hints(&out.stdout);
    for hint in &hints {
        assert!(hint.starts_with("cargo run -- --db demo/nightshift.db "), "{hint}");
    }
    // A stand-in for cargo that runs the binary `cargo run` would run, with the same arguments.
    let fake = w.path().join("fake-cargo");
    std::fs::create_dir(&fake).unwrap();
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = run ] && [ \"$2\" = -- ] || exit 99\nshift 2\nexec {} \"$@\"\n",
        env!("CARGO_BIN_EXE_nightshift")
    );
    std::fs::write(fake.join("cargo"), script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(fake.join("cargo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_hints_work(&w, &hints, &format!("{}:/usr/bin:/bin", fake.display()));
}

// SQLite only: the demo makes its own SQLite database by design.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_sends_its_alert_to_alert_webhook_and_never_prints_the_url() {
    let sink = Sink::start().await;
    let secret = "T0DEMO/B0/demo-secret-token";
    let url = sink.url(&format!("/hooks/{secret}"));
    let w = Workdir::new();
    let out = {
        let mut cmd = w.cmd(&["demo", "--dir", "demo"]);
        cmd.env("ALERT_WEBHOOK", &url);
        for var in CARGO_VARS {
            cmd.env_remove(var);
        }
        tokio::task::spawn_blocking(move || output(cmd)).await.unwrap().expect(0)
    };
    let received = sink.received();
    assert_eq!(received.len(), 1, "one dead-letter alert: {received:?}");
    assert_eq!(received[0].path_and_query, format!("/hooks/{secret}"));
    let alert = received[0].json();
    assert_eq!(alert["kind"], "dead_letter");
    assert_eq!(alert["key"], "triage-13");
    assert!(out.stdout.contains("== alerts: sent to your webhook (ALERT_WEBHOOK)"), "{out:?}");
    assert!(!out.stdout.contains("demo-alerts"), "no loopback webhook when one is set");
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(secret) && !text.contains(&url), "the webhook leaked:\n{text}");
    }
}
