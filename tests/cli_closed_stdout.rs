//! A closed stdout (`nightshift jobs | head -1`) ends a command quietly with exit 0, as it does
//! for cat or ripgrep: no panic, no message. A runner whose stdout closes keeps working.

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::util::cli::{Workdir, wait_exit};

/// What a run with a closed stdout did.
struct Closed {
    code: Option<i32>,
    stderr: String,
}

impl Closed {
    fn assert_quiet(&self, what: &str) {
        assert_eq!(self.code, Some(0), "{what}: exit code; stderr:\n{}", self.stderr);
        assert!(self.stderr.is_empty(), "{what}: stderr should be empty, got:\n{}", self.stderr);
    }
}

fn finish(mut child: Child) -> Closed {
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    Closed { code: status.code(), stderr }
}

/// Runs with stdout a pipe whose read end is closed before the command starts, so its first
/// write meets a broken pipe whatever the size of its output.
fn closed_from_the_start(w: &Workdir, args: &[&str]) -> Closed {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = w.cmd(args).stdout(writer).stderr(Stdio::piped()).spawn().unwrap();
    finish(child)
}

/// Runs with stdout a pipe that the reader closes after `n` bytes (`head -c`): an output much
/// larger than a pipe's buffer is still being written then, so the writer meets a broken pipe
/// mid-stream.
fn closed_after(w: &Workdir, n: usize, args: &[&str]) -> Closed {
    let mut child = w.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut head = vec![0u8; n];
    stdout.read_exact(&mut head).unwrap();
    drop(stdout);
    finish(child)
}

/// Fills `w`'s database with `n` pending jobs and `n` dead letters, each listing well over
/// 64 KiB.
fn crowd(w: &Workdir, n: usize) {
    w.run(&["init"]).expect(0);
    let payload = "p".repeat(200);
    let lines: String =
        (0..n).map(|i| format!("{{\"key\":\"job-{i:05}\",\"payload\":\"{payload}\"}}\n")).collect();
    let file = w.write("jobs.jsonl", &lines);
    w.run(&["enqueue", "--jsonl", file.to_str().unwrap()]).expect(0);
    let rows: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "('dead-{i:05}', 'default', '{payload}', 'boom', 4, 4, 1795472917,
                  '[{{\"attempt\":4,\"error\":\"boom\",\"at\":1795472917000}}]', 'exhausted')"
            )
        })
        .collect();
    w.execute(&format!(
        "INSERT INTO dead_letter (key, queue, payload, error, attempts, max_attempts, died,
                                  errors, reason) VALUES {}",
        rows.join(",")
    ));
}

crate::both_stores! {
    #[test]
    fn long_listings_end_quietly_when_the_reader_goes_away(w: Workdir) {
    crowd(&w, 1500);
    for args in [
        &["jobs", "--limit", "5000"][..],
        &["jobs", "--limit", "5000", "--json"],
        &["dlq", "list", "--limit", "5000"],
        &["dlq", "list", "--limit", "5000", "--json"],
    ] {
        // The first line of the table, or the first bytes of the one-line JSON array.
        closed_after(&w, 100, args).assert_quiet(&args.join(" "));
    }
    }
}

crate::both_stores! {
    #[test]
    fn every_command_ends_quietly_on_a_closed_stdout(w: Workdir) {
    crowd(&w, 3);
    w.write("nightshift.toml", "[handler]\ncommand = [\"true\"]\n");
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["jobs"],
        &["jobs", "show", "job-00001"],
        &["jobs", "show", "job-00001", "--json"],
        &["dlq", "list"],
        &["dlq", "show", "dead-00001"],
        &["dlq", "show", "dead-00001", "--json"],
        &["spend"],
        &["spend", "--json"],
        &["doctor"],
        &["doctor", "--json"],
        &["deploy", "cron"],
        &["deploy", "systemd"],
        &["init"],
        &["pause"],
        &["resume"],
        &["--help"],
        &["jobs", "--help"],
        &["--version"],
    ] {
        closed_from_the_start(&w, args).assert_quiet(&args.join(" "));
    }
    // Commands that change things still did so before their report went nowhere.
    let replayed = closed_from_the_start(&w, &["dlq", "replay", "dead-00001"]);
    replayed.assert_quiet("dlq replay");
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE key = 'dead-00001'"), 1);
    closed_from_the_start(&w, &["enqueue", "quiet", "{}"]).assert_quiet("enqueue");
    closed_from_the_start(&w, &["enqueue", "quiet-json", "{}", "--json"]).assert_quiet("enqueue");
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE key LIKE 'quiet%'"), 2);
    closed_from_the_start(&w, &["jobs", "purge", "quiet"]).assert_quiet("jobs purge");
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE key = 'quiet'"), 0);
    let jsonl = w.write("bulk.jsonl", "{\"key\": \"bulk-1\"}\n{\"key\": \"bulk-2\"}\n");
    let bulk = ["enqueue", "--jsonl", jsonl.to_str().unwrap()];
    closed_from_the_start(&w, &bulk).assert_quiet("enqueue --jsonl");
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE key LIKE 'bulk-%'"), 2);
    }
}

// SQLite only: the demo makes its own SQLite database by design.
#[test]
fn the_demo_ends_quietly_on_a_closed_stdout() {
    let w = Workdir::new();
    let dir = w.path().join("demo");
    closed_from_the_start(&w, &["demo", "--dir", dir.to_str().unwrap()]).assert_quiet("demo");
}

crate::both_stores! {
    #[test]
    fn a_runner_whose_stdout_is_closed_still_works_its_jobs(w: Workdir) {
    crowd(&w, 20);
    let run = closed_from_the_start(&w, &["run", "--once", "--", "true"]);
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 20);
    }
}
