//! Failure classes and the ledger's model and tokens through the embedding API: each class's
//! effect (snooze, retry toward the breaker, the breaker opened at once, the dead letter), and
//! `Usage` recorded beside the cost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nightshift_actors::{
    Admin, AlertConfig, BreakerConfig, Engine, EngineConfig, ErrorClass, Gate, GroupSpend,
    JobStatus, NewJob, Outcome, SpendBy, TokioClock, Usage,
};

use crate::util::sink::Sink;
use crate::util::{TempDb, config, handler, paused};

fn timed(db: &TempDb) -> EngineConfig {
    let mut cfg = config(&db.path);
    cfg.workers = 1;
    cfg.clock = Arc::new(TokioClock::new());
    cfg.poll_interval = Duration::from_secs(3_600);
    cfg
}

/// A handler failing every run of a job whose key names a class with that class.
fn classed() -> crate::util::FnHandler {
    handler(|job| async move {
        let word = job.key.split('-').next().unwrap_or_default().to_owned();
        let class = word.parse::<ErrorClass>().expect("the key starts with a class");
        Outcome::Retry { error: format!("HTTP says {word}"), cost_usd: 0.0, delay: None }
            .class(class)
    })
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn rate_limited_and_overloaded_snooze_without_counting_an_attempt(db: TempDb) {
        let _frozen = paused::freeze();
        let engine = Engine::start(timed(&db), classed()).await.unwrap();
        for key in ["rate_limited-1", "overloaded-1"] {
            engine.enqueue(NewJob::new(key, "{}")).await.unwrap();
        }
        for key in ["rate_limited-1", "overloaded-1"] {
            paused::settle("the job snoozes", || async {
                engine.job(key).await.unwrap().unwrap().snoozes == 1
            })
            .await;
            let row = engine.job(key).await.unwrap().unwrap();
            assert_eq!((row.status, row.attempts), (JobStatus::Pending, 0), "{key}");
        }
        assert_eq!(engine.status().await.unwrap().breaker_failures, 0);
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn server_errors_retry_and_count_toward_the_breaker(db: TempDb) {
        let _frozen = paused::freeze();
        let mut cfg = timed(&db);
        cfg.breaker = BreakerConfig { failures: 2, ..BreakerConfig::default() };
        let engine = Engine::start(cfg, classed()).await.unwrap();
        for key in ["server-1", "server-2"] {
            engine.enqueue(NewJob::new(key, "{}")).await.unwrap();
        }
        paused::settle("two server errors open the breaker", || async {
            matches!(engine.status().await.unwrap().gate, Some(Gate::Breaker { .. }))
        })
        .await;
        for key in ["server-1", "server-2"] {
            let row = engine.job(key).await.unwrap().unwrap();
            assert_eq!((row.status, row.attempts, row.snoozes), (JobStatus::Pending, 1, 0));
            assert!(row.last_error.unwrap().starts_with("error_class server: HTTP says server"));
        }
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn an_auth_failure_opens_the_breaker_at_once_with_one_alert(db: TempDb) {
        let _frozen = paused::freeze();
        let sink = Sink::start().await;
        let mut cfg = timed(&db);
        cfg.breaker = BreakerConfig { failures: 5, ..BreakerConfig::default() };
        cfg.alert = AlertConfig::webhook(sink.url("/hooks/auth"));
        cfg.alert.format = nightshift_actors::AlertFormat::Json;
        let engine = Engine::start(cfg, classed()).await.unwrap();
        for key in ["auth-1", "auth-2", "auth-3"] {
            engine.enqueue(NewJob::new(key, "{}")).await.unwrap();
        }
        paused::settle("one auth failure opens the breaker", || async {
            matches!(engine.status().await.unwrap().gate, Some(Gate::Breaker { .. }))
        })
        .await;
        let st = engine.status().await.unwrap();
        assert_eq!(st.breaker_failures, 1, "opened by the first failure, not the fifth");
        assert_eq!((st.pending, st.done), (3, 0), "the others wait; the failed one retries");
        // The outbox is delivered on the Alert actor's next tick.
        paused::pass(Duration::from_secs(1)).await;
        paused::settle("the breaker_opened alert", || async {
            sink.received().iter().any(|r| r.json()["kind"] == "breaker_opened")
        })
        .await;
        let alerts: Vec<_> =
            sink.received().into_iter().filter(|r| r.json()["kind"] == "breaker_opened").collect();
        assert_eq!(alerts.len(), 1);
        let body = alerts[0].json();
        let text = body.to_string();
        assert!(text.contains("auth") && text.contains("HTTP says auth"), "{text}");
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn client_and_context_length_errors_dead_letter_at_once(db: TempDb) {
        let _frozen = paused::freeze();
        let engine = Engine::start(timed(&db), classed()).await.unwrap();
        for key in ["client-1", "context_length-1"] {
            engine.enqueue(NewJob::new(key, "{}")).await.unwrap();
        }
        paused::settle("both are dead-lettered", || async {
            engine.status().await.unwrap().dead == 2
        })
        .await;
        for (key, word) in [("client-1", "client"), ("context_length-1", "context_length")] {
            let dead = Admin::open(&timed(&db)).unwrap().dead_letter(key).unwrap().unwrap();
            assert_eq!(dead.attempts, 1, "{key}: after one attempt");
            assert_eq!(dead.reason.as_str(), "permanent");
            assert!(dead.error.starts_with(&format!("error_class {word}: ")), "{}", dead.error);
        }
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(start_paused = true)]
    async fn the_ledger_records_each_attempts_model_and_tokens(db: TempDb) {
        let _frozen = paused::freeze();
        // The first run of "big" snoozes (a snooze is the same attempt: count runs, not attempts).
        let snoozed = Arc::new(AtomicBool::new(false));
        let h = handler(move |job| {
            let snoozed = snoozed.clone();
            async move {
                let (model, cost) =
                    if job.key == "big" { ("gpt-big", 0.03) } else { ("gpt-small", 0.01) };
                let usage = Usage::model(model).tokens(1_000, 200);
                if job.key == "big" && !snoozed.swap(true, Ordering::SeqCst) {
                    return Outcome::snooze(Duration::from_secs(1)).usage(usage);
                }
                Outcome::Success { result: None, cost_usd: cost }.usage(usage)
            }
        });
        let engine = Engine::start(timed(&db), h).await.unwrap();
        for (key, queue) in [("big", "research"), ("small", "mail")] {
            let job = NewJob { queue: queue.to_owned(), ..NewJob::new(key, "{}") };
            engine.enqueue(job).await.unwrap();
        }
        paused::settle("small is done and big snoozed", || async {
            let big = engine.job("big").await.unwrap().unwrap();
            big.snoozes == 1 && engine.status().await.unwrap().done == 1
        })
        .await;
        paused::pass(Duration::from_secs(1)).await;
        paused::settle("both are done", || async { engine.status().await.unwrap().done == 2 })
            .await;
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
        let admin = Admin::open(&timed(&db)).unwrap();
        let row = |name: &str, micros, attempts, tokens_in, tokens_out| GroupSpend {
            name: Some(name.to_owned()),
            micros,
            attempts,
            tokens_in,
            tokens_out,
        };
        assert_eq!(
            admin.spend_by(SpendBy::Model, 1).unwrap(),
            [row("gpt-big", 30_000, 2, 2_000, 400), row("gpt-small", 10_000, 1, 1_000, 200)],
            "the snoozed run's usage counts too"
        );
        assert_eq!(
            admin.spend_by(SpendBy::Queue, 1).unwrap(),
            [row("research", 30_000, 2, 2_000, 400), row("mail", 10_000, 1, 1_000, 200)]
        );
        assert_eq!(admin.spend(1).unwrap()[0].micros, 40_000, "the daily ledger as before");
    }
}
