//! The safety rails in-process: the daily cap with its ledger, the persisted circuit breaker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use nightshift_actors::{
    Admin, AlertConfig, BreakerConfig, Engine, EngineConfig, Gate, ManualClock, NewJob, Outcome,
};

use crate::util::sink::Sink;
use crate::util::{TempDb, config, eventually, handler, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_cap_stops_claims_until_the_next_utc_day() {
    let db = TempDb::new();
    let sink = Sink::start().await;
    let clock = ManualClock::new();
    let mut cfg = config(&db.path);
    cfg.workers = 1;
    cfg.daily_cap_micros = Some(10_000); // $0.01
    cfg.clock = Arc::new(clock.clone());
    cfg.alert = AlertConfig::webhook(sink.url("/hooks/cap"));
    cfg.alert.format = "json".into();
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let h = handler(move |_| {
        let r = r.clone();
        async move {
            r.fetch_add(1, Ordering::SeqCst);
            Outcome::Success { result: None, cost_usd: 0.004 }
        }
    });
    let engine = Engine::start(cfg.clone(), h).await.unwrap();
    for i in 0..5 {
        engine.enqueue(NewJob::new(format!("paid-{i}"), "{}")).await.unwrap();
    }
    let status = within(Duration::from_secs(20), "drain", engine.drain(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 3, "0.004 + 0.004 < 0.01, the third reaches the cap");
    assert_eq!((status.done, status.pending, status.dead), (3, 2, 0), "capped jobs stay pending");
    assert!(matches!(status.gate, Some(Gate::Cap { .. })), "{:?}", status.gate);
    assert_eq!(status.spend_today_micros, 12_000);
    eventually(Duration::from_secs(10), "one cap_hit alert", || async {
        sink.received().iter().filter(|r| r.json()["kind"] == "cap_hit").count() == 1
    })
    .await;

    // The next UTC day: the runner resumes by itself.
    clock.advance(Duration::from_secs(86_400));
    within(Duration::from_secs(20), "drain", engine.drain(Duration::from_secs(2))).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 5);
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        sink.received().iter().filter(|r| r.json()["kind"] == "cap_hit").count(),
        1,
        "once a day"
    );

    let ledger = Admin::open(&cfg).unwrap().spend(7).unwrap();
    assert_eq!(ledger.len(), 2, "{ledger:?}");
    assert_eq!((ledger[0].micros, ledger[0].attempts), (8_000, 2), "the new day, newest first");
    assert_eq!((ledger[1].micros, ledger[1].attempts), (12_000, 3));
}

fn breaker_config(db: &TempDb, sink: &Sink) -> EngineConfig {
    let mut cfg = config(&db.path);
    cfg.workers = 1;
    cfg.retry.max_attempts = 1;
    cfg.breaker = BreakerConfig {
        failures: 3,
        // Long enough that a restart under load finishes well inside it.
        cooldown: Duration::from_secs(2),
        max_cooldown: Duration::from_secs(10),
    };
    cfg.alert = AlertConfig::webhook(sink.url("/hooks/breaker"));
    cfg.alert.format = "json".into();
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_holds_claims_probes_and_survives_a_restart() {
    let db = TempDb::new();
    let sink = Sink::start().await;
    let healthy = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(AtomicUsize::new(0));
    let make = |healthy: Arc<AtomicBool>, runs: Arc<AtomicUsize>| {
        handler(move |_| {
            let (healthy, runs) = (healthy.clone(), runs.clone());
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                if healthy.load(Ordering::SeqCst) {
                    Outcome::success()
                } else {
                    Outcome::retry("upstream 503")
                }
            }
        })
    };
    let engine = Engine::start(breaker_config(&db, &sink), make(healthy.clone(), runs.clone()))
        .await
        .unwrap();
    for i in 0..8 {
        engine.enqueue(NewJob::new(format!("b-{i}"), "{}")).await.unwrap();
    }
    eventually(Duration::from_secs(10), "the breaker opens", || async {
        matches!(engine.status().await.unwrap().gate, Some(Gate::Breaker { .. }))
    })
    .await;
    assert_eq!(runs.load(Ordering::SeqCst), 3, "three failures open it; nothing more is claimed");
    eventually(Duration::from_secs(10), "one breaker_opened alert", || async {
        sink.received().iter().any(|r| r.json()["kind"] == "breaker_opened")
    })
    .await;

    // A restart keeps it open: the state is in the database.
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
    let engine = Engine::start(breaker_config(&db, &sink), make(healthy.clone(), runs.clone()))
        .await
        .unwrap();
    let st = engine.status().await.unwrap();
    assert!(matches!(st.gate, Some(Gate::Breaker { until: Some(_) })), "{:?}", st.gate);
    assert_eq!(runs.load(Ordering::SeqCst), 3);

    // After the cooldown one probe runs; it fails and the breaker re-opens for longer.
    eventually(
        Duration::from_secs(10),
        "the probe runs and its failure re-opens the breaker",
        || async {
            runs.load(Ordering::SeqCst) == 4
                && db.count("SELECT breaker_cooldown_ms FROM control") == 4000
        },
    )
    .await;
    assert_eq!(runs.load(Ordering::SeqCst), 4, "only the probe ran");

    // The next probe succeeds and closes it; the rest flows.
    healthy.store(true, Ordering::SeqCst);
    within(Duration::from_secs(20), "drain", engine.drain(Duration::from_secs(10))).await.unwrap();
    let st = engine.status().await.unwrap();
    assert_eq!(st.gate, None);
    assert_eq!(st.done, 4, "the probe and the three untried jobs");
    assert_eq!(
        db.count("SELECT count(*) FROM dead_letter"),
        4,
        "max_attempts 1: the failures were buried"
    );
    let opened = sink.received().iter().filter(|r| r.json()["kind"] == "breaker_opened").count();
    assert_eq!(opened, 1, "one alert for the opening; the re-opening is logged");
    engine.shutdown(Duration::from_secs(5)).await.unwrap();
}
