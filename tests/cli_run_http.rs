//! `run --http`: the API served by a continuous runner, its writes going through the runner's
//! engine: an enqueue runs, a pause holds claims and a resume lets them through, a replayed
//! dead letter runs again; refused with `--once` and beyond loopback without a token; a SIGTERM
//! stops the listener with the runner.

use std::net::TcpStream;
use std::time::Duration;

use crate::util::cli::{Workdir, wait_until};
use crate::util::http::{AUTH, Server, Stopped, TOKEN};

/// A runner of `agent` serving the API on a free loopback port, with the token set.
fn runner(w: &Workdir, agent: &std::path::Path) -> Server {
    let agent = agent.to_str().unwrap();
    let args = ["run", "--http", "127.0.0.1:0", "--log-format", "json", "--", agent];
    Server::spawn(w, &args, &[("NIGHTSHIFT_TOKEN", TOKEN)])
}

/// The job's status as the API shows it.
fn status_of(server: &Server, key: &str) -> String {
    let job = server.request("GET", &format!("/api/jobs/{key}"), &[AUTH], b"").expect(200).json();
    job["status"].as_str().unwrap().to_owned()
}

fn wait_done(server: &Server, key: &str) {
    wait_until(Duration::from_secs(20), &format!("{key} is done"), || {
        status_of(server, key) == "done"
    });
}

/// SIGTERM; the runner and its listener exit 0.
fn stop_cleanly(server: Server) -> Stopped {
    let stopped = server.stop();
    assert_eq!(stopped.code, Some(0), "{}", stopped.stderr);
    stopped
}

crate::both_stores! {
    #[test]
    fn a_job_enqueued_over_http_is_run_by_the_runner(w: Workdir) {
    w.run(&["init"]).expect(0);
    let agent = w.script("agent.sh", "cat > /dev/null; exit 0");
    let server = runner(&w, &agent);
    let body = r#"{"key":"digest-1","payload":{"topic":"inbox"}}"#;
    server.request("POST", "/api/jobs", &[AUTH], body.as_bytes()).expect(201);
    wait_done(&server, "digest-1");
    stop_cleanly(server);
    }
}

crate::both_stores! {
    #[test]
    fn a_pause_over_http_holds_claims_until_a_resume_over_http(w: Workdir) {
    w.run(&["init"]).expect(0);
    let agent = w.script("agent.sh", "cat > /dev/null; exit 0");
    let server = runner(&w, &agent);
    let paused = server.request("POST", "/api/pause", &[AUTH], br#"{"reason":"deploying"}"#);
    assert_eq!(paused.expect(200).json(), serde_json::json!({"paused": true, "changed": true}));
    let again = server.request("POST", "/api/pause", &[AUTH], br#"{"reason":"deploying"}"#);
    assert_eq!(again.expect(200).json()["changed"], false);
    server.request("POST", "/api/jobs", &[AUTH], br#"{"key":"held"}"#).expect(201);
    // Several of the runner's polls go by: the job stays pending.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(status_of(&server, "held"), "pending");
    let status = server.request("GET", "/api/status", &[AUTH], b"").expect(200).json();
    assert_eq!((&status["paused"], &status["pause_reason"]), (&true.into(), &"deploying".into()));
    let resumed = server.request("POST", "/api/resume", &[AUTH], b"").expect(200).json();
    assert_eq!(resumed, serde_json::json!({"paused": false, "changed": true}));
    wait_done(&server, "held");
    stop_cleanly(server);
    }
}

crate::both_stores! {
    #[test]
    fn a_dead_letter_replayed_over_http_runs_again(w: Workdir) {
    w.run(&["init"]).expect(0);
    // Exit 65 is permanent: dead-lettered at once, until the fix is in.
    let fixed = w.path().join("fixed");
    let agent = w.script("agent.sh", &format!("cat > /dev/null; test -e {} || exit 65", fixed.display()));
    let server = runner(&w, &agent);
    server.request("POST", "/api/jobs", &[AUTH], br#"{"key":"poison"}"#).expect(201);
    wait_until(Duration::from_secs(20), "poison is dead-lettered", || {
        server.request("GET", "/api/dlq/poison", &[AUTH], b"").status == 200
    });
    std::fs::write(&fixed, "").unwrap();
    let replayed = server.request("POST", "/api/dlq/poison/replay", &[AUTH], b"").expect(200).json();
    assert_eq!(replayed, serde_json::json!({"replayed": ["poison"], "missing": []}));
    wait_done(&server, "poison");
    server.request("GET", "/api/dlq/poison", &[AUTH], b"").expect(404);
    stop_cleanly(server);
    }
}

crate::both_stores! {
    #[test]
    fn a_sigterm_stops_the_listener_with_the_runner(w: Workdir) {
    w.run(&["init"]).expect(0);
    let agent = w.script("agent.sh", "cat > /dev/null; exit 0");
    let server = runner(&w, &agent);
    server.request("GET", "/healthz", &[], b"").expect(200);
    let addr = server.addr;
    let stopped = stop_cleanly(server);
    assert!(stopped.stdout.contains("\"http_stopped\""), "{}", stopped.stdout);
    assert!(stopped.stdout.contains("\"runner_stopped\""), "{}", stopped.stdout);
    assert!(TcpStream::connect(addr).is_err(), "{addr} still accepts connections");
    }
}

#[test]
fn run_once_with_http_is_refused() {
    let w = Workdir::new();
    w.run(&["init"]).expect(0);
    let agent = w.script("agent.sh", "exit 0");
    let run = w.run(&["run", "--once", "--http", "127.0.0.1:0", "--", agent.to_str().unwrap()]);
    let run = run.expect(2);
    assert!(run.stderr.contains("--http") && run.stderr.contains("--once"), "{}", run.stderr);
    assert!(run.stderr.contains("nightshift serve"), "names the fix: {}", run.stderr);
}

#[test]
fn run_http_beyond_loopback_without_a_token_is_refused() {
    let w = Workdir::new();
    w.run(&["init"]).expect(0);
    let agent = w.script("agent.sh", "exit 0");
    let run = w.run(&["run", "--http", "0.0.0.0:0", "--", agent.to_str().unwrap()]);
    let run = run.expect(2);
    assert!(run.stderr.contains("NIGHTSHIFT_TOKEN"), "names the fix: {}", run.stderr);
}
