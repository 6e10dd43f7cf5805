//! Runners sharing one PostgreSQL database: three `nightshift run` processes SIGKILLed at
//! random moments and restarted while producers enqueue, and a runner whose connections the
//! server cuts. A dead runner's jobs come back through lease expiry; the checker decides.
//! PostgreSQL only: without a server each test says it was not run.

mod check;

use std::process::Child;
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
const STORM: Duration = Duration::from_secs(15);

/// What the runners must finish within once the storm ends (a few leases).
const DRAIN: Duration = Duration::from_secs(30);

/// Whether nothing is pending or running.
fn drained(w: &Workdir) -> bool {
    w.count("SELECT count(*) FROM jobs WHERE status != 'done'") == 0
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

/// One producer's plan: (fate, pause before the enqueue in ms), drawn from the seeded RNG.
fn plan(rng: &mut Rng) -> Vec<(&'static str, u64)> {
    let fates = ["good", "good", "good", "flaky", "poison", "slow"];
    (0..5000).map(|_| (fates[rng.below(fates.len() as u64) as usize], rng.below(40))).collect()
}

/// Enqueues keys one process at a time until `stop`, recording each acknowledged key.
fn produce(
    w: &Workdir,
    p: usize,
    plan: &[(&str, u64)],
    stop: &AtomicBool,
    history: &Mutex<History>,
) {
    for (n, (fate, pause)) in plan.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(Duration::from_millis(*pause));
        let key = format!("{fate}-p{p}-{n}");
        let out = w.run(&["enqueue", &key, "{}"]);
        assert_eq!(out.code, Some(0), "enqueue {key}: {out:?}");
        history.lock().unwrap().acked.insert(key);
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
    wait_until(DRAIN, "the runners drain the queue", || drained(&w));
    runners.stop();
    let (done, dead) = check::check(&w, &history);
    let rescued = w.count(
        "SELECT (SELECT count(*) FROM jobs WHERE errors LIKE '%lease expired%')
              + (SELECT count(*) FROM dead_letter WHERE errors LIKE '%lease expired%')",
    );
    eprintln!(
        "three_runners_sigkilled: {} enqueued, {done} done, {dead} dead, {kills} kills, \
         {rescued} jobs rescued after a lease expired, {} runner starts",
        history.acked.len(),
        runners.started
    );
    assert!(history.acked.len() >= 60, "the producers enqueued too little to mean anything");
    assert!(rescued > 0, "no kill left a job behind: the scenario tested no rescue");
}
