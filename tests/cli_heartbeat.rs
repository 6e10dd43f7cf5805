//! The dead-man's switch (`HEARTBEAT_URL` / `[heartbeat]`) through the binary: which pings
//! `run --once` and a continuous runner send, a monitor that is down or hangs changing neither
//! the exit code nor more than a bounded wait, `doctor` checking the host without pinging, the
//! URL kept out of every output and every handler, and bad settings refused.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::cli::{Workdir, wait_exit, wait_until};
use crate::util::sink::{Received, Sink};

/// The secret part of every heartbeat URL here.
const TOKEN: &str = "hb-5ecret-7oken-0042";

/// The ping URL's path: the monitor's check, as a healthchecks.io URL names it.
fn check_path() -> String {
    format!("/ping/{TOKEN}")
}

fn with_url(mut cmd: Command, url: &str) -> Command {
    cmd.env("HEARTBEAT_URL", url);
    cmd
}

/// The paths of the pings `sink` received, in order.
fn paths(received: &[Received]) -> Vec<String> {
    received.iter().map(|r| r.path_and_query.clone()).collect()
}

fn sent_text(received: &Received) -> String {
    String::from_utf8_lossy(&received.body).into_owned()
}

/// `run --once` for one job the handler `agent.sh` completes.
fn one_job(w: &Workdir) -> String {
    w.run(&["init"]).expect(0);
    w.run(&["enqueue", "only", "{}"]).expect(0);
    w.script("agent.sh", "exit 0").to_str().unwrap().to_owned()
}

fn no_token(what: &str, text: &str) {
    assert!(!text.contains(TOKEN), "the heartbeat URL's token leaked into {what}: {text}");
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn run_once_pings_start_then_the_bare_url_when_it_ends_well(w: Workdir) {
    let sink = Sink::start().await;
    let agent = one_job(&w);
    let mut run = with_url(w.cmd(&["run", "--once", "--", &agent]), &sink.url(&check_path()));
    let out = run.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // The run waits (a bounded while) for its last ping: both are in when it has exited.
    let received = sink.received();
    let check = check_path();
    assert_eq!(paths(&received), [format!("{check}/start"), check]);
    assert!(received.iter().all(|r| r.method == "POST"), "pings are POSTs");
    assert!(sent_text(&received[1]).contains("exit 0"), "{}", sent_text(&received[1]));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("heartbeat_"), "no ping failed");
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 1);
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_once_that_exits_non_zero_pings_fail_with_its_exit_status(w: Workdir) {
    let sink = Sink::start().await;
    one_job(&w);
    let mut run = with_url(w.cmd(&["run", "--once", "--", "nosuchprogram"]), &sink.url(&check_path()));
    assert_eq!(run.output().unwrap().status.code(), Some(2));
    let received = sink.received();
    let check = check_path();
    assert_eq!(paths(&received), [format!("{check}/start"), format!("{check}/fail")]);
    let why = sent_text(&received[1]);
    assert!(why.contains("exit 2") && why.contains("nosuchprogram"), "{why}");
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_that_fails_is_not_a_run_that_fails(w: Workdir) {
    // A dead-lettered job is the job's failure, reported by an alert; the run itself went well
    // (exit 0), and that is what the monitor hears.
    let sink = Sink::start().await;
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", "[retry]\nmax_attempts = 1\n");
    w.run(&["enqueue", "doomed", "{}"]).expect(0);
    let mut run = with_url(w.cmd(&["run", "--once", "--", "false"]), &sink.url(&check_path()));
    assert_eq!(run.output().unwrap().status.code(), Some(0));
    assert_eq!(w.count("SELECT count(*) FROM dead_letter"), 1);
    let check = check_path();
    assert_eq!(paths(&sink.received()), [format!("{check}/start"), check]);
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_continuous_runner_pings_every_interval_and_fail_when_it_gives_up(w: Workdir) {
    let sink = Sink::start().await;
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", "[heartbeat]\ninterval = \"1s\"\n");
    // The handler deletes itself: the second job cannot be started and the runner exits 1.
    let agent = w.script("agent.sh", "rm -- \"$0\"");
    let run = with_url(w.cmd(&["run", "--", agent.to_str().unwrap()]), &sink.url(&check_path()));
    let mut runner = {
        let mut run = run;
        run.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        run.spawn().unwrap()
    };
    let check = check_path();
    wait_until(Duration::from_secs(20), "three pings a second apart", || {
        paths(&sink.received()).iter().filter(|p| **p == check).count() >= 3
    });
    let received = sink.received();
    let gap = received[2].at - received[1].at;
    assert!(gap >= Duration::from_millis(500), "pings {gap:?} apart for a 1s interval");
    w.run(&["enqueue", "first", "{}", "--priority", "1"]).expect(0);
    w.run(&["enqueue", "second", "{}"]).expect(0);
    let status = wait_exit(&mut runner, Duration::from_secs(30));
    assert_eq!(status.code(), Some(1));
    let received = sink.received();
    let last = received.last().unwrap();
    assert_eq!(last.path_and_query, format!("{check}/fail"));
    assert!(sent_text(last).contains("exit 1"), "{}", sent_text(last));
    let pinged = paths(&received);
    assert!(!pinged.contains(&format!("{check}/start")), "a continuous runner sends no /start");
    assert_eq!(pinged.iter().filter(|p| p.ends_with("/fail")).count(), 1);
    }
}

crate::both_stores! {
    #[test]
    fn a_refused_ping_is_a_warning_and_the_run_still_exits_0(w: Workdir) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let agent = one_job(&w);
    let url = format!("http://127.0.0.1:{port}{}", check_path());
    let out = with_url(w.cmd(&["run", "--once", "--", &agent]), &url).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let failed: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "heartbeat_failed")
        .collect();
    assert_eq!(failed.len(), 2, "start and success both failed: {stdout}");
    assert_eq!(failed[0]["ping"], "start");
    assert_eq!(failed[0]["level"], "warn");
    assert_eq!(failed[0]["host"], "http://127.0.0.1:".to_owned() + &port.to_string());
    assert!(failed[0]["error"].as_str().unwrap().contains("connection refused"), "{stdout}");
    no_token("stdout", &stdout);
    no_token("stderr", &String::from_utf8_lossy(&out.stderr));
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 1);
    }
}

crate::both_stores! {
    #[test]
    fn a_monitor_that_never_answers_adds_a_bounded_wait_and_no_failure(w: Workdir) {
    // Connections are taken by the kernel's backlog and then nobody reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}{}", silent.local_addr().unwrap(), check_path());
    let agent = one_job(&w);
    let started = Instant::now();
    let out = with_url(w.cmd(&["run", "--once", "--", &agent]), &url).output().unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    // The run itself is well under a second; the exit waits at most 2 s for the pings. The
    // bound leaves room for a slow machine and still catches a wait for the 5 s ping timeout
    // (twice over, for /start and the final ping).
    assert!(took < Duration::from_secs(9), "the run took {took:?} with a silent monitor");
    assert!(stdout.contains("\"heartbeat_unfinished\""), "{stdout}");
    no_token("stdout", &stdout);
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 1);
    drop(silent);
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_url_never_reaches_output_or_a_handlers_environment(w: Workdir) {
    let sink = Sink::start().await;
    w.run(&["init"]).expect(0);
    w.run(&["enqueue", "env-dump", "{}"]).expect(0);
    let agent = w.script("agent.sh", "env > handler-env.txt");
    let url = sink.url(&check_path());
    // A copy of the URL under another name is kept from the handler too.
    let mut run = with_url(w.cmd(&["run", "--once", "--", agent.to_str().unwrap()]), &url);
    run.env("MY_MONITOR", &url);
    let out = run.output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let env = std::fs::read_to_string(w.path().join("handler-env.txt")).unwrap();
    assert!(env.contains("NIGHTSHIFT_KEY=env-dump"), "{env}");
    no_token("the handler's environment", &env);
    assert!(!env.contains("HEARTBEAT_URL"), "{env}");
    let mut outputs = vec![("run", out)];
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["doctor"],
        &["doctor", "--json"],
        &["deploy", "cron", "--", "/bin/true"],
        &["deploy", "systemd", "--", "/bin/true"],
        &["deploy", "fly"],
    ] {
        outputs.push((args[0], with_url(w.cmd(args), &url).output().unwrap()));
    }
    for (what, out) in &outputs {
        no_token(what, &String::from_utf8_lossy(&out.stdout));
        no_token(what, &String::from_utf8_lossy(&out.stderr));
    }
    let doctor = String::from_utf8_lossy(&outputs[3].1.stdout).into_owned();
    assert!(doctor.contains(&format!("pings go to http://{}", sink.addr)), "{doctor}");
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn doctor_checks_the_monitors_host_without_pinging_it(w: Workdir) {
    let sink = Sink::start().await;
    w.run(&["init"]).expect(0);
    let heartbeat = |url: Option<&str>| -> (String, String) {
        let mut cmd = w.cmd(&["doctor", "--json"]);
        if let Some(url) = url {
            cmd.env("HEARTBEAT_URL", url);
        }
        let out = cmd.output().unwrap();
        let checks: Vec<Value> = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        let c = checks.iter().find(|c| c["check"] == "heartbeat").expect("a heartbeat check");
        (c["status"].as_str().unwrap().to_owned(), c["message"].as_str().unwrap().to_owned())
    };
    let (status, message) = heartbeat(None);
    assert_eq!(status, "warn");
    assert!(message.contains("HEARTBEAT_URL"), "{message}");
    let (status, message) = heartbeat(Some(&sink.url(&check_path())));
    assert_eq!(status, "ok", "{message}");
    assert!(message.contains("no ping"), "{message}");
    let received = sink.received();
    assert_eq!(received.len(), 1, "one request to the host: {:?}", paths(&received));
    assert_eq!((received[0].method.as_str(), received[0].path_and_query.as_str()), ("HEAD", "/"));
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (status, message) = heartbeat(Some(&format!("http://{refused}{}", check_path())));
    assert_eq!(status, "fail", "{message}");
    assert!(message.contains("connection refused"), "{message}");
    no_token("doctor", &message);
    }
}

// No store: the settings are refused before any database is opened.
#[test]
fn bad_heartbeat_settings_exit_2_naming_the_key_and_never_the_url() {
    let w = Workdir::new();
    let secret_url = format!("ftp://hc-ping.example/{TOKEN}");
    w.write("nightshift.toml", &format!("[heartbeat]\nurl = \"{secret_url}\"\n"));
    let run = w.run(&["status"]).expect(2);
    assert!(
        run.stderr.contains("[heartbeat] url") && run.stderr.contains("http(s)"),
        "{}",
        run.stderr
    );
    no_token("stderr", &run.stderr);
    w.write("nightshift.toml", "[heartbeat]\ninterval = \"500ms\"\n");
    let run = w.run(&["run", "--once", "--", "true"]).expect(2);
    assert!(run.stderr.contains("[heartbeat] interval"), "{}", run.stderr);
    std::fs::remove_file(w.path().join("nightshift.toml")).unwrap();
    let out =
        with_url(w.cmd(&["status"]), &format!("mailto:{TOKEN}@example.com")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HEARTBEAT_URL"), "{stderr}");
    no_token("stderr", &stderr);
}
