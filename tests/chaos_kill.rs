//! Process-level chaos: the runner SIGKILLed at random moments over many cycles, handlers that
//! outlive their runner or ignore SIGTERM, two runners at once. The checker decides.

use std::time::Duration;

use crate::util::checker::{History, Rng, chaos_agent, check};
use crate::util::cli::{Workdir, signal, wait_exit, wait_until};

/// Fast retries; the breaker out of the way (poison jobs fail in a row on purpose); the
/// shortest lease, which is how long a killed runner's jobs wait for another on PostgreSQL.
const CONFIG: &str = "[retry]\nmax_attempts = 3\nbase = \"20ms\"\ncap = \"200ms\"\n\
                      [breaker]\nfailures = 100000\n[store]\nlease = \"3s\"\n";

/// Cycles in CI; `NIGHTSHIFT_CHAOS_CYCLES` asks for more.
fn cycles() -> usize {
    std::env::var("NIGHTSHIFT_CHAOS_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(50)
}

fn enqueue(w: &Workdir, history: &mut History, key: String) {
    let out = w.run(&["enqueue", &key, "{}"]);
    match out.code {
        Some(0) => {
            history.acked.insert(key);
        }
        _ => panic!("enqueue {key} failed: {out:?}"),
    }
}

/// Drains until every job is done: on PostgreSQL the killed runners' claims come back only
/// when their leases expire, so one drain may find them still held.
fn heal(w: &Workdir, agent: &str) {
    wait_until(Duration::from_secs(60), "every job done or dead-lettered", || {
        w.run(&["run", "--once", "--wait", "2s", "--", agent]).expect(0);
        w.count("SELECT count(*) FROM jobs WHERE status != 'done'") == 0
    });
}

crate::both_stores! {
    #[test]
    fn sigkill_at_random_moments_loses_nothing_and_repeats_no_effect(w: Workdir) {
    let mut rng = Rng::from_env("sigkill_at_random_moments");
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", CONFIG);
    let agent = chaos_agent(&w);
    let mut history = History::default();
    let fates = ["good", "good", "good", "flaky", "poison", "slow"];
    let mut n = 0;
    for _ in 0..cycles() {
        for _ in 0..rng.below(4) + 1 {
            let fate = fates[rng.below(fates.len() as u64) as usize];
            enqueue(&w, &mut history, format!("{fate}-{n}"));
            n += 1;
        }
        let mut runner = w.spawn_logged(&["run", "--workers", "2", "--", &agent], "runner.log");
        // The fault: a kill at a random moment (this sleep injects it; it waits for no outcome).
        std::thread::sleep(Duration::from_millis(rng.below(250)));
        runner.kill().unwrap();
        runner.wait().unwrap();
    }
    // Heal: drain until nothing is left, then check.
    heal(&w, &agent);
    check(&w, &history, &w.path().join("effects.txt"));
    assert!(history.acked.len() >= cycles(), "the scenario enqueued too little to mean anything");
    }
}

crate::both_stores! {
    #[test]
    fn sigkill_with_outcomes_not_yet_committed_loses_nothing(w: Workdir) {
    // Many short jobs: outcomes wait for their round's commit, and jobs are claimed ahead of
    // the workers; each kill lands while some are reported but not yet committed.
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", CONFIG);
    let agent = chaos_agent(&w);
    let mut history = History::default();
    let lines: String = (0..400).map(|i| format!("{{\"key\": \"good-{i}\"}}\n")).collect();
    w.write("burst.jsonl", &lines);
    w.run(&["enqueue", "--jsonl", "burst.jsonl"]).expect(0);
    history.acked.extend((0..400).map(|i| format!("good-{i}")));
    let effects = w.path().join("effects.txt");
    let done = || std::fs::read_to_string(&effects).map_or(0, |t| t.lines().count());
    for round in 1..=3 {
        let mut runner = w.spawn_logged(&["run", "--workers", "4", "--", &agent], "runner.log");
        // Killed mid-stream: once this run has applied some effects of its own.
        let before = done();
        wait_until(Duration::from_secs(60), "the runner makes progress", || {
            done() >= before + 20 || done() == 400
        });
        runner.kill().unwrap();
        runner.wait().unwrap();
        if done() == 400 {
            assert!(round > 1, "the first run finished before it could be killed");
            break;
        }
    }
    heal(&w, &agent);
    check(&w, &history, &effects);
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 400);
    }
}

/// Whether a process is alive (a zombie counts as dead).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

// On PostgreSQL the restarted runner reaps the dead one's handlers too (by its pid), and takes
// the job back once its lease (3 s here) runs out.
crate::both_stores! {
    #[test]
    fn handlers_do_not_outlive_a_killed_runner_and_the_job_reruns(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", CONFIG);
    let agent = w.script(
        "stubborn.sh",
        r#"cat > /dev/null
if [ "$NIGHTSHIFT_ATTEMPT" = 1 ]; then
  trap '' TERM
  sleep 300 &
  echo $! > grandchild.pid
  echo $$ > child.pid
  wait
fi
echo "$NIGHTSHIFT_KEY" >> effects.txt"#,
    );
    w.run(&["enqueue", "outlive", "{}"]).expect(0);
    let mut runner = w.spawn(&["run", "--", agent.to_str().unwrap()]);
    wait_until(Duration::from_secs(10), "the handler and its child start", || {
        w.path().join("grandchild.pid").exists() && w.path().join("child.pid").exists()
    });
    let pid =
        |f: &str| std::fs::read_to_string(w.path().join(f)).unwrap().trim().parse::<u32>().unwrap();
    let (child, grandchild) = (pid("child.pid"), pid("grandchild.pid"));
    runner.kill().unwrap();
    runner.wait().unwrap();
    wait_until(Duration::from_secs(10), "the handler dies with its runner", || !alive(child));
    // The restarted runner reaps what the dead one left in the handler's process group.
    w.run(&["run", "--once", "--", agent.to_str().unwrap()]).expect(0);
    wait_until(Duration::from_secs(10), "no grandchild survives", || !alive(grandchild));
    assert_eq!(w.rows("SELECT status, attempts FROM jobs WHERE key = 'outlive'"), [["done", "1"]]);
    assert_eq!(std::fs::read_to_string(w.path().join("effects.txt")).unwrap(), "outlive\n");
    }
}

crate::both_stores! {
    #[test]
    fn a_handler_ignoring_sigterm_is_killed_at_shutdown_and_its_job_reruns(w: Workdir) {
    w.run(&["init"]).expect(0);
    let agent = w.script(
        "deaf.sh",
        r#"cat > /dev/null
if [ "$NIGHTSHIFT_ATTEMPT" = 1 ] && [ ! -f second-run ]; then
  trap '' TERM
  echo $$ > deaf.pid
  while :; do sleep 0.05; done
fi
echo "$NIGHTSHIFT_KEY" >> effects.txt"#,
    );
    w.run(&["enqueue", "deaf", "{}"]).expect(0);
    let mut runner = w.spawn(&["run", "--grace", "200ms", "--", agent.to_str().unwrap()]);
    wait_until(Duration::from_secs(10), "the handler starts", || {
        w.path().join("deaf.pid").exists()
    });
    let deaf: u32 =
        std::fs::read_to_string(w.path().join("deaf.pid")).unwrap().trim().parse().unwrap();
    signal(&runner, 15);
    assert!(wait_exit(&mut runner, Duration::from_secs(30)).success(), "graceful exit");
    wait_until(Duration::from_secs(10), "the deaf handler is killed", || !alive(deaf));
    assert_eq!(
        w.count(
            "SELECT count(*) FROM jobs WHERE key = 'deaf' AND status = 'pending' AND attempts = 0"
        ),
        1
    );
    w.write("second-run", "");
    w.run(&["run", "--once", "--", agent.to_str().unwrap()]).expect(0);
    assert_eq!(std::fs::read_to_string(w.path().join("effects.txt")).unwrap(), "deaf\n");
    }
}

// SQLite only: its runner lock admits one runner; PostgreSQL's runners share the queue.
#[test]
fn of_two_runners_started_at_once_one_exits_3() {
    for _ in 0..5 {
        let w = Workdir::new();
        w.run(&["init"]).expect(0);
        let mut a = w.spawn(&["run", "--", "true"]);
        let mut b = w.spawn(&["run", "--", "true"]);
        let winner = wait_until_one_exits(&mut a, &mut b);
        assert_eq!(winner.1, Some(3), "the loser exits 3");
        let mut survivor = if winner.0 { b } else { a };
        // Signal it only once it is up (its first event line), so SIGTERM meets its handler.
        let mut first = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(survivor.stdout.take().unwrap()),
            &mut first,
        )
        .unwrap();
        assert!(first.contains("runner_started"), "{first}");
        signal(&survivor, 15);
        assert!(wait_exit(&mut survivor, Duration::from_secs(20)).success());
    }
}

/// Waits until one of two children exits; returns (whether it was the first, its code).
fn wait_until_one_exits(
    a: &mut std::process::Child,
    b: &mut std::process::Child,
) -> (bool, Option<i32>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = a.try_wait().unwrap() {
            return (true, s.code());
        }
        if let Some(s) = b.try_wait().unwrap() {
            return (false, s.code());
        }
        assert!(std::time::Instant::now() < deadline, "neither runner exited");
        std::thread::sleep(Duration::from_millis(10));
    }
}
