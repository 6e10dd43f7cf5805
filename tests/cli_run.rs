//! `run` through the built binary: the seed lab, the command handler's contract, JSON events,
//! one runner per database, SIGTERM and SIGKILL.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use crate::util::cli::{Workdir, signal, wait_exit, wait_until};

const FAST_RETRIES: &str = "[retry]\nbase = \"50ms\"\ncap = \"500ms\"\n";

/// The seed lab's handler: fails `seed-bad` until a file named `fixed` exists; writes one line
/// per key to effects.txt; charges a cost.
fn seed_script(w: &Workdir) -> String {
    w.script(
        "agent.sh",
        r#"payload=$(cat)
echo '{"cost_usd": 0.001}'
if [ "$NIGHTSHIFT_KEY" = "seed-bad" ] && [ ! -f fixed ]; then
  echo "cannot handle $payload" >&2
  exit 1
fi
echo "$NIGHTSHIFT_KEY" >> effects.txt
echo "ok $NIGHTSHIFT_KEY""#,
    )
    .display()
    .to_string()
}

fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

crate::both_stores! {
    #[test]
    fn seed_lab_through_the_cli_dead_letters_the_bad_job_and_replay_completes_it(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", FAST_RETRIES);
    let agent = seed_script(&w);
    w.run(&["enqueue", "seed-bad", r#"{"poison":true}"#]).expect(0);
    for i in 0..19 {
        w.run(&["enqueue", &format!("seed-{i}"), &format!(r#"{{"n":{i}}}"#)]).expect(0);
    }
    let run = w.run(&["run", "--once", "--workers", "2", "--", &agent]).expect(0);
    let evs = events(&run.stdout);
    for e in &evs {
        assert!(
            e["ts"].as_str().is_some_and(|t| t.ends_with('Z'))
                && e["level"].is_string()
                && e["event"].is_string(),
            "{e}"
        );
    }
    let names: Vec<&str> = evs.iter().filter_map(|e| e["event"].as_str()).collect();
    for expected in [
        "runner_started",
        "job_started",
        "job_succeeded",
        "job_failed",
        "retry_scheduled",
        "dead_lettered",
        "runner_stopped",
    ] {
        assert!(names.contains(&expected), "no {expected} event in {names:?}");
    }
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 19);
    // The contract's table names answer the database's own shell.
    let (program, flags): (_, &[&str]) =
        if w.is_postgres() { ("psql", &["-tAc"]) } else { ("sqlite3", &[]) };
    let shell = std::process::Command::new(program)
        .arg(w.db())
        .args(flags)
        .arg("SELECT count(*) FROM dead_letter")
        .output();
    match shell {
        Ok(out) if out.status.success() => {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1")
        }
        _ => assert_eq!(w.count("SELECT count(*) FROM dead_letter"), 1),
    }
    assert_eq!(w.count("SELECT attempts FROM dead_letter WHERE key = 'seed-bad'"), 4);
    let error = w.text("SELECT error FROM dead_letter");
    assert!(
        error.contains("exit status 1") && error.contains(r#"cannot handle {"poison":true}"#),
        "{error}"
    );
    assert_eq!(w.count("SELECT count(*) FROM spend"), 23, "a cost per attempt, failed ones too");

    w.write("fixed", "");
    assert_eq!(w.run(&["dlq", "replay", "seed-bad"]).expect(0).stdout, "replayed seed-bad\n");
    w.run(&["run", "--once", "--", &agent]).expect(0);
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 20);
    assert_eq!(w.count("SELECT count(*) FROM dead_letter"), 0);
    let effects = std::fs::read_to_string(w.path().join("effects.txt")).unwrap();
    assert_eq!(effects.lines().count(), 20, "one side effect per key");
    }
}

crate::both_stores! {
    #[test]
    fn the_handler_gets_the_payload_and_variables_but_no_secrets_and_no_shell(w: Workdir) {
    w.run(&["init"]).expect(0);
    let agent = w.script(
        "env.sh",
        r#"payload=$(cat)
printf '%s\n' "$payload" > "seen-$NIGHTSHIFT_KEY.payload"
printf '%s|%s|%s|%s|%s|%s\n' "$NIGHTSHIFT_KEY" "$NIGHTSHIFT_QUEUE" "$NIGHTSHIFT_ATTEMPT" "$NIGHTSHIFT_MAX_ATTEMPTS" "${ALERT_WEBHOOK:-none}" "$1" > "seen-$NIGHTSHIFT_KEY.env"
echo "result for $NIGHTSHIFT_KEY""#,
    );
    let hostile = "x; touch pwned; $(touch pwned2)";
    w.run(&["enqueue", "job-1", hostile, "--queue", "mail", "--max-attempts", "3"]).expect(0);
    let mut cmd = w.cmd(&["run", "--once", "--", agent.to_str().unwrap(), "; rm -rf ."]);
    cmd.env("ALERT_WEBHOOK", "http://127.0.0.1:9/hooks/SECRET-TOKEN-123");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let env = std::fs::read_to_string(w.path().join("seen-job-1.env")).unwrap();
    assert_eq!(env.trim(), "job-1|mail|1|3|none|; rm -rf .");
    assert_eq!(
        std::fs::read_to_string(w.path().join("seen-job-1.payload")).unwrap().trim(),
        hostile
    );
    assert!(!w.path().join("pwned").exists() && !w.path().join("pwned2").exists());
    let result = w.text("SELECT result FROM jobs WHERE key = 'job-1'");
    assert_eq!(result.trim(), "result for job-1");
    let all =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains("SECRET-TOKEN-123"), "the webhook secret leaked into the output");
    }
}

crate::both_stores! {
    #[test]
    fn exit_65_dead_letters_at_once_and_retry_after_is_honoured(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", FAST_RETRIES);
    let agent = w.script(
        "codes.sh",
        r#"case "$NIGHTSHIFT_KEY" in
  invalid) echo "bad input" >&2; exit 65 ;;
  later) if [ "$NIGHTSHIFT_ATTEMPT" = 1 ]; then echo '{"retry_after_s": 3600, "cost_usd": 0.25}'; exit 1; fi ;;
esac"#,
    );
    w.run(&["enqueue", "invalid", "{}"]).expect(0);
    w.run(&["enqueue", "later", "{}"]).expect(0);
    w.run(&["run", "--once", "--", agent.to_str().unwrap()]).expect(0);
    assert_eq!(
        w.rows("SELECT reason, attempts FROM dead_letter WHERE key = 'invalid'"),
        [["permanent", "1"]]
    );
    assert_eq!(w.text("SELECT status FROM jobs WHERE key = 'later'"), "pending");
    let run_at = w.count("SELECT run_at FROM jobs WHERE key = 'later'");
    let updated = w.count("SELECT updated_at FROM jobs WHERE key = 'later'");
    assert!(run_at - updated >= 3_599_000, "retry_after_s was not honoured: {}", run_at - updated);
    assert_eq!(w.count("SELECT CAST(sum(micros) AS BIGINT) FROM spend WHERE key = 'later'"), 250_000);
    }
}

// SQLite only: its runner lock admits one runner; PostgreSQL's runners share the queue.
#[test]
fn a_second_runner_exits_3_while_other_commands_work_beside_the_first() {
    let w = Workdir::new();
    w.run(&["init"]).expect(0);
    let mut runner = w.spawn(&["run", "--", "true"]);
    wait_until(Duration::from_secs(10), "the runner holds the lock", || {
        w.run(&["status", "--json"]).stdout.contains("\"runner\":\"pid")
    });
    for args in [&["run", "--once", "--", "true"][..], &["run", "--", "true"][..]] {
        let second = w.run(args).expect(3);
        assert!(second.stderr.contains(&format!("pid {}", runner.id())), "{}", second.stderr);
    }
    w.run(&["enqueue", "beside", "{}"]).expect(0);
    w.run(&["pause", "--reason", "check"]).expect(0);
    w.run(&["resume"]).expect(0);
    w.run(&["dlq", "list"]).expect(0);
    wait_until(Duration::from_secs(10), "the runner picks up a job enqueued beside it", || {
        w.count("SELECT count(*) FROM jobs WHERE key = 'beside' AND status = 'done'") == 1
    });
    signal(&runner, 15);
    assert!(wait_exit(&mut runner, Duration::from_secs(20)).success());
}

crate::both_stores! {
    #[test]
    fn sigterm_lets_the_job_in_flight_finish_and_the_runner_exits_0(w: Workdir) {
    w.run(&["init"]).expect(0);
    let agent =
        w.script("slow.sh", "touch started; sleep 1; echo \"$NIGHTSHIFT_KEY\" >> effects.txt");
    w.run(&["enqueue", "slow", "{}"]).expect(0);
    let mut runner = w.spawn(&["run", "--grace", "20s", "--", agent.to_str().unwrap()]);
    wait_until(Duration::from_secs(10), "the job starts", || w.path().join("started").exists());
    signal(&runner, 15);
    let status = wait_exit(&mut runner, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let stdout = std::io::read_to_string(runner.stdout.take().unwrap()).unwrap();
    let names: Vec<String> =
        events(&stdout).iter().map(|e| e["event"].as_str().unwrap_or("").to_owned()).collect();
    assert!(
        names.contains(&"job_succeeded".to_owned())
            && names.last().map(String::as_str) == Some("runner_stopped"),
        "{names:?}"
    );
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE key = 'slow' AND status = 'done'"), 1);
    }
}

crate::both_stores! {
    #[test]
    fn after_sigkill_mid_job_run_once_completes_it_and_the_effect_happens_once(w: Workdir) {
    w.run(&["init"]).expect(0);
    // The shortest lease: on PostgreSQL the killed runner's claim comes back when it expires.
    w.write("nightshift.toml", &format!("{FAST_RETRIES}[store]\nlease = \"3s\"\n"));
    let agent = w.script(
        "agent.sh",
        r#"touch "started-$NIGHTSHIFT_ATTEMPT"
if [ "$NIGHTSHIFT_ATTEMPT" = 1 ]; then sleep 30; fi
grep -qx "$NIGHTSHIFT_KEY" effects.txt 2>/dev/null || echo "$NIGHTSHIFT_KEY" >> effects.txt"#,
    );
    w.run(&["enqueue", "crashy", "{}"]).expect(0);
    let mut runner = w.spawn(&["run", "--", agent.to_str().unwrap()]);
    let stdout = BufReader::new(runner.stdout.take().unwrap());
    let mut lines = stdout.lines();
    loop {
        let line = lines.next().expect("runner output").unwrap();
        if line.contains("job_started") {
            break;
        }
    }
    wait_until(Duration::from_secs(10), "the handler starts", || {
        w.path().join("started-1").exists()
    });
    runner.kill().unwrap();
    runner.wait().unwrap();
    w.run(&["run", "--once", "--", agent.to_str().unwrap()]).expect(0);
    assert_eq!(
        w.rows("SELECT status, attempts FROM jobs WHERE key = 'crashy'"),
        [["done", "1"]],
        "the killed attempt counts once"
    );
    let effects = std::fs::read_to_string(w.path().join("effects.txt")).unwrap();
    assert_eq!(effects, "crashy\n");
    }
}

crate::both_stores! {
    #[test]
    fn text_log_format_is_readable(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.run(&["enqueue", "t", "{}"]).expect(0);
    let out = w.run(&["run", "--once", "--log-format", "text", "--", "true"]).expect(0);
    let started =
        out.stdout.lines().find(|l| l.contains("job_started")).expect("a job_started line");
    assert!(
        started.contains("info") && started.contains("key=\"t\"") && started.contains("attempt=1"),
        "{started}"
    );
    assert!(serde_json::from_str::<serde_json::Value>(started).is_err());
    }
}

crate::both_stores! {
    #[test]
    fn a_schedule_enqueues_its_latest_missed_tick_once_whoever_runs(w: Workdir) {
    w.run(&["init"]).expect(0);
    // Yearly, so the latest tick is fixed for the length of the test.
    w.write("nightshift.toml", "[[schedule]]\nname = \"yearly\"\ncron = \"0 0 1 1 *\"\npayload = '{\"kind\":\"report\"}'\n");
    let out = w.run(&["run", "--once", "--", "true"]).expect(0);
    assert!(out.stdout.contains("tick_enqueued"), "{}", out.stdout);
    w.run(&["run", "--once", "--", "true"]).expect(0);
    let rows = w.rows("SELECT key, status, payload FROM jobs");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let [key, status, payload] = &rows[0][..] else { panic!("{rows:?}") };
    assert!(key.starts_with("yearly@") && key.ends_with("-01-01T00:00:00Z"), "{key}");
    assert_eq!((status.as_str(), payload.as_str()), ("done", "{\"kind\":\"report\"}"));
    let bad = w.write("bad.toml", "[[schedule]]\nname = \"x\"\ncron = \"every day\"\n");
    let refused = w.run(&["--config", bad.to_str().unwrap(), "status"]).expect(2);
    assert!(refused.stderr.contains("cron"), "{}", refused.stderr);
    }
}

crate::both_stores! {
    #[test]
    fn a_hanging_handler_is_killed_at_its_timeout_and_the_attempt_fails(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", "[retry]\nmax_attempts = 1\n");
    let agent = w.script("hang.sh", "sleep 300 &\necho $! > sleeper.pid\nwait");
    w.run(&["enqueue", "hangs", "{}", "--timeout", "300ms"]).expect(0);
    let started = std::time::Instant::now();
    w.run(&["run", "--once", "--", agent.to_str().unwrap()]).expect(0);
    assert!(started.elapsed() < Duration::from_secs(30), "the runner waited for the hang");
    let error = w.text("SELECT error FROM dead_letter WHERE key = 'hangs'");
    assert!(error.starts_with("timeout"), "{error}");
    let sleeper: u32 =
        std::fs::read_to_string(w.path().join("sleeper.pid")).unwrap().trim().parse().unwrap();
    wait_until(Duration::from_secs(10), "the handler's child is killed too", || {
        std::fs::read_to_string(format!("/proc/{sleeper}/stat"))
            .map_or(true, |s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
    });
    }
}
