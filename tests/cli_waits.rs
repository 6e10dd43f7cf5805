//! Waits, signals and cancel through the binary (issue 13, items 2 and 6): a command handler
//! parks its job with `{"wait": ...}` and exit 75, `nightshift signal` continues it, a wait
//! times out into a failed attempt or a dead letter, `nightshift cancel` takes pending,
//! waiting and running jobs (the running one's handler gone within two seconds).

use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::cli::{Workdir, wait_exit, wait_until};

/// Fast retries, the breaker out of the way.
const CONFIG: &str = "[retry]\nbase = \"10ms\"\ncap = \"50ms\"\n[breaker]\nfailures = 1000\n";

fn ns() -> &'static str {
    env!("CARGO_BIN_EXE_nightshift")
}

/// A handler that waits for `approval` (on_timeout from the payload's text), then prints what
/// the signal carried; the key `quick` just succeeds, `long` sleeps (its pid in `long.pid`).
fn agent(w: &Workdir) -> String {
    let ns = ns();
    let body = format!(
        "case \"$NIGHTSHIFT_KEY\" in
  quick) echo quick; exit 0;;
  long) echo $$ > long.pid; exec sleep 300;;
esac
if answer=$({ns} step approval -- false); then echo \"approved: $answer\"; exit 0; fi
on_timeout=$(cat)
echo \"{{\\\"wait\\\": {{\\\"name\\\": \\\"approval\\\", \\\"timeout\\\": \\\"1s\\\", \\\"on_timeout\\\": \\\"$on_timeout\\\"}}}}\"
exit 75"
    );
    w.script("agent.sh", &body).display().to_string()
}

fn status(w: &Workdir, key: &str) -> String {
    w.text(&format!("SELECT status FROM jobs WHERE key = '{key}'"))
}

fn runner(w: &Workdir, agent: &str) -> Child {
    w.spawn_logged(&["run", "--workers", "1", "--", agent], "runner.log")
}

fn stop(mut child: Child) {
    crate::util::cli::signal(&child, libc::SIGTERM);
    wait_exit(&mut child, Duration::from_secs(20));
}

crate::both_stores! {
    #[test]
    fn a_waiting_job_holds_no_worker_and_resumes_on_signal_with_its_payload(w: Workdir) {
        w.run(&["init"]).expect(0);
        w.write("nightshift.toml", CONFIG);
        let agent = agent(&w);
        w.run(&["enqueue", "review", "retry"]).expect(0);
        let child = runner(&w, &agent);
        let limit = Duration::from_secs(20);
        // A 1 s timeout would fail it before the test signals: give it an hour instead.
        wait_until(limit, "review waits", || w.count("SELECT count(*) FROM jobs WHERE key = 'review' AND status = 'waiting'") == 1);
        w.execute("UPDATE jobs SET wait_until = wait_until + 3600000 WHERE key = 'review'");
        let listed = w.run(&["jobs", "--status", "waiting"]).expect(0).stdout;
        assert!(listed.contains("review"), "{listed}");
        let show: Value = serde_json::from_str(&w.run(&["status", "--json"]).expect(0).stdout).unwrap();
        assert_eq!((show["waiting"].as_u64(), show["done"].as_u64()), (Some(1), Some(0)), "{show}");

        // The one worker is free: another job runs while review waits.
        w.run(&["enqueue", "quick", "{}"]).expect(0);
        wait_until(limit, "quick done", || status(&w, "quick") == "done");
        assert_eq!(status(&w, "review"), "waiting");

        // A signal it does not wait for, or for a job not waiting: exit 1, nothing changes.
        let before = w.rows("SELECT key, status, run_at, updated_at FROM jobs ORDER BY key");
        let wrong = w.run(&["signal", "review", "other", "x"]).expect(1);
        assert!(wrong.stderr.contains("waits for the signal \"approval\""), "{}", wrong.stderr);
        w.run(&["signal", "quick", "approval", "x"]).expect(1);
        w.run(&["signal", "nope", "approval", "x"]).expect(1);
        assert_eq!(w.rows("SELECT key, status, run_at, updated_at FROM jobs ORDER BY key"), before);
        assert_eq!(w.count("SELECT count(*) FROM steps"), 0);

        let ok = w.run_with_stdin(&["signal", "review", "approval", "-"], b"yes").expect(0);
        assert!(ok.stdout.contains("signalled review"), "{}", ok.stdout);
        wait_until(limit, "review done", || status(&w, "review") == "done");
        assert_eq!(w.text("SELECT result FROM jobs WHERE key = 'review'"), "approved: yes\n");
        assert_eq!(w.count("SELECT attempts FROM jobs WHERE key = 'review'"), 0, "a wait is no failed attempt");
        stop(child);
        let log = std::fs::read_to_string(w.path().join("runner.log")).unwrap();
        assert!(log.contains("\"job_waiting\""), "{log}");
    }
}

crate::both_stores! {
    #[test]
    fn a_wait_that_times_out_is_a_failed_attempt_or_with_on_timeout_dead_a_dead_letter(w: Workdir) {
        w.run(&["init"]).expect(0);
        w.write("nightshift.toml", CONFIG);
        let agent = agent(&w);
        w.run(&["enqueue", "retried", "retry", "--max-attempts", "2"]).expect(0);
        w.run(&["enqueue", "buried", "dead", "--max-attempts", "5"]).expect(0);
        let child = runner(&w, &agent);
        wait_until(Duration::from_secs(30), "both dead-lettered", || {
            w.count("SELECT count(*) FROM dead_letter") == 2
        });
        stop(child);
        let rows = w.rows("SELECT key, reason, attempts, error FROM dead_letter ORDER BY key");
        assert_eq!((rows[0][0].as_str(), rows[0][1].as_str(), rows[0][2].as_str()), ("buried", "permanent", "1"), "{rows:?}");
        assert_eq!((rows[1][0].as_str(), rows[1][1].as_str(), rows[1][2].as_str()), ("retried", "exhausted", "2"), "{rows:?}");
        assert!(rows[1][3].contains("timed out"), "{rows:?}");
    }
}

/// Whether process `pid` is gone.
fn gone(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) != 0 }
}

crate::both_stores! {
    #[test]
    fn cancel_takes_pending_waiting_and_running_jobs_and_the_handler_is_gone_within_two_seconds(w: Workdir) {
        w.run(&["init"]).expect(0);
        w.write("nightshift.toml", CONFIG);
        let agent = agent(&w);
        let limit = Duration::from_secs(20);
        w.run(&["enqueue", "parked", "retry"]).expect(0);
        let child = runner(&w, &agent);
        wait_until(limit, "parked waits", || status(&w, "parked") == "waiting");
        w.execute("UPDATE jobs SET wait_until = wait_until + 3600000 WHERE key = 'parked'");
        w.run(&["enqueue", "long", "{}"]).expect(0);
        let pid_file = w.path().join("long.pid");
        wait_until(limit, "long runs", || std::fs::read_to_string(&pid_file).is_ok_and(|t| t.ends_with('\n')));
        let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        w.run(&["enqueue", "queued", "{}"]).expect(0);
        assert_eq!(status(&w, "queued"), "pending", "the one worker is busy");

        let started = Instant::now();
        let out = w.run(&["cancel", "queued", "parked", "long"]).expect(0).stdout;
        assert!(out.contains("cancelled long (was running"), "{out}");
        wait_until(Duration::from_secs(2), "the handler gone", || gone(pid));
        assert!(started.elapsed() < Duration::from_secs(2));
        for key in ["queued", "parked", "long"] {
            assert_eq!(status(&w, key), "cancelled", "{key}");
        }
        // The outcome of the killed attempt is fenced out: the row stays cancelled.
        wait_until(limit, "the worker free", || {
            w.run(&["enqueue", "quick", "{}"]);
            status(&w, "quick") == "done"
        });
        assert_eq!(status(&w, "long"), "cancelled");
        stop(child);

        let again = w.run(&["enqueue", "queued", "{}"]).expect(0).stdout;
        assert!(again.contains("cancelled queued"), "{again}");
        w.run(&["cancel", "queued"]).expect(1);
        let st: Value = serde_json::from_str(&w.run(&["status", "--json"]).expect(0).stdout).unwrap();
        assert_eq!((st["cancelled"].as_u64(), st["done"].as_u64()), (Some(3), Some(1)), "{st}");
    }
}

crate::both_stores! {
    #[test]
    fn cancel_queue_takes_every_live_job_of_the_queue(w: Workdir) {
        w.run(&["init"]).expect(0);
        for key in ["a", "b"] {
            w.run(&["enqueue", key, "{}", "--queue", "mail"]).expect(0);
        }
        w.run(&["enqueue", "c", "{}"]).expect(0);
        let json: Value = serde_json::from_str(&w.run(&["cancel", "--queue", "mail", "--json"]).expect(0).stdout).unwrap();
        assert_eq!(json.as_array().unwrap().len(), 2, "{json}");
        assert_eq!(json[0], serde_json::json!({"key": "a", "was": "pending"}));
        assert_eq!(status(&w, "c"), "pending");
    }
}

crate::both_stores! {
    #[test]
    fn the_waiting_alert_carries_the_command_that_continues_the_job(w: Workdir) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let sink = rt.block_on(crate::util::sink::Sink::start());
        w.run(&["init"]).expect(0);
        w.write("nightshift.toml", &format!("{CONFIG}[alert]\nformat = \"json\"\n"));
        let agent = agent(&w);
        w.run(&["enqueue", "needs review", "retry"]).expect(0);
        let log = std::fs::File::create(w.path().join("runner.log")).unwrap();
        let mut cmd = w.cmd(&["run", "--", &agent]);
        cmd.env("ALERT_WEBHOOK", sink.url("/hook")).stdout(log.try_clone().unwrap()).stderr(log);
        let child = cmd.spawn().unwrap();
        wait_until(Duration::from_secs(20), "the waiting alert", || {
            sink.received().iter().any(|r| r.json()["kind"] == "waiting")
        });
        stop(child);
        let alert = sink.received().into_iter().find(|r| r.json()["kind"] == "waiting").unwrap().json();
        let text = alert["text"].as_str().unwrap();
        assert!(text.contains("nightshift signal 'needs review' approval -"), "{text}");
    }
}

crate::both_stores! {
    #[test]
    fn the_api_signals_and_cancels_as_the_commands_do(w: Workdir) {
        use crate::util::http::Server;
        w.run(&["init"]).expect(0);
        w.run(&["enqueue", "a", "{}"]).expect(0);
        w.run(&["enqueue", "parked", "{}"]).expect(0);
        w.execute("UPDATE jobs SET status = 'waiting', wait_name = 'ok', wait_until = 9000000000000 WHERE key = 'parked'");
        let server = Server::start(&w, &[]);
        let post = |path: &str, body: &[u8]| server.request("POST", path, &[], body);
        let r = post("/api/jobs/a/signal/ok", b"x").expect(409);
        assert_eq!(r.json()["outcome"], "not_waiting", "{r:?}");
        let r = post("/api/jobs/parked/signal/ok", b"yes").expect(200);
        assert_eq!(r.json()["outcome"], "resumed");
        assert_eq!(w.text("SELECT output FROM steps WHERE job_key = 'parked' AND name = 'ok'"), "yes");
        assert_eq!(status(&w, "parked"), "pending");
        let r = post("/api/jobs/a/cancel", b"").expect(200);
        assert_eq!(r.json(), serde_json::json!({"key": "a", "was": "pending"}));
        post("/api/jobs/a/cancel", b"").expect(409);
        post("/api/jobs/nope/cancel", b"").expect(404);
        server.stop();
    }
}

/// `at` (unix ms) as the commands print times: RFC 3339, UTC, milliseconds.
pub fn rfc3339(at: i64) -> String {
    let at = chrono::DateTime::from_timestamp_millis(at).unwrap();
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Runs `line` in a POSIX shell that finds this `nightshift` on its PATH, with the workdir's
/// database, `input` on stdin; returns its exit code and stderr.
fn shell(w: &Workdir, line: &str, input: &[u8]) -> (Option<i32>, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let like = w.cmd(&[]);
    let mut sh = Command::new("sh");
    sh.args(["-c", line]).current_dir(w.path());
    for (name, value) in like.get_envs() {
        match value {
            Some(value) => sh.env(name, value),
            None => sh.env_remove(name),
        };
    }
    let bin = std::path::Path::new(ns()).parent().unwrap().display().to_string();
    sh.env("PATH", format!("{bin}:{}", std::env::var("PATH").unwrap_or_default()));
    let mut child =
        sh.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

crate::both_stores! {
    #[test]
    fn jobs_show_says_what_a_waiting_job_waits_for_and_its_command_continues_it(w: Workdir) {
        w.run(&["init"]).expect(0);
        w.write("nightshift.toml", &format!("{CONFIG}[[limit]]\nname = \"openai\"\n"));
        // Waits an hour for `approval`, what its timeout does taken from the payload.
        let agent = w.script("agent.sh", &format!(
            "if answer=$({} step approval -- false); then echo \"approved: $answer\"; exit 0; fi\n\
             echo \"{{\\\"wait\\\": {{\\\"name\\\": \\\"approval\\\", \\\"timeout\\\": \\\"1h\\\", \\\"on_timeout\\\": \\\"$(cat)\\\"}}}}\"\n\
             exit 75", ns()));
        w.run(&["enqueue", "needs review", "dead", "--limit", "openai"]).expect(0);
        w.run(&["enqueue", "plain", "retry"]).expect(0);
        let child = runner(&w, agent.to_str().unwrap());
        wait_until(Duration::from_secs(20), "both wait", || {
            w.count("SELECT count(*) FROM jobs WHERE status = 'waiting'") == 2
        });
        stop(child);

        let until = w.count("SELECT wait_until FROM jobs WHERE key = 'needs review'");
        let show = w.run(&["jobs", "show", "needs review"]).expect(0).stdout;
        let command = "nightshift signal 'needs review' approval -";
        for line in [
            "limit         openai".to_owned(),
            "waits for     approval".to_owned(),
            format!("deadline      {}, then dead (dead-lettered at once)", rfc3339(until)),
            format!("continue with {command}"),
        ] {
            assert!(show.lines().any(|l| l == line), "{line:?} in:\n{show}");
        }
        let json: Value = serde_json::from_str(&w.run(&["jobs", "show", "needs review", "--json"]).expect(0).stdout).unwrap();
        assert_eq!(json["wait"], serde_json::json!({"name": "approval", "until": until, "on_timeout": "dead"}), "{json}");
        assert_eq!(json["limit"], "openai");
        let plain: Value = serde_json::from_str(&w.run(&["jobs", "show", "plain", "--json"]).expect(0).stdout).unwrap();
        assert_eq!((plain["wait"]["on_timeout"].as_str(), &plain["limit"]), (Some("retry"), &Value::Null), "{plain}");

        // The command shown, pasted into a shell as it is, continues the job; then no wait is
        // shown any more.
        let (code, stderr) = shell(&w, command, b"yes");
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(w.text("SELECT output FROM steps WHERE job_key = 'needs review'"), "yes");
        let json: Value = serde_json::from_str(&w.run(&["jobs", "show", "needs review", "--json"]).expect(0).stdout).unwrap();
        assert_eq!((json["status"].as_str(), &json["wait"]), (Some("pending"), &Value::Null), "{json}");
        let show = w.run(&["jobs", "show", "needs review"]).expect(0).stdout;
        assert!(!show.contains("waits for") && !show.contains("continue with"), "{show}");
    }
}
