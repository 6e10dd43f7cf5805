//! In-process chaos: each actor of the tree killed mid-burst, and the wall clock jumping under
//! running jobs, leases, backoff and the daily cap. The checker decides.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nightshift_actors::{
    AlertConfig, Engine, EngineConfig, EngineHandle, ManualClock, NewJob, Outcome,
};

use crate::util::checker::{History, Rng, check_db};
use crate::util::sink::Sink;
use crate::util::{TempDb, config, eventually, within};

/// Side effects per key, applied once per key however often a job runs (an idempotent sink).
#[derive(Clone, Default)]
struct Effects {
    applied: Arc<Mutex<BTreeMap<String, usize>>>,
    runs: Arc<Mutex<BTreeMap<String, usize>>>,
}

/// good-* succeeds, flaky-* fails its first attempt, poison-* always fails; slow-* sleeps.
fn chaos_handler(effects: Effects, slow: Duration) -> crate::util::FnHandler {
    crate::util::handler(move |job| {
        let effects = effects.clone();
        async move {
            *effects.runs.lock().unwrap().entry(job.key.clone()).or_default() += 1;
            if job.key.starts_with("slow") {
                tokio::time::sleep(slow).await;
            }
            if job.key.starts_with("poison") || (job.key.starts_with("flaky") && job.attempt == 1) {
                return Outcome::retry("scripted failure");
            }
            effects.applied.lock().unwrap().entry(job.key.clone()).or_insert(1);
            Outcome::success()
        }
    })
}

fn chaos_config(db: &TempDb, sink: &Sink) -> EngineConfig {
    let mut cfg = config(&db.path);
    cfg.workers = 3;
    cfg.retry.max_attempts = 3;
    cfg.retry.base = Duration::from_millis(20);
    cfg.retry.cap = Duration::from_millis(100);
    cfg.breaker.failures = 0;
    cfg.alert = AlertConfig::webhook(sink.url("/hooks/chaos"));
    cfg.alert.format = nightshift_actors::AlertFormat::Json;
    cfg.alert.group_wait = Duration::from_millis(20);
    cfg
}

async fn enqueue_burst(
    engine: &EngineHandle,
    rng: &mut Rng,
    history: &mut History,
    from: usize,
    n: usize,
) {
    let fates = ["good", "good", "flaky", "poison", "slow"];
    for i in from..from + n {
        let key = format!("{}-{i}", fates[rng.below(fates.len() as u64) as usize]);
        engine.enqueue(NewJob::new(&key, "{}")).await.unwrap();
        history.acked.insert(key);
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn killing_each_actor_mid_burst_loses_nothing(db: TempDb) {
    let mut rng = Rng::from_env("killing_each_actor_mid_burst");
    let sink = Sink::start().await;
    let effects = Effects::default();
    let engine = Engine::start(
        chaos_config(&db, &sink),
        chaos_handler(effects.clone(), Duration::from_millis(30)),
    )
    .await
    .unwrap();
    let chaos = engine.chaos();
    let mut history = History::default();
    let mut next = 0;
    for victim in [
        "worker",
        "store",
        "retry",
        "dead_letter",
        "alert",
        "dispatcher",
        "rescuer",
        "worker",
        "store",
        "pruner",
        "dispatcher",
    ] {
        enqueue_burst(&engine, &mut rng, &mut history, next, 15).await;
        next += 15;
        // Let some of the burst start, then kill mid-flight.
        tokio::time::sleep(Duration::from_millis(rng.below(40))).await;
        let killed = match victim {
            "worker" => chaos.kill_worker(rng.below(3) as usize).await,
            "store" => chaos.kill_store().await,
            other => chaos.kill(other).await,
        };
        assert!(killed, "{victim} was not running to be killed");
    }
    within(Duration::from_secs(60), "drain", engine.drain(Duration::from_secs(2))).await.unwrap();
    eventually(Duration::from_secs(20), "every owed alert delivered", || async {
        db.count("SELECT count(*) FROM alerts WHERE state != 'delivered'") == 0
    })
    .await;
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
    let seen = effects.applied.lock().unwrap().clone();
    let (_, dead) = check_db(&db.path, &history, &seen);
    assert!(dead > 0, "the poison jobs were buried");
    // Every buried job's alert reached the webhook (at least once; a kill between the POST and
    // its bookkeeping may repeat one).
    let alerted: std::collections::BTreeSet<String> = sink
        .received()
        .iter()
        .flat_map(|r| {
            let v = r.json();
            let mut keys: Vec<String> = v["key"].as_str().map(str::to_owned).into_iter().collect();
            keys.extend(
                v["details"]["keys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k.as_str().map(str::to_owned)),
            );
            keys
        })
        .collect();
    for [key] in crate::util::store::rows(&db.path, "SELECT key FROM dead_letter")
        .into_iter()
        .map(|r| <[String; 1]>::try_from(r).unwrap())
    {
        assert!(alerted.contains(&key), "no alert reached the webhook for {key}");
    }
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn clock_jumps_expire_leases_without_duplicating_effects_and_retries_still_run(db: TempDb) {
    let sink = Sink::start().await;
    let clock = ManualClock::new();
    let mut cfg = chaos_config(&db, &sink);
    cfg.clock = Arc::new(clock.clone());
    cfg.lease = Duration::from_secs(2);
    cfg.heartbeat = Duration::from_millis(500);
    let effects = Effects::default();
    let engine = Engine::start(cfg, chaos_handler(effects.clone(), Duration::from_millis(800)))
        .await
        .unwrap();
    let mut history = History::default();
    // A forward jump while slow jobs run: their leases look expired, the reaper takes them back
    // and they run again; fencing discards the stale outcome and the effect happens once.
    for i in 0..3 {
        let key = format!("slow-{i}");
        engine.enqueue(NewJob::new(&key, "{}")).await.unwrap();
        history.acked.insert(key);
    }
    eventually(Duration::from_secs(10), "the slow jobs run", || async {
        engine.status().await.unwrap().running >= 1
    })
    .await;
    // Jump forward (an hour at a time) until the reaper has taken a lease back and the job
    // runs again beside its stale first run.
    eventually(Duration::from_secs(20), "a lease expires and a slow job runs again", || {
        clock.advance(Duration::from_secs(3_600));
        let runs = effects.runs.clone();
        async move { runs.lock().unwrap().iter().any(|(k, n)| k.starts_with("slow") && *n > 1) }
    })
    .await;
    // The last jump may have taken back another lease, its job due at the jumped time: let
    // every slow job finish before the clock goes back, or it would be due a day from now.
    eventually(Duration::from_secs(20), "the slow jobs finish", || async {
        let st = engine.status().await.unwrap();
        st.running == 0 && st.pending == 0
    })
    .await;
    // Backoff after a backward jump: a flaky job still retries and completes.
    clock.rewind(Duration::from_secs(30 * 3_600));
    for i in 0..3 {
        let key = format!("flaky-{i}");
        engine.enqueue(NewJob::new(&key, "{}")).await.unwrap();
        history.acked.insert(key);
    }
    within(Duration::from_secs(60), "drain", engine.drain(Duration::from_secs(5))).await.unwrap();
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
    let seen = effects.applied.lock().unwrap().clone();
    check_db(&db.path, &history, &seen);
    let reruns = effects
        .runs
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, n)| k.starts_with("slow") && **n > 1)
        .count();
    assert!(reruns > 0, "the forward jump expired a lease and a slow job ran again");
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backward_jump_across_midnight_does_not_reset_the_daily_cap(db: TempDb) {
    let sink = Sink::start().await;
    let clock = ManualClock::new();
    let mut cfg = chaos_config(&db, &sink);
    cfg.clock = Arc::new(clock.clone());
    cfg.daily_cap_micros = Some(10_000);
    let runs = Arc::new(Mutex::new(0));
    let r = runs.clone();
    let engine = Engine::start(
        cfg,
        crate::util::handler(move |_| {
            let r = r.clone();
            async move {
                *r.lock().unwrap() += 1;
                Outcome::Success { result: None, cost_usd: 0.004 }
            }
        }),
    )
    .await
    .unwrap();
    for i in 0..3 {
        engine.enqueue(NewJob::new(format!("paid-{i}"), "{}")).await.unwrap();
    }
    within(Duration::from_secs(20), "drain", engine.drain(Duration::from_secs(1))).await.unwrap();
    assert_eq!(*runs.lock().unwrap(), 3);
    // The clock falls back a whole day: the day already spent stays spent.
    clock.rewind(Duration::from_secs(86_400));
    for i in 3..6 {
        engine.enqueue(NewJob::new(format!("paid-{i}"), "{}")).await.unwrap();
    }
    let status = within(Duration::from_secs(20), "drain", engine.drain(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(*runs.lock().unwrap(), 3, "no job ran on the reset clock");
    assert_eq!(status.pending, 3);
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}
