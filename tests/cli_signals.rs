//! SIGTERM and SIGINT through the built binary, in `--once` and continuous mode: the first
//! stops claiming at once and gives jobs in flight `--grace`; a second cuts the grace short.

use std::time::{Duration, Instant};

use crate::util::cli::{Workdir, signal, wait_exit, wait_until};

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

/// Two jobs, `first` claimed first, and a handler that notes each start then sleeps 30 s.
fn two_slow_jobs(w: &Workdir) -> String {
    w.run(&["init"]).expect(0);
    let agent = w.script("slow.sh", "echo \"$NIGHTSHIFT_KEY\" >> started\nexec sleep 30");
    w.run(&["enqueue", "first", "{}", "--priority", "1"]).expect(0);
    w.run(&["enqueue", "second", "{}"]).expect(0);
    agent.display().to_string()
}

fn started(w: &Workdir) -> Vec<String> {
    let text = std::fs::read_to_string(w.path().join("started")).unwrap_or_default();
    text.lines().map(str::to_owned).collect()
}

fn log_events(w: &Workdir) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(w.path().join("run.log")).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn named<'a>(events: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

/// Both jobs pending again with no attempt counted, and the second one never started.
fn assert_given_back(w: &Workdir) {
    assert_eq!(started(w), ["first"], "the second job was claimed after the signal");
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'pending' AND attempts = 0"), 2);
}

fn signalled_run_gives_the_jobs_back(w: &Workdir, args: &[&str], sig: i32) {
    let agent = two_slow_jobs(w);
    let mut all = args.to_vec();
    all.extend(["--grace", "1s", "--", agent.as_str()]);
    let mut runner = w.spawn_logged(&all, "run.log");
    wait_until(Duration::from_secs(20), "the first job starts", || !started(w).is_empty());
    let signalled = Instant::now();
    signal(&runner, sig);
    let status = wait_exit(&mut runner, Duration::from_secs(25));
    let took = signalled.elapsed();
    assert!(status.success(), "{status:?}: {:?}", log_events(w));
    assert!(took >= Duration::from_millis(900), "the grace was not waited: {took:?}");
    let events = log_events(w);
    let requested = named(&events, "shutdown_requested");
    assert_eq!(requested.len(), 1, "{events:?}");
    assert_eq!(requested[0]["grace_ms"], 1000);
    assert_eq!(named(&events, "job_interrupted").len(), 1, "{events:?}");
    assert!(named(&events, "job_started").iter().all(|e| e["key"] == "first"), "{events:?}");
    let log = std::fs::read_to_string(w.path().join("run.log")).unwrap();
    assert!(log.contains("claiming no more jobs"), "no word for the person: {log}");
    assert_given_back(w);
}

crate::both_stores! {
    #[test]
    fn sigterm_stops_a_run_once_and_interrupts_its_job_after_the_grace(w: Workdir) {
        signalled_run_gives_the_jobs_back(&w, &["run", "--once"], SIGTERM);
    }
}

crate::both_stores! {
    #[test]
    fn sigint_stops_a_run_once_and_interrupts_its_job_after_the_grace(w: Workdir) {
        signalled_run_gives_the_jobs_back(&w, &["run", "--once"], SIGINT);
    }
}

crate::both_stores! {
    #[test]
    fn sigterm_stops_a_continuous_runner_and_interrupts_its_job_after_the_grace(w: Workdir) {
        signalled_run_gives_the_jobs_back(&w, &["run"], SIGTERM);
    }
}

crate::both_stores! {
    #[test]
    fn a_second_sigint_skips_the_rest_of_the_grace(w: Workdir) {
    for once in [true, false] {
        // The first round gave both jobs back: the second starts from a clean slate.
        let _ = std::fs::remove_file(w.path().join("started"));
        let agent = two_slow_jobs(&w);
        let mut args = vec!["run", "--grace", "5m", "--", agent.as_str()];
        if once {
            args.insert(1, "--once");
        }
        let mut runner = w.spawn_logged(&args, "run.log");
        wait_until(Duration::from_secs(20), "the first job starts", || !started(&w).is_empty());
        signal(&runner, SIGINT);
        wait_until(Duration::from_secs(10), "shutdown_requested is logged", || {
            !named(&log_events(&w), "shutdown_requested").is_empty()
        });
        signal(&runner, SIGINT);
        // Well inside the 5 minute grace and the handler's 30 s sleep.
        let status = wait_exit(&mut runner, Duration::from_secs(20));
        assert!(status.success(), "{status:?}");
        let events = log_events(&w);
        assert_eq!(named(&events, "shutdown_hurried").len(), 1, "{events:?}");
        assert_eq!(named(&events, "job_interrupted").len(), 1, "{events:?}");
        assert_given_back(&w);
    }
}
}
