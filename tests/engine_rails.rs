//! The safety rails in-process: the daily cap with its ledger, the persisted circuit breaker.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nightshift_actors::{
    Admin, AlertConfig, BreakerConfig, Clock, Engine, EngineConfig, EngineHandle, Gate,
    ManualClock, NewJob, Outcome, Timestamp, TokioClock,
};

use crate::util::sink::Sink;
use crate::util::{TempDb, config, eventually, handler, paused, within};

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_daily_cap_stops_claims_until_the_next_utc_day(db: TempDb) {
        let sink = Sink::start().await;
        let clock = ManualClock::new();
        let mut cfg = config(&db.path);
        cfg.workers = 1;
        cfg.daily_cap_micros = Some(10_000); // $0.01
        cfg.clock = Arc::new(clock.clone());
        cfg.alert = AlertConfig::webhook(sink.url("/hooks/cap"));
        cfg.alert.format = nightshift_actors::AlertFormat::Json;
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
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "0.004 + 0.004 < 0.01, the third reaches the cap"
        );
        assert_eq!(
            (status.done, status.pending, status.dead),
            (3, 2, 0),
            "capped jobs stay pending"
        );
        assert!(matches!(status.gate, Some(Gate::Cap { .. })), "{:?}", status.gate);
        assert_eq!(status.spend_today_micros, 12_000);
        eventually(Duration::from_secs(10), "one cap_hit alert", || async {
            sink.received().iter().filter(|r| r.json()["kind"] == "cap_hit").count() == 1
        })
        .await;

        // The next UTC day: the runner resumes by itself.
        clock.advance(Duration::from_secs(86_400));
        within(Duration::from_secs(20), "drain", engine.drain(Duration::from_secs(2)))
            .await
            .unwrap();
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
}

/// A breaker config on paused time: the engine's wall clock follows tokio's, and the Retry
/// scheduler rescans only hourly, so what runs at the cooldown's end was woken by its timer.
fn breaker_config(db: &TempDb, sink: &Sink, clock: TokioClock) -> EngineConfig {
    let mut cfg = config(&db.path);
    cfg.workers = 1;
    cfg.retry.max_attempts = 1;
    cfg.breaker = BreakerConfig { failures: 3, cooldown: COOLDOWN, max_cooldown: COOLDOWN * 10 };
    cfg.poll_interval = Duration::from_secs(3_600);
    cfg.clock = Arc::new(clock);
    cfg.alert = AlertConfig::webhook(sink.url("/hooks/breaker"));
    cfg.alert.format = nightshift_actors::AlertFormat::Json;
    cfg
}

const COOLDOWN: Duration = Duration::from_secs(60);

/// When the open breaker's cooldown ends, as `status` reports it.
async fn open_until(engine: &EngineHandle) -> Timestamp {
    match engine.status().await.unwrap().gate {
        Some(Gate::Breaker { until: Some(until) }) => until,
        other => panic!("the breaker is not open: {other:?}"),
    }
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn the_breaker_opens_holds_claims_probes_and_survives_a_restart(db: TempDb) {
        let _frozen = paused::freeze();
        let clock = TokioClock::new();
        let sink = Sink::start().await;
        let healthy = Arc::new(AtomicBool::new(false));
        let runs = Arc::new(Mutex::new(Vec::new()));
        let make = |healthy: Arc<AtomicBool>, runs: Arc<Mutex<Vec<Timestamp>>>| {
            handler(move |_| {
                let (healthy, runs) = (healthy.clone(), runs.clone());
                async move {
                    runs.lock().unwrap().push(clock.now());
                    if healthy.load(Ordering::SeqCst) {
                        Outcome::success()
                    } else {
                        Outcome::retry("upstream 503")
                    }
                }
            })
        };
        let count = |runs: &Arc<Mutex<Vec<Timestamp>>>| runs.lock().unwrap().len();
        let cfg = breaker_config(&db, &sink, clock);
        let engine = Engine::start(cfg.clone(), make(healthy.clone(), runs.clone())).await.unwrap();
        for i in 0..8 {
            engine.enqueue(NewJob::new(format!("b-{i}"), "{}")).await.unwrap();
        }
        paused::settle("the breaker opens", || async {
            matches!(engine.status().await.unwrap().gate, Some(Gate::Breaker { .. }))
        })
        .await;
        assert_eq!(count(&runs), 3, "three failures open it; nothing more is claimed");
        let opened_at = clock.now();
        let until = open_until(&engine).await;
        assert_eq!(until, opened_at + COOLDOWN, "no tokio time passed while the three failed");
        // The outbox is delivered on the Alert actor's next tick.
        paused::pass(Duration::from_secs(1)).await;
        paused::settle("one breaker_opened alert", || async {
            sink.received().iter().any(|r| r.json()["kind"] == "breaker_opened")
        })
        .await;

        // A restart keeps it open: the state is in the database.
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
        let engine = Engine::start(cfg.clone(), make(healthy.clone(), runs.clone())).await.unwrap();
        assert_eq!(open_until(&engine).await, until, "the restarted runner honours the cooldown");
        assert_eq!(count(&runs), 3);

        // A millisecond before the cooldown ends nothing runs; at its end one probe runs, fails,
        // and the breaker re-opens for twice as long.
        paused::pass(until.duration_since(clock.now()) - Duration::from_millis(1)).await;
        let _ = engine.status().await.unwrap();
        assert_eq!(count(&runs), 3, "nothing runs before the cooldown ends");
        paused::pass(Duration::from_millis(1)).await;
        paused::settle("the probe runs and its failure re-opens the breaker", || async {
            count(&runs) == 4 && db.count("SELECT breaker_cooldown_ms FROM control") == 120_000
        })
        .await;
        let probe = runs.lock().unwrap()[3];
        assert_eq!(probe, until, "the cooldown's own timer ran the probe, not an hourly rescan");
        let until = open_until(&engine).await;
        assert_eq!(until, probe + COOLDOWN * 2);
        assert_eq!(count(&runs), 4, "only the probe ran");

        // The next probe succeeds and closes it; the rest flows, without another cooldown.
        healthy.store(true, Ordering::SeqCst);
        paused::pass(until.duration_since(clock.now())).await;
        paused::settle("the breaker closes and the untried jobs run", || async {
            let st = engine.status().await.unwrap();
            st.gate.is_none() && st.done == 4 && st.pending == 0 && st.running == 0
        })
        .await;
        assert_eq!(count(&runs), 8, "the probe and the three untried jobs");
        assert_eq!(
            db.count("SELECT count(*) FROM dead_letter"),
            4,
            "max_attempts 1: the failures were buried"
        );
        let opened =
            sink.received().iter().filter(|r| r.json()["kind"] == "breaker_opened").count();
        assert_eq!(opened, 1, "one alert for the opening; the re-opening is logged");
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}
