//! Runners sharing one PostgreSQL database: three `nightshift run` processes SIGKILLed at
//! random moments and restarted while producers enqueue, a runner whose connections the
//! server cuts, and (`restart`) a runner whose server restarts and crashes. A dead runner's
//! jobs come back through lease expiry; the checker decides. PostgreSQL only: without a server
//! each test says it was not run.

mod check;
mod restart;

use std::process::{Child, ExitStatus};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::util::checker::{History, Rng};
use crate::util::cli::{Workdir, signal, wait_exit, wait_until};

/// The shortest lease allowed, so a killed runner's jobs come back within seconds; fast
/// retries; the breaker out of the way (poison jobs fail in a row on purpose).
const CONFIG: &str = "[retry]\nmax_attempts = 3\nbase = \"20ms\"\ncap = \"200ms\"\n\
                      [breaker]\nfailures = 100000\n[store]\nlease = \"3s\"\n";

/// How long the kills go on.
const STORM: Duration = Duration::from_secs(12);

/// How long the drain may go without finishing a job: several leases, so only a job stuck
/// for good (a lost lease, a hung runner) fails it, not a slow machine.
const STALL: Duration = Duration::from_secs(20);

/// Whether nothing is pending or running.
fn drained(w: &Workdir) -> bool {
    w.count("SELECT count(*) FROM jobs WHERE status != 'done'") == 0
}

/// Waits until the runners drained the queue; panics, saying what is left, once no job was
/// finished for [`STALL`].
fn drain(w: &Workdir) {
    let left = || w.count("SELECT count(*) FROM jobs WHERE status != 'done'");
    let (mut last, mut progress) = (left(), Instant::now());
    while last > 0 {
        std::thread::sleep(Duration::from_millis(50));
        let now = left();
        if now < last {
            progress = Instant::now();
        }
        last = now;
        if progress.elapsed() > STALL {
            let stuck = w.count(
                "SELECT count(*) FROM jobs WHERE status = 'running'
                 AND lease_expires_at < (extract(epoch FROM now()) * 1000)::bigint",
            );
            panic!("the drain stalled: {now} jobs left, {stuck} of them running past their lease");
        }
    }
}

/// Runner processes by slot, each a continuous `nightshift run`; a slot is empty while its
/// runner is down.
struct Runners<'a> {
    w: &'a Workdir,
    agent: String,
    slots: Vec<Option<Child>>,
    started: usize,
}

impl<'a> Runners<'a> {
    fn new(w: &'a Workdir, agent: String, n: usize) -> Self {
        let mut r = Runners { w, agent, slots: (0..n).map(|_| None).collect(), started: 0 };
        (0..n).for_each(|i| r.start(i));
        r
    }

    fn start(&mut self, i: usize) {
        if self.slots[i].is_none() {
            let log = format!("runner-{i}-{}.log", self.started);
            self.started += 1;
            let args = ["run", "--workers", "2", "--", &self.agent];
            self.slots[i] = Some(self.w.spawn_logged(&args, &log));
        }
    }

    /// SIGKILL: no release, no last commit; the runner's row and leases are left behind.
    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.slots[i].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Stops every runner with SIGTERM; each must exit 0.
    fn stop(&mut self) {
        for child in self.slots.iter_mut().filter_map(Option::take) {
            signal(&child, 15);
            let mut child = child;
            assert!(wait_exit(&mut child, Duration::from_secs(20)).success(), "runner exit");
        }
    }
}

impl Drop for Runners<'_> {
    fn drop(&mut self) {
        (0..self.slots.len()).for_each(|i| self.kill(i));
    }
}

/// One producer's plan: bursts of (fate, pause before the enqueue in ms), drawn from the
/// seeded RNG. A burst is one `enqueue --jsonl`: every runner wakes to several due jobs at once
/// and their claims contend.
fn plan(rng: &mut Rng) -> Vec<(Vec<&'static str>, u64)> {
    let fates = ["good", "good", "good", "flaky", "poison", "slow"];
    let burst = |rng: &mut Rng| -> Vec<&'static str> {
        (0..rng.below(4) + 1).map(|_| fates[rng.below(fates.len() as u64) as usize]).collect()
    };
    (0..2000).map(|_| (burst(rng), rng.below(150))).collect()
}

/// Enqueues bursts, one process each, until `stop`, recording each acknowledged key.
fn produce(
    w: &Workdir,
    p: usize,
    plan: &[(Vec<&str>, u64)],
    stop: &AtomicBool,
    history: &Mutex<History>,
) {
    let file = w.path().join(format!("producer-{p}.jsonl"));
    for (n, (fates, pause)) in plan.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(Duration::from_millis(*pause));
        let keys: Vec<String> =
            fates.iter().enumerate().map(|(i, f)| format!("{f}-p{p}-{n}-{i}")).collect();
        let lines: String = keys.iter().map(|k| format!("{{\"key\":\"{k}\"}}\n")).collect();
        std::fs::write(&file, lines).unwrap();
        let out = w.run(&["enqueue", "--jsonl", file.to_str().unwrap()]);
        assert_eq!(out.code, Some(0), "enqueue {keys:?}: {out:?}");
        history.lock().unwrap().acked.extend(keys);
    }
}

#[test]
fn three_runners_sigkilled_at_random_while_producers_enqueue_lose_nothing() {
    let Some(w) = Workdir::postgres("chaos_runners::three_runners_sigkilled") else { return };
    let mut rng = Rng::from_env("three_runners_sigkilled");
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", CONFIG);
    let agent = check::agent(&w);
    let plans = [plan(&mut rng), plan(&mut rng), plan(&mut rng)];
    let history = Mutex::new(History::default());
    let stop = AtomicBool::new(false);
    let mut runners = Runners::new(&w, agent.clone(), 3);
    let mut kills = 0;
    std::thread::scope(|s| {
        let producers: Vec<_> = plans
            .iter()
            .enumerate()
            .map(|(p, plan)| {
                let (w, stop, history) = (&w, &stop, &history);
                s.spawn(move || produce(w, p, plan, stop, history))
            })
            .collect();
        let end = Instant::now() + STORM;
        while Instant::now() < end {
            // The fault: a kill at a random moment (this sleep injects it; it waits for no
            // outcome). A killed runner comes back at once, or stays down a while.
            std::thread::sleep(Duration::from_millis(rng.below(800)));
            for i in 0..3 {
                if rng.below(2) == 0 {
                    runners.start(i);
                }
            }
            runners.kill(rng.below(3) as usize);
            kills += 1;
        }
        stop.store(true, Ordering::Relaxed);
        producers.into_iter().for_each(|p| p.join().unwrap());
    });
    let history = history.into_inner().unwrap();
    // Heal: every runner back, and the queue drained by them (lease expiry returns the jobs
    // the killed ones held).
    (0..3).for_each(|i| runners.start(i));
    drain(&w);
    runners.stop();
    let (done, dead) = check::check(&w, &history);
    let rescued = rescued(&w);
    eprintln!(
        "three_runners_sigkilled: {} enqueued, {done} done, {dead} dead, {kills} kills, \
         {rescued} jobs rescued after a lease expired, {} runner starts",
        history.acked.len(),
        runners.started
    );
    assert!(history.acked.len() >= 60, "the producers enqueued too little to mean anything");
    assert!(rescued > 0, "no kill left a job behind: the scenario tested no rescue");
}

/// How many jobs were taken back from a runner whose lease expired, done or dead since.
fn rescued(w: &Workdir) -> i64 {
    w.count(
        "SELECT (SELECT count(*) FROM jobs WHERE errors LIKE '%lease expired%')
              + (SELECT count(*) FROM dead_letter WHERE errors LIKE '%lease expired%')",
    )
}

/// Terminates every other backend on the test's database (the runner's connections); returns
/// how many there were.
fn cut_connections(w: &Workdir) -> i64 {
    w.count(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()) cut",
    )
}

#[test]
fn a_runner_whose_connections_are_cut_recovers_or_exits_without_losing_an_outcome() {
    let Some(w) = Workdir::postgres("chaos_runners::connections_cut") else { return };
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", CONFIG);
    let agent = check::agent(&w);
    let mut history = History::default();
    enqueue_mix(&w, &mut history, 0..16);
    let mut runner = w.spawn_logged(&["run", "--workers", "2", "--", &agent], "runner.log");
    // Two cuts, each while handlers run: the first early, the second once work resumed.
    for round in 0..2 {
        if !working(&w, &mut runner) {
            break;
        }
        assert!(cut_connections(&w) > 0, "round {round}: the runner held no connection");
        // Jobs enqueued after the cut must be picked up too (the wake-up channel is new).
        enqueue_mix(&w, &mut history, 100 * (round + 1)..100 * (round + 1) + 4);
    }
    if let Some(status) = finish(&w, &mut runner, "runner.log", &agent) {
        eprintln!("connections_cut: the runner exited with {status}");
    }
    let (done, dead) = check::check(&w, &history);
    assert_eq!((done, dead), (history.acked.len(), 0), "every job done");
}

/// Enqueues `slow-i` and `flaky-i` by turns for each `i` in `keys`, one command each,
/// recording every acknowledged key.
fn enqueue_mix(w: &Workdir, history: &mut History, keys: std::ops::Range<usize>) {
    for i in keys {
        let key = format!("{}-{i}", ["slow", "flaky"][i % 2]);
        w.run(&["enqueue", &key, "{}"]).expect(0);
        history.acked.insert(key);
    }
}

/// How many attempts reached their end in the handler (completions.txt, `check::agent`).
fn completions(w: &Workdir) -> usize {
    std::fs::read_to_string(w.path().join("completions.txt")).map_or(0, |t| t.lines().count())
}

/// Waits until the runner has finished an attempt since the call and handlers are running;
/// false when it exited instead.
fn working(w: &Workdir, runner: &mut Child) -> bool {
    let before = completions(w);
    wait_until(Duration::from_secs(20), "the runner works", || {
        runner.try_wait().unwrap().is_some()
            || (completions(w) > before
                && w.count("SELECT count(*) FROM jobs WHERE status = 'running'") > 0)
    });
    runner.try_wait().unwrap().is_none()
}

/// After a fault on the runner's database: it either finishes the queue (then stops on
/// SIGTERM with 0, having started its Store again, as `log` says) or exits non-zero, and then
/// the next runner (`run --once`) finishes what it left. The runner's exit status in that case.
fn finish(w: &Workdir, runner: &mut Child, log: &str, agent: &str) -> Option<ExitStatus> {
    wait_until(Duration::from_secs(30), "the runner finishes the queue or exits", || {
        drained(w) || runner.try_wait().unwrap().is_some()
    });
    match runner.try_wait().unwrap() {
        Some(status) => {
            // Gave up on the database: it must say so by its exit code.
            assert!(!status.success(), "a runner that lost its database exited 0");
            w.run(&["run", "--once", "--wait", "5s", "--", agent]).expect(0);
            Some(status)
        }
        None => {
            signal(runner, 15);
            assert!(wait_exit(runner, Duration::from_secs(20)).success(), "runner exit");
            let log = std::fs::read_to_string(w.path().join(log)).unwrap();
            assert!(log.contains(r#""actor":"Store","event":"worker_restarted""#), "{log}");
            None
        }
    }
}
