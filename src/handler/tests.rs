//! Tests for the command handler, run against small `/bin/sh` scripts written into a TempDir.
//! Nothing sleeps for a fixed time: every wait polls a condition under a deadline.

use std::collections::HashMap;
use std::ffi::OsString;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nightshift_actors::{ErrorClass, Handler, Job, Outcome, Usage};
use tempfile::TempDir;

use super::CommandHandler;

/// A safety net for a hung test, not a wait for an outcome.
const RUN_LIMIT: Duration = Duration::from_secs(30);
const WAIT_LIMIT: Duration = Duration::from_secs(5);

fn script(dir: &TempDir, name: &str, body: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Shell text that writes `pid_expr` to `path` atomically.
fn write_pid(pid_expr: &str, path: &Path) -> String {
    let path = path.display();
    format!("echo {pid_expr} > '{path}.tmp' && mv '{path}.tmp' '{path}'")
}

fn test_env() -> Vec<(OsString, OsString)> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    vec![("PATH".into(), path)]
}

fn handler(argv: Vec<String>) -> CommandHandler {
    CommandHandler::new(argv, vec![65], vec![]).with_base_env(test_env())
}

fn job(payload: &str) -> Job {
    Job {
        key: "key-1".to_owned(),
        queue: "mail".to_owned(),
        payload: payload.to_owned(),
        attempt: 2,
        max_attempts: 7,
        timeout: Duration::from_secs(60),
        steps: Default::default(),
    }
}

async fn run(handler: &CommandHandler, payload: &str) -> Outcome {
    tokio::time::timeout(RUN_LIMIT, handler.run(job(payload))).await.expect("the run finished")
}

fn success(outcome: Outcome) -> (String, f64) {
    match outcome {
        Outcome::Success { result, cost_usd } => (result.expect("a result"), cost_usd),
        Outcome::Metered { outcome, .. } => success(*outcome),
        other => panic!("expected success, got {other:?}"),
    }
}

fn retry(outcome: Outcome) -> (String, f64, Option<Duration>) {
    match outcome {
        Outcome::Retry { error, cost_usd, delay } => (error, cost_usd, delay),
        other => panic!("expected retry, got {other:?}"),
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the handler until `pid_file` appears, then drops the run future; returns the pid.
async fn run_then_drop(handler: &CommandHandler, pid_file: &Path) -> i32 {
    let appeared = wait_until("the pid file", || pid_file.exists());
    tokio::select! {
        outcome = handler.run(job("")) => panic!("the run ended on its own: {outcome:?}"),
        () = appeared => {}
    }
    std::fs::read_to_string(pid_file).unwrap().trim().parse().unwrap()
}

/// Gone or a zombie: PID 1 in a container may never reap orphans.
fn is_dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state == 'Z' || state == 'X'),
    }
}

/// Gone entirely: exited and reaped (no zombie).
fn is_reaped(pid: i32) -> bool {
    !PathBuf::from(format!("/proc/{pid}")).exists()
}

async fn within_limit<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(RUN_LIMIT, future).await.expect("finished in time")
}

#[tokio::test]
async fn arguments_and_payload_are_never_interpreted_by_a_shell() {
    let dir = TempDir::new().unwrap();
    let marker = dir.path().join("pwned");
    let arg_marker = dir.path().join("pwned-arg");
    let argv = vec![
        script(&dir, "echo.sh", "printf '%s\\n' \"$@\"\ncat"),
        "; rm -rf /tmp/x".to_owned(),
        format!("$(touch {})", arg_marker.display()),
    ];
    let payload = format!("$(touch {}); `touch {}`", marker.display(), marker.display());
    let (result, _) = success(run(&handler(argv.clone()), &payload).await);
    assert_eq!(result, format!("{}\n{}\n{payload}", argv[1], argv[2]));
    assert!(!marker.exists() && !arg_marker.exists());
}

#[tokio::test]
async fn the_payload_arrives_on_stdin_and_stdin_is_closed() {
    let dir = TempDir::new().unwrap();
    let argv = vec![script(&dir, "read.sh", "cat > /dev/null\necho read-to-eof")];
    let (result, _) = success(run(&handler(argv), "{\"to\":\"a@b.c\"}").await);
    assert_eq!(result, "read-to-eof\n");
}

#[tokio::test]
async fn a_large_payload_through_a_child_that_echoes_it_does_not_deadlock() {
    let dir = TempDir::new().unwrap();
    let payload: String = (0..1_000_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let (result, _) = success(run(&handler(vec![script(&dir, "cat.sh", "cat")]), &payload).await);
    assert_eq!(result, payload[..64 * 1024]);
}

#[tokio::test]
async fn a_child_that_never_reads_stdin_does_not_block_us() {
    let dir = TempDir::new().unwrap();
    let payload = "x".repeat(1_000_000);
    let (error, _, _) = retry(run(&handler(vec![script(&dir, "x.sh", "exit 3")]), &payload).await);
    assert_eq!(error, "exit status 3");
}

#[tokio::test]
async fn the_environment_has_the_job_and_not_the_secrets() {
    let dir = TempDir::new().unwrap();
    let mut base = test_env();
    for (name, value) in [
        ("ALERT_WEBHOOK", "https://hooks.example/a"),
        ("NIGHTSHIFT_ALERT_WEBHOOK", "https://hooks.example/b"),
        ("HEARTBEAT_URL", "https://hc-ping.example/c"),
        ("DAILY_CAP_USD", "5"),
        ("NIGHTSHIFT_TOKEN", "tok-0123456789abcdef"),
        ("MY_RENAMED_HOOK", " https://secret.example/token\n"),
        ("OPENAI_API_KEY", "sk-test-123"),
        ("NIGHTSHIFT_KEY", "stale"),
    ] {
        base.push((name.into(), value.into()));
    }
    let argv = vec![script(&dir, "env.sh", "env")];
    let handler = CommandHandler::new(argv, vec![], vec!["https://secret.example/token".into()])
        .with_base_env(base);
    let (result, _) = success(run(&handler, "").await);
    let env: HashMap<&str, &str> = result.lines().filter_map(|line| line.split_once('=')).collect();
    assert_eq!(env.get("NIGHTSHIFT_KEY"), Some(&"key-1"));
    assert_eq!(env.get("NIGHTSHIFT_QUEUE"), Some(&"mail"));
    assert_eq!(env.get("NIGHTSHIFT_ATTEMPT"), Some(&"2"));
    assert_eq!(env.get("NIGHTSHIFT_MAX_ATTEMPTS"), Some(&"7"));
    assert_eq!(env.get("OPENAI_API_KEY"), Some(&"sk-test-123"));
    let stripped = [
        "ALERT_WEBHOOK",
        "NIGHTSHIFT_ALERT_WEBHOOK",
        "HEARTBEAT_URL",
        "DAILY_CAP_USD",
        "NIGHTSHIFT_TOKEN",
    ];
    for name in stripped.into_iter().chain(["MY_RENAMED_HOOK"]) {
        assert!(!env.contains_key(name), "{name} reached the child");
    }
    assert!(!result.contains("secret.example"));
}

#[tokio::test]
async fn dropping_the_run_kills_grandchildren_and_reaps_the_child() {
    let dir = TempDir::new().unwrap();
    let child_pid = dir.path().join("child.pid");
    let grandchild_pid = dir.path().join("grandchild.pid");
    let body = format!(
        "{}\nsleep 300 &\n{}\nwait",
        write_pid("$$", &child_pid),
        write_pid("$!", &grandchild_pid)
    );
    let handler = handler(vec![script(&dir, "spawner.sh", &body)]);
    let grandchild = run_then_drop(&handler, &grandchild_pid).await;
    let child: i32 = std::fs::read_to_string(&child_pid).unwrap().trim().parse().unwrap();
    wait_until("the grandchild to die", || is_dead(grandchild)).await;
    wait_until("the child to be reaped", || is_reaped(child)).await;
}

/// The trap also writes to stdout and stderr: a child shutting down gracefully must not be
/// killed by SIGPIPE because our readers went away with the dropped future.
#[tokio::test]
async fn dropping_the_run_sends_sigterm_first() {
    let dir = TempDir::new().unwrap();
    let pid = dir.path().join("pid");
    let marker = dir.path().join("got-term");
    let body = format!(
        "trap 'echo bye; echo bye >&2; echo term > \"{}\"; exit 0' TERM\n{}\n\
         while :; do sleep 0.1; done",
        marker.display(),
        write_pid("$$", &pid)
    );
    let handler = handler(vec![script(&dir, "polite.sh", &body)]);
    let child = run_then_drop(&handler, &pid).await;
    wait_until("the TERM trap to run", || marker.exists()).await;
    wait_until("the child to be reaped", || is_reaped(child)).await;
}

#[tokio::test]
async fn a_child_ignoring_sigterm_is_killed_after_the_grace() {
    let dir = TempDir::new().unwrap();
    let pid = dir.path().join("pid");
    let body = format!("trap '' TERM\n{}\nwhile :; do sleep 0.1; done", write_pid("$$", &pid));
    let handler = handler(vec![script(&dir, "stubborn.sh", &body)])
        .with_kill_grace(Duration::from_millis(200));
    let child = run_then_drop(&handler, &pid).await;
    wait_until("the stubborn child to die", || is_reaped(child)).await;
}

#[tokio::test]
async fn a_grandchild_holding_the_pipes_does_not_keep_us_waiting() {
    let dir = TempDir::new().unwrap();
    let pid = dir.path().join("pid");
    let body = format!("sleep 300 &\n{}\necho done", write_pid("$!", &pid));
    let handler = handler(vec![script(&dir, "daemon.sh", &body)]);
    let (result, _) = success(within_limit(handler.run(job(""))).await);
    assert_eq!(result, "done\n");
    let grandchild: i32 = std::fs::read_to_string(&pid).unwrap().trim().parse().unwrap();
    wait_until("the grandchild to die", || is_dead(grandchild)).await;
}

#[tokio::test]
async fn flooded_stdout_is_capped_at_64_kib() {
    let dir = TempDir::new().unwrap();
    let argv = vec![script(&dir, "flood.sh", "yes | head -c 10000000")];
    let (result, _) = success(run(&handler(argv), "").await);
    assert_eq!(result.len(), 64 * 1024);
    assert!(result.bytes().all(|b| b == b'y' || b == b'\n'));
}

#[tokio::test]
async fn flooded_stderr_keeps_only_its_tail() {
    let dir = TempDir::new().unwrap();
    let body = "yes noise | head -c 10000000 >&2\necho 'last words' >&2\nexit 1";
    let (error, _, _) = retry(run(&handler(vec![script(&dir, "err.sh", body)]), "").await);
    assert!(error.starts_with("exit status 1: "), "{error}");
    assert!(error.contains("noise\nnoise\n") && error.ends_with("last words"), "{error}");
    assert!(error.len() <= "exit status 1: ".len() + 2048, "{} bytes", error.len());
}

#[tokio::test]
async fn a_failing_exit_is_retried_with_the_stderr_tail() {
    let dir = TempDir::new().unwrap();
    let argv = vec![script(&dir, "fail.sh", "echo '  upstream said no  ' >&2\nexit 1")];
    let (error, cost, delay) = retry(run(&handler(argv), "").await);
    assert_eq!((error.as_str(), cost, delay), ("exit status 1: upstream said no", 0.0, None));
}

#[tokio::test]
async fn a_permanent_exit_code_dead_letters() {
    let dir = TempDir::new().unwrap();
    let argv = vec![script(&dir, "bad.sh", "echo 'bad payload' >&2\nexit 65")];
    match run(&handler(argv), "").await {
        Outcome::Permanent { error, .. } => assert_eq!(error, "exit status 65: bad payload"),
        other => panic!("expected permanent, got {other:?}"),
    }
}

#[tokio::test]
async fn death_by_signal_is_retried_and_named() {
    let dir = TempDir::new().unwrap();
    let argv = vec![script(&dir, "sig.sh", "echo dying >&2\nkill -TERM $$")];
    let (error, _, _) = retry(run(&handler(argv), "").await);
    assert_eq!(error, "killed by signal 15 (SIGTERM): dying");
    let argv = vec![script(&dir, "kill.sh", "kill -KILL $$")];
    assert_eq!(retry(run(&handler(argv), "").await).0, "killed by signal 9 (SIGKILL)");
}

#[tokio::test]
async fn a_missing_program_is_the_runners_failure_naming_it_and_the_fix() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("no-such-handler").display().to_string();
    let error = runner_failed(run(&handler(vec![missing.clone()]), "").await);
    assert!(error.contains(&missing) && error.contains("No such file"), "{error}");
    assert!(error.contains("check [handler] command / PATH"), "{error}");
    assert!(runner_failed(run(&handler(vec![]), "").await).contains("[handler] command"));
}

#[tokio::test]
async fn a_program_that_is_not_executable_is_the_runners_failure() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("plain.sh");
    std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
    let error = runner_failed(run(&handler(vec![path.display().to_string()]), "").await);
    assert!(error.contains("plain.sh") && error.contains("Permission denied"), "{error}");
}

fn runner_failed(outcome: Outcome) -> String {
    match outcome {
        Outcome::RunnerFailed { error } => error,
        other => panic!("expected RunnerFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_cost_line_is_charged_on_success() {
    let dir = TempDir::new().unwrap();
    let argv = vec![script(&dir, "cost.sh", "echo '{\"cost_usd\": 0.25}'\necho sent")];
    let (result, cost) = success(run(&handler(argv), "").await);
    assert_eq!((result.as_str(), cost), ("{\"cost_usd\": 0.25}\nsent\n", 0.25));
}

#[tokio::test]
async fn cost_lines_sum() {
    let dir = TempDir::new().unwrap();
    let body = "echo '{\"cost_usd\": 0.25, \"model\": \"x\"}'\necho '{\"cost_usd\": 0.5}'";
    let (_, cost) = success(run(&handler(vec![script(&dir, "two.sh", body)]), "").await);
    assert_eq!(cost, 0.75);
}

#[tokio::test]
async fn cost_is_charged_on_failure_too() {
    let dir = TempDir::new().unwrap();
    let argv = vec![script(&dir, "costfail.sh", "echo '{\"cost_usd\": 0.5}'\nexit 1")];
    assert_eq!(retry(run(&handler(argv), "").await), ("exit status 1".to_owned(), 0.5, None));
}

#[tokio::test]
async fn retry_after_sets_the_delay_of_a_failed_attempt() {
    let dir = TempDir::new().unwrap();
    let body = "echo '{\"retry_after_s\": 10}'\necho '{\"retry_after_s\": 30}'\nexit 1";
    let (_, _, delay) = retry(run(&handler(vec![script(&dir, "429.sh", body)]), "").await);
    assert_eq!(delay, Some(Duration::from_secs(30)));
}

#[tokio::test]
async fn exit_75_snoozes_and_a_class_or_a_model_qualifies_the_outcome() {
    let dir = TempDir::new().unwrap();
    let snooze = Outcome::Snooze { delay: Some(Duration::from_secs(3)), cost_usd: 0.0 };
    assert_eq!(run_script(&dir, "echo '{\"retry_after_s\": 3}'\nexit 75").await, snooze);
    let classed = run_script(&dir, "echo '{\"error_class\": \"auth\"}'\nexit 75").await;
    assert!(matches!(classed, Outcome::Failed { class: ErrorClass::Auth, .. }), "{classed:?}");
    let unknown = run_script(&dir, "echo '{\"error_class\": \"teapot\"}'\nexit 75").await;
    assert!(matches!(unknown, Outcome::Snooze { delay: None, .. }), "{unknown:?}");
    let usage = Usage::model("m").tokens(3, 0);
    let metered =
        run_script(&dir, "echo '{\"model\": \"m\", \"tokens_in\": 3, \"tokens_out\": 0}'").await;
    assert!(matches!(metered, Outcome::Metered { usage: u, .. } if u == usage));
}

async fn run_script(dir: &TempDir, body: &str) -> Outcome {
    let name = format!("s{}.sh", rand::random::<u32>());
    run(&handler(vec![script(dir, &name, body)]), "").await
}

#[tokio::test]
async fn a_cost_given_as_a_string_is_ignored() {
    let dir = TempDir::new().unwrap();
    let argv = vec![script(&dir, "str.sh", "echo '{\"cost_usd\": \"0.5\"}'")];
    assert_eq!(success(run(&handler(argv), "").await).1, 0.0);
}

#[tokio::test]
async fn a_cost_line_after_the_kept_head_is_charged() {
    let dir = TempDir::new().unwrap();
    let body = "echo '{\"cost_usd\": 0.1}'\nyes 'a long transcript' | head -n 12000\n\
                echo '{\"cost_usd\": 0.4}'";
    let (result, cost) = success(run(&handler(vec![script(&dir, "long.sh", body)]), "").await);
    assert_eq!(result.len(), super::STDOUT_KEEP, "only the head is kept as the result");
    assert_eq!(cost, 0.5);
}

#[tokio::test]
async fn a_cost_above_the_per_attempt_maximum_is_charged_as_the_maximum() {
    let dir = TempDir::new().unwrap();
    let body = "echo '{\"cost_usd\": 1e308}'\necho '{\"cost_usd\": 1e308}'\nexit 1";
    let (_, cost, _) = retry(run(&handler(vec![script(&dir, "huge.sh", body)]), "").await);
    assert_eq!(cost, nightshift_actors::policy::budget::MAX_ATTEMPT_COST_USD);
}
