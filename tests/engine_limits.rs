//! Provider limits (`[[limit]]`) through the embedding API, on paused tokio time: a limit's
//! concurrency across workers, for the jobs naming it and the jobs of the queues it lists; a
//! snooze naming its limit holding the whole limit; an `auth` failure opening the limit's own
//! breaker, with one half-open probe after the cooldown, while the global breaker stays closed;
//! its rate window. The jobs a full limit held back start as it frees, by the engine's own
//! wake-ups: the periodic rescan is an hour away.
//!
//! Each job's key starts with the limit it counts against (`free` for none), so the handler
//! can tell how many of each limit's jobs run at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nightshift_actors::{
    BreakerConfig, Clock, Engine, EngineConfig, EngineHandle, ErrorClass, JobStatus, LimitConfig,
    LimitStatus, NewJob, Outcome, Rate, Timestamp, TokioClock, Usage,
};

use crate::util::{FnHandler, TempDb, config, handler, paused};

const SECOND: Duration = Duration::from_secs(1);

/// One run of a job: its key, and when it started by the engine's clock.
#[derive(Debug, Clone)]
struct Run {
    key: String,
    start: Timestamp,
}

/// What the handler saw: every run, and the most runs at once of each key's group (what comes
/// before its `-`) and of all.
#[derive(Debug, Clone, Default)]
struct Seen {
    runs: Vec<Run>,
    now: HashMap<String, usize>,
    most: HashMap<String, usize>,
    most_total: usize,
}

impl Seen {
    fn most(&self, group: &str) -> usize {
        self.most.get(group).copied().unwrap_or(0)
    }

    /// The runs of `group`'s jobs, in the order they started.
    fn of(&self, group: &str) -> Vec<Run> {
        self.runs.iter().filter(|r| group_of(&r.key) == group).cloned().collect()
    }

    fn run(&self, key: &str) -> Run {
        self.runs.iter().find(|r| r.key == key).cloned().unwrap_or_else(|| panic!("{key} ran"))
    }
}

fn group_of(key: &str) -> &str {
    key.split('-').next().unwrap_or_default()
}

#[derive(Clone, Default)]
struct Probe(Arc<Mutex<Seen>>);

impl Probe {
    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.0.lock().unwrap()
    }

    /// What the handler saw so far.
    fn seen(&self) -> Seen {
        self.lock().clone()
    }

    fn starts(&self) -> usize {
        self.lock().runs.len()
    }

    /// A run of `key` starts at `at`: its index in `runs`, and the how-manieth of `key` it is.
    fn started(&self, key: &str, at: Timestamp) -> (usize, usize) {
        let mut seen = self.lock();
        seen.runs.push(Run { key: key.to_owned(), start: at });
        let group = group_of(key).to_owned();
        let now = {
            let now = seen.now.entry(group.clone()).or_default();
            *now += 1;
            *now
        };
        let most = seen.most.entry(group).or_default();
        *most = (*most).max(now);
        let total = seen.now.values().sum();
        seen.most_total = seen.most_total.max(total);
        let nth = seen.runs.iter().filter(|r| r.key == key).count();
        (seen.runs.len() - 1, nth)
    }

    /// The run `index` ended.
    fn ended(&self, index: usize) {
        let mut seen = self.lock();
        let group = group_of(&seen.runs[index].key).to_owned();
        *seen.now.get_mut(&group).unwrap() -= 1;
    }
}

/// One test's scene: tokio's paused clock frozen (see `paused`), the engine's clock on it, and
/// what the handler saw.
struct Scene {
    _frozen: paused::Frozen,
    clock: TokioClock,
    probe: Probe,
}

impl Scene {
    fn new() -> Self {
        Self { _frozen: paused::freeze(), clock: TokioClock::new(), probe: Probe::default() }
    }

    /// An engine config of `workers` and `limits`, on the scene's clock.
    fn config(&self, db: &TempDb, workers: usize, limits: Vec<LimitConfig>) -> EngineConfig {
        let mut cfg = config(&db.path);
        cfg.workers = workers;
        cfg.clock = Arc::new(self.clock);
        // Only the engine's own wake-ups can run a job on time: the rescan comes an hour later.
        cfg.poll_interval = Duration::from_secs(3_600);
        cfg.limits = limits;
        cfg
    }

    /// A handler that records each run and does what `script(key, nth run of key)` says: work
    /// that long (paused time, so the test moves it), then end so.
    fn handler(
        &self,
        script: impl Fn(&str, usize) -> (Duration, Outcome) + Send + Sync + 'static,
    ) -> FnHandler {
        let (clock, probe, script) = (self.clock, self.probe.clone(), Arc::new(script));
        handler(move |job| {
            let (probe, script) = (probe.clone(), script.clone());
            async move {
                let (index, nth) = probe.started(&job.key, clock.now());
                let (work, outcome) = script(&job.key, nth);
                if !work.is_zero() {
                    tokio::time::sleep(work).await;
                }
                probe.ended(index);
                outcome
            }
        })
    }

    fn starts(&self) -> usize {
        self.probe.starts()
    }

    fn seen(&self) -> Seen {
        self.probe.seen()
    }

    /// Moves the clock on to `at`, checking 1 ms before that no run started beyond the
    /// `starts` there were: `what` did not let a job through early.
    async fn pass_to(&self, engine: &EngineHandle, at: Timestamp, what: &str) {
        let starts = self.starts();
        paused::pass(at.duration_since(self.clock.now()) - Duration::from_millis(1)).await;
        let _ = engine.status().await.unwrap();
        assert_eq!(self.starts(), starts, "a job started before {what}: {:?}", self.seen().runs);
        paused::pass(Duration::from_millis(1)).await;
    }
}

fn limit(name: &str, concurrency: Option<u32>) -> LimitConfig {
    LimitConfig { concurrency, ..LimitConfig::new(name) }
}

fn job(key: &str, limit: Option<&str>, priority: i64) -> NewJob {
    NewJob { limit: limit.map(str::to_owned), priority, ..NewJob::new(key, "{}") }
}

/// Enqueues `jobs` while the kill switch is on, then turns it off: the first claim sees them all.
async fn enqueue_all(engine: &EngineHandle, jobs: Vec<NewJob>) {
    engine.pause(Some("enqueueing")).await.unwrap();
    for job in jobs {
        engine.enqueue(job).await.unwrap();
    }
    engine.resume().await.unwrap();
}

async fn done(engine: &EngineHandle) -> u64 {
    engine.status().await.unwrap().done
}

async fn limit_status(engine: &EngineHandle, name: &str) -> LimitStatus {
    let limits = engine.status().await.unwrap().limits;
    limits.into_iter().find(|l| l.name == name).unwrap_or_else(|| panic!("limit {name}"))
}

/// Jobs that each work [`SECOND`]: waits until `starts[0]` runs started, then moves the clock
/// a second at a time, waiting after each for the next count, and at last for `total` done.
async fn step_through(engine: &EngineHandle, scene: &Scene, starts: &[usize], total: u64) {
    for (step, &n) in starts.iter().enumerate() {
        if step > 0 {
            paused::pass(SECOND).await;
        }
        paused::settle(&format!("{n} runs started"), || async { scene.starts() >= n }).await;
        let _ = engine.status().await.unwrap();
        assert_eq!(scene.starts(), n, "step {step}: {:?}", scene.seen().runs);
    }
    paused::pass(SECOND).await;
    paused::settle("every job is done", || async { done(engine).await == total }).await;
}

/// openai-1 first, beside `other`-1 (of limit `limit`); then openai-2, openai-3 and `other`-2:
/// openai-1's first run stops its limit until some time, and `other`'s jobs work a second each.
fn openai_first_beside(other: &str, limit: Option<&str>) -> Vec<NewJob> {
    let openai = |n: u32, priority| job(&format!("openai-{n}"), Some("openai"), priority);
    let other = |n: u32, priority| job(&format!("{other}-{n}"), limit, priority);
    vec![openai(1, 9), other(1, 5), openai(2, 0), openai(3, 0), other(2, 0)]
}

/// After [`openai_first_beside`]'s stop, due at `until`: every openai job is pending, due then;
/// the other jobs run and end meanwhile; none of openai's starts before `until` (`what`).
async fn others_end_then_pass_to(
    engine: &EngineHandle,
    scene: &Scene,
    until: Timestamp,
    what: &str,
) {
    for key in ["openai-1", "openai-2", "openai-3"] {
        let row = engine.job(key).await.unwrap().unwrap();
        assert_eq!((row.status, row.run_at), (JobStatus::Pending, until), "{key}");
    }
    paused::pass(SECOND).await;
    paused::settle("the other jobs are done", || async { done(engine).await == 2 }).await;
    scene.pass_to(engine, until, what).await;
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn a_limit_of_concurrency_1_runs_its_jobs_one_at_a_time_beside_others(db: TempDb) {
        let scene = Scene::new();
        let limits = vec![limit("openai", Some(1)), limit("anthropic", Some(4))];
        let h = scene.handler(|_, _| (SECOND, Outcome::success()));
        let engine = Engine::start(scene.config(&db, 4, limits), h).await.unwrap();
        let mut jobs: Vec<NewJob> =
            (1..=4).map(|n| job(&format!("openai-{n}"), Some("openai"), 0)).collect();
        jobs.extend([job("anthropic-1", Some("anthropic"), 0), job("free-1", None, 0)]);
        enqueue_all(&engine, jobs).await;
        paused::settle("three run", || async { scene.starts() == 3 }).await;
        assert_eq!(limit_status(&engine, "openai").await.running, 1);
        step_through(&engine, &scene, &[3, 4, 5, 6], 6).await;
        let seen = scene.seen();
        assert_eq!(seen.most("openai"), 1, "two openai jobs overlapped: {:?}", seen.runs);
        assert_eq!(seen.most_total, 3, "anthropic-1 and free-1 ran beside openai's first");
        let openai = seen.of("openai");
        let t0 = openai[0].start;
        for (i, run) in openai.iter().enumerate() {
            assert_eq!(run.start, t0 + SECOND * i as u32, "each starts as the one before ends");
        }
        assert_eq!((seen.run("anthropic-1").start, seen.run("free-1").start), (t0, t0));
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn a_snooze_naming_its_limit_holds_every_job_of_it_and_no_other(db: TempDb) {
        let scene = Scene::new();
        let hold = Duration::from_secs(30);
        let limits = vec![limit("openai", None), limit("anthropic", None)];
        let h = scene.handler(move |key, nth| match (group_of(key), nth) {
            ("openai", 1) if key == "openai-1" => {
                let usage = Usage { limit: Some("openai".into()), ..Usage::default() };
                (Duration::ZERO, Outcome::snooze(hold).usage(usage))
            }
            ("anthropic", _) => (SECOND, Outcome::success()),
            _ => (Duration::ZERO, Outcome::success()),
        });
        let engine = Engine::start(scene.config(&db, 2, limits), h).await.unwrap();
        enqueue_all(&engine, openai_first_beside("anthropic", Some("anthropic"))).await;
        // openai-1 snoozes at once; its worker takes anthropic-2, not openai-2.
        paused::settle("openai-1 snoozed, both anthropic jobs run", || async {
            scene.starts() == 3 && engine.job("openai-1").await.unwrap().unwrap().snoozes == 1
        })
        .await;
        let until = scene.seen().run("openai-1").start + hold;
        assert_eq!(limit_status(&engine, "openai").await.held_until, Some(until));
        assert_eq!(limit_status(&engine, "anthropic").await.held_until, None);
        others_end_then_pass_to(&engine, &scene, until, "the hold ended").await;
        paused::settle("every job is done", || async { done(&engine).await == 5 }).await;
        let seen = scene.seen();
        for run in seen.of("openai").iter().skip(1) {
            assert_eq!(run.start, until, "{} ran as the hold ended", run.key);
        }
        assert!(seen.of("anthropic").iter().all(|r| r.start < until), "{:?}", seen.runs);
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn jobs_of_a_queue_a_limit_lists_count_against_it_unless_they_name_another(db: TempDb) {
        let scene = Scene::new();
        let openai = LimitConfig { queues: vec!["gpt".into()], ..limit("openai", Some(1)) };
        let limits = vec![openai, limit("anthropic", Some(4))];
        let h = scene.handler(|_, _| (SECOND, Outcome::success()));
        let engine = Engine::start(scene.config(&db, 4, limits), h).await.unwrap();
        let on_gpt = |key: &str, limit| NewJob { queue: "gpt".into(), ..job(key, limit, 0) };
        let mut jobs: Vec<NewJob> =
            (1..=3).map(|n| on_gpt(&format!("openai-{n}"), None)).collect();
        jobs.push(on_gpt("anthropic-1", Some("anthropic")));
        enqueue_all(&engine, jobs).await;
        for (key, limit) in [("openai-1", "openai"), ("anthropic-1", "anthropic")] {
            let row = engine.job(key).await.unwrap().unwrap();
            assert_eq!(row.limit.as_deref(), Some(limit), "{key}");
        }
        step_through(&engine, &scene, &[2, 3, 4], 4).await;
        let seen = scene.seen();
        assert_eq!(seen.most("openai"), 1, "two jobs of queue gpt overlapped: {:?}", seen.runs);
        assert_eq!(seen.most_total, 2, "anthropic-1 ran beside them");
        assert_eq!(limit_status(&engine, "openai").await.running, 0);
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn an_auth_failure_opens_its_limits_breaker_and_not_the_global_one(db: TempDb) {
        let scene = Scene::new();
        let cooldown = Duration::from_secs(60);
        let openai = LimitConfig { breaker: true, ..limit("openai", None) };
        let h = scene.handler(|key, nth| {
            if key == "openai-1" && nth == 1 {
                return (Duration::ZERO, Outcome::retry("HTTP 401").class(ErrorClass::Auth));
            }
            (SECOND, Outcome::success())
        });
        let mut cfg = scene.config(&db, 2, vec![openai]);
        cfg.breaker = BreakerConfig { failures: 5, cooldown, ..BreakerConfig::default() };
        let engine = Engine::start(cfg, h).await.unwrap();
        enqueue_all(&engine, openai_first_beside("free", None)).await;
        paused::settle("openai-1 failed, both free jobs run", || async {
            scene.starts() == 3 && engine.job("openai-1").await.unwrap().unwrap().attempts == 1
        })
        .await;
        let until = scene.seen().run("openai-1").start + cooldown;
        let st = engine.status().await.unwrap();
        assert_eq!((st.gate, st.breaker_failures), (None, 0), "the global breaker stays closed");
        let openai = limit_status(&engine, "openai").await;
        assert_eq!((openai.breaker.as_str(), openai.breaker_open_until), ("open", Some(until)));
        others_end_then_pass_to(&engine, &scene, until, "the cooldown ended").await;

        paused::settle("the probe runs", || async { scene.starts() == 4 }).await;
        let openai = limit_status(&engine, "openai").await;
        let probing = (openai.breaker.as_str(), openai.breaker_probe.as_deref());
        assert_eq!(probing, ("half_open", Some("openai-1")));
        assert_eq!(scene.starts(), 4, "only the probe runs, a worker free beside it");
        paused::pass(SECOND).await;
        paused::settle("the probe's success lets the rest run", || async {
            scene.starts() == 6
        })
        .await;
        assert_eq!(limit_status(&engine, "openai").await.breaker, "closed");
        paused::pass(SECOND).await;
        paused::settle("every job is done", || async { done(&engine).await == 5 }).await;
        let runs = scene.seen().of("openai");
        assert_eq!((runs[1].key.as_str(), runs[1].start), ("openai-1", until), "the probe");
        for run in &runs[2..] {
            assert_eq!(run.start, until + SECOND, "{} ran after the probe's success", run.key);
        }
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn a_limits_rate_starts_the_next_jobs_as_its_window_lifts(db: TempDb) {
        let scene = Scene::new();
        let window = Duration::from_secs(10);
        let rate = Rate { count: 2, per: window };
        let limits = vec![LimitConfig { rate: Some(rate), ..limit("openai", None) }];
        let h = scene.handler(|_, _| (Duration::ZERO, Outcome::success()));
        let engine = Engine::start(scene.config(&db, 4, limits), h).await.unwrap();
        let jobs = (1..=5).map(|n| job(&format!("openai-{n}"), Some("openai"), 0)).collect();
        enqueue_all(&engine, jobs).await;
        paused::settle("two done", || async { done(&engine).await == 2 }).await;
        let t0 = scene.seen().runs[0].start;
        for (n, done_by_then) in [(1, 4), (2, 5)] {
            // By the window's own timer: the rescan is an hour away.
            scene.pass_to(&engine, t0 + window * n, "the window lifted").await;
            paused::settle(&format!("{done_by_then} done"), || async {
                done(&engine).await == done_by_then
            })
            .await;
        }
        let starts: Vec<Duration> = scene.seen().runs.iter().map(|r| r.start - t0).collect();
        let secs = |s| Duration::from_secs(s);
        assert_eq!(starts, [secs(0), secs(0), secs(10), secs(10), secs(20)], "two a window");
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}
