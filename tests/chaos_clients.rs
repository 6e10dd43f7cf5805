//! Many clients at once, through the binary: 32 processes enqueueing one key, and 8 processes
//! enqueueing bursts of distinct keys while a runner works. The checker decides.

use std::process::Stdio;
use std::time::Duration;

use crate::util::checker::{History, chaos_agent, check};
use crate::util::cli::{signal, wait_exit};

crate::both_stores! {
    #[test]
    fn thirty_two_processes_enqueueing_one_key_leave_one_row_and_one_creation(w: Workdir) {
    w.run(&["init"]).expect(0);
    let children: Vec<_> = (0..32)
        .map(|_| {
            w.cmd(&["enqueue", "same", "{\"v\":1}", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outcomes: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v["outcome"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(outcomes.iter().filter(|o| *o == "enqueued").count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| *o == "duplicate").count(), 31, "{outcomes:?}");
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE key = 'same'"), 1);
    // Different payloads racing: exactly one wins, the rest are conflicts that change nothing.
    let children: Vec<_> = (0..16)
        .map(|i| {
            w.cmd(&["enqueue", "contested", &format!("{{\"v\":{i}}}")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<Option<i32>> =
        children.into_iter().map(|c| c.wait_with_output().unwrap().status.code()).collect();
    assert_eq!(codes.iter().filter(|c| **c == Some(0)).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == Some(1)).count(), 15, "{codes:?}");
    }
}

crate::both_stores! {
    #[test]
    fn eight_producers_enqueue_while_a_runner_works_and_nothing_is_lost(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", "[retry]\nbase = \"20ms\"\ncap = \"100ms\"\nmax_attempts = 3\n[breaker]\nfailures = 100000\n");
    let agent = chaos_agent(&w);
    let mut runner = w.spawn_logged(&["run", "--workers", "3", "--", &agent], "runner.log");
    let mut history = History::default();
    let producers: Vec<_> = (0..8)
        .map(|p| {
            let lines: String = (0..25)
                .map(|i| {
                    let fate = ["good", "flaky", "good", "poison", "good"][(p + i) % 5];
                    format!("{{\"key\":\"{fate}-{p}-{i}\"}}\n")
                })
                .collect();
            let file = w.write(&format!("producer-{p}.jsonl"), &lines);
            let keys: Vec<String> = lines
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["key"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect();
            let child = w
                .cmd(&["enqueue", "--jsonl", file.to_str().unwrap()])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (keys, child)
        })
        .collect();
    for (keys, child) in producers {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        history.acked.extend(keys);
    }
    crate::util::cli::wait_until(
        Duration::from_secs(60),
        "the runner works through the burst",
        || w.count("SELECT count(*) FROM jobs WHERE status != 'done'") == 0,
    );
    signal(&runner, 15);
    assert!(wait_exit(&mut runner, Duration::from_secs(20)).success());
    check(&w, &history, &w.path().join("effects.txt"));
    assert_eq!(history.acked.len(), 200);
    }
}
