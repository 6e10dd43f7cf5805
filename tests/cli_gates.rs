//! Gates seen from the command line: `run --once` says which gate held claims and when it
//! lifts, `status` shows the cap the runner holds claims to, a runner logs the kill switch
//! flipped from another shell, and `dlq replay` resets the breaker.

use std::time::Duration;

use crate::util::cli::{Workdir, signal, wait_exit, wait_until};

fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn named<'a>(events: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

fn json(w: &Workdir, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&w.run(args).expect(0).stdout).unwrap()
}

/// Two jobs for a handler that charges $0.002 each, under a $0.001 cap from the environment.
fn capped_run(w: &Workdir) -> crate::util::cli::Run {
    w.run(&["init"]).expect(0);
    let agent = w.script("agent.sh", "echo '{\"cost_usd\": 0.002}'");
    w.run(&["enqueue", "a", "{}"]).expect(0);
    w.run(&["enqueue", "b", "{}"]).expect(0);
    let out = w
        .cmd(&["run", "--once", "--", agent.to_str().unwrap()])
        .env("DAILY_CAP_USD", "0.001")
        .output()
        .unwrap();
    crate::util::cli::Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

crate::both_stores! {
    #[test]
    fn run_once_held_by_the_daily_cap_says_so_and_when_it_lifts(w: Workdir) {
    let run = capped_run(&w).expect(0);
    assert!(run.stderr.contains("the daily cap is reached"), "{}", run.stderr);
    assert!(run.stderr.contains("set by DAILY_CAP_USD"), "{}", run.stderr);
    assert!(run.stderr.contains("Claims resume at"), "{}", run.stderr);
    let evs = events(&run.stdout);
    let held = named(&evs, "claims_held");
    assert_eq!(held.len(), 1, "{evs:?}");
    assert_eq!(held[0]["gate"], "cap");
    assert!(held[0]["until"].as_i64().is_some(), "{:?}", held[0]);
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'pending'"), 1);
    }
}

crate::both_stores! {
    #[test]
    fn status_shows_the_cap_the_runner_holds_claims_to_without_it_in_its_environment(w: Workdir) {
    capped_run(&w).expect(0);
    // This shell has no DAILY_CAP_USD: the runner's cap still holds claims.
    let st = json(&w, &["status", "--json"]);
    assert_eq!(st["gate"]["gate"], "cap", "{st}");
    assert_eq!(st["cap_micros"], 1000, "{st}");
    assert_eq!(st["cap_set_by"], "DAILY_CAP_USD", "{st}");
    let text = w.run(&["status"]).expect(0).stdout;
    assert!(text.contains("daily cap reached"), "{text}");
    assert!(text.contains("cap $0.0010, set by DAILY_CAP_USD"), "{text}");
    assert_eq!(json(&w, &["spend", "--json"])["daily_cap_micros"], 1000);
    }
}

/// A job that fails until a file named `fixed` exists.
fn failing_agent(w: &Workdir) -> String {
    let body = "[ -f fixed ] && exit 0\necho 'upstream down' >&2\nexit 1";
    w.script("agent.sh", body).display().to_string()
}

crate::both_stores! {
    #[test]
    fn run_once_held_by_an_open_breaker_says_so_and_when_it_lifts(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", "[breaker]\nfailures = 1\ncooldown = \"1h\"\n");
    let agent = failing_agent(&w);
    w.run(&["enqueue", "job", "{}"]).expect(0);
    let run = w.run(&["run", "--once", "--wait", "1s", "--", &agent]).expect(0);
    assert!(run.stderr.contains("the circuit breaker is open after 1"), "{}", run.stderr);
    assert!(run.stderr.contains("probe job runs"), "{}", run.stderr);
    let evs = events(&run.stdout);
    assert_eq!(named(&evs, "claims_held")[0]["gate"], "breaker", "{evs:?}");
    }
}

crate::both_stores! {
    #[test]
    fn run_once_says_it_waits_for_the_breakers_probe(w: Workdir) {
    w.run(&["init"]).expect(0);
    let config =
        "[breaker]\nfailures = 1\ncooldown = \"1s\"\n[retry]\nbase = \"10ms\"\ncap = \"5s\"\n";
    w.write("nightshift.toml", config);
    let agent = failing_agent(&w);
    w.run(&["enqueue", "job", "{}"]).expect(0);
    // The first run opens the breaker and ends (no wait); the next one waits for the probe.
    w.run(&["run", "--once", "--wait", "0s", "--", &agent]).expect(0);
    w.write("fixed", "");
    let run = w.run(&["run", "--once", "--", &agent]).expect(0);
    assert!(run.stderr.contains("waiting until"), "{}", run.stderr);
    assert!(run.stderr.contains("probe job"), "{}", run.stderr);
    let evs = events(&run.stdout);
    assert_eq!(named(&evs, "waiting_for_gate")[0]["gate"], "breaker", "{evs:?}");
    assert_eq!(named(&evs, "breaker_closed").len(), 1, "{evs:?}");
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 1);
    }
}

crate::both_stores! {
    #[test]
    fn replaying_dead_letters_resets_the_breakers_count(w: Workdir) {
    w.run(&["init"]).expect(0);
    let config =
        "[breaker]\nfailures = 3\n[retry]\nmax_attempts = 2\nbase = \"10ms\"\ncap = \"50ms\"\n";
    w.write("nightshift.toml", config);
    let agent = failing_agent(&w);
    w.run(&["enqueue", "job", "{}"]).expect(0);
    w.run(&["run", "--once", "--", &agent]).expect(0);
    assert_eq!(w.count("SELECT count(*) FROM dead_letter"), 1);
    assert_eq!(json(&w, &["status", "--json"])["breaker_failures"], 2);
    w.run(&["dlq", "replay", "job"]).expect(0);
    assert_eq!(json(&w, &["status", "--json"])["breaker_failures"], 0);
    // Two more failures do not open the breaker: the count started again at the replay.
    let run = w.run(&["run", "--once", "--", &agent]).expect(0);
    assert!(named(&events(&run.stdout), "breaker_opened").is_empty(), "{}", run.stdout);
    }
}

crate::both_stores! {
    #[test]
    fn a_running_runner_logs_pause_and_resume_from_another_shell(w: Workdir) {
    w.run(&["init"]).expect(0);
    let agent = w.script("agent.sh", "exit 0");
    let mut runner = w.spawn_logged(&["run", "--", agent.to_str().unwrap()], "run.log");
    let logged = |name: &str| {
        let text = std::fs::read_to_string(w.path().join("run.log")).unwrap_or_default();
        events(&text).into_iter().find(|e| e["event"] == name)
    };
    wait_until(Duration::from_secs(10), "the runner starts", || logged("runner_started").is_some());
    w.run(&["pause", "--reason", "rotating keys"]).expect(0);
    wait_until(Duration::from_secs(10), "paused is logged", || logged("paused").is_some());
    assert_eq!(logged("paused").unwrap()["reason"], "rotating keys");
    w.run(&["resume"]).expect(0);
    wait_until(Duration::from_secs(10), "resumed is logged", || logged("resumed").is_some());
    signal(&runner, 15);
    assert!(wait_exit(&mut runner, Duration::from_secs(20)).success());
    }
}
