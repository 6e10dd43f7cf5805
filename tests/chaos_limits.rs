//! A `[[limit]]`'s concurrency across runners sharing one PostgreSQL database: three
//! `nightshift run` processes, SIGKILLed at random moments and restarted, never run more of a
//! limit's jobs at once than its concurrency. PostgreSQL only: without a server the test says
//! it was not run.

use std::process::Child;
use std::time::{Duration, Instant};

use crate::util::checker::Rng;
use crate::util::cli::{Workdir, signal, wait_exit, wait_until};

const CONFIG: &str = "[store]\nlease = \"3s\"\n\n[[limit]]\nname = \"openai\"\nconcurrency = 2\n";

/// The most attempts of the limit that ran at once, from the handler's `start`/`end` marks.
/// An attempt killed with its runner left no `end` and is not counted (the store counts it as
/// running until its lease expires, which only makes the limit stricter).
fn most_at_once(w: &Workdir) -> (usize, usize) {
    let text = std::fs::read_to_string(w.path().join("marks.txt")).unwrap_or_default();
    let mut open = std::collections::HashMap::new();
    let mut spans = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (what, id, at): (&str, &str, u64) = (f[0], f[1], f[2].parse().unwrap());
        if !id.starts_with('o') {
            continue; // not the limit's
        }
        match what {
            "start" => {
                open.insert(id.to_owned(), at);
            }
            _ => spans.extend(open.remove(id).map(|s| (s, at))),
        }
    }
    let mut edges: Vec<(u64, i32)> = spans.iter().flat_map(|(s, e)| [(*s, 1), (*e, -1)]).collect();
    // At the same millisecond an end comes before a start: the clock's resolution, not overlap.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    (most as usize, spans.len())
}

#[test]
fn a_limits_concurrency_holds_across_three_runners_sigkilled_at_random() {
    let Some(w) = Workdir::postgres("chaos_limits::three_runners") else { return };
    let mut rng = Rng::from_env("chaos_limits");
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", CONFIG);
    // The attempt id is the key and the lease token, so a retried job's marks pair up.
    let agent = w.script(
        "agent.sh",
        "id=\"$NIGHTSHIFT_KEY-$NIGHTSHIFT_LEASE\"\n\
         echo \"start $id $(date +%s%3N)\" >> marks.txt\nsleep 0.15\n\
         echo \"end $id $(date +%s%3N)\" >> marks.txt",
    );
    let lines: String = (0..40)
        .map(|i| format!("{{\"key\":\"o{i}\",\"limit\":\"openai\"}}\n{{\"key\":\"f{i}\"}}\n"))
        .collect();
    let file = w.write("jobs.jsonl", &lines);
    w.run(&["enqueue", "--jsonl", file.to_str().unwrap()]).expect(0);
    let agent = agent.to_str().unwrap().to_owned();
    let mut started = 0;
    let mut spawn = |w: &Workdir| -> Child {
        started += 1;
        w.spawn_logged(&["run", "--workers", "3", "--", &agent], &format!("runner-{started}.log"))
    };
    let mut slots: Vec<Option<Child>> = (0..3).map(|_| Some(spawn(&w))).collect();
    let end = Instant::now() + Duration::from_secs(5);
    let mut kills = 0;
    while Instant::now() < end {
        // The fault: a kill at a random moment (this sleep injects it; it waits for no outcome).
        std::thread::sleep(Duration::from_millis(rng.below(600)));
        if let Some(mut child) = slots[rng.below(3) as usize].take() {
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
        }
        for slot in slots.iter_mut().filter(|s| s.is_none()) {
            if rng.below(2) == 0 {
                *slot = Some(spawn(&w));
            }
        }
    }
    for slot in slots.iter_mut().filter(|s| s.is_none()) {
        *slot = Some(spawn(&w));
    }
    let drained = || w.count("SELECT count(*) FROM jobs WHERE status != 'done'") == 0;
    wait_until(Duration::from_secs(60), "the runners drain the queue", drained);
    for child in slots.into_iter().flatten() {
        signal(&child, 15);
        let mut child = child;
        assert!(wait_exit(&mut child, Duration::from_secs(20)).success(), "runner exit");
    }
    let (most, spans) = most_at_once(&w);
    eprintln!("chaos_limits: {kills} kills, {spans} whole attempts, at most {most} at once");
    assert!(most <= 2, "{most} jobs of a limit with concurrency 2 ran at once");
    assert!(spans >= 40 && most == 2, "too few attempts finished to mean anything: {spans}");
}
