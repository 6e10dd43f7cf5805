//! Alerts against a loopback webhook sink: each format's body, delivery through an outage and
//! a restart, 429 Retry-After, and storm digests.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use nightshift_actors::{AlertConfig, Engine, EngineConfig, NewJob, Outcome};

use crate::util::sink::Sink;
use crate::util::{TempDb, config, eventually, handler, within};

/// An engine whose handler dead-letters every key starting with `poison` at once and succeeds
/// for the rest.
async fn start(cfg: EngineConfig) -> nightshift_actors::EngineHandle {
    Engine::start(
        cfg,
        handler(|job| async move {
            if job.key.starts_with("poison") {
                Outcome::permanent(format!("cannot parse {}", job.payload))
            } else {
                Outcome::success()
            }
        }),
    )
    .await
    .expect("engine starts")
}

fn alerting(db: &TempDb, url: String, format: &str) -> EngineConfig {
    let mut cfg = config(&db.path);
    cfg.alert = AlertConfig::webhook(url);
    cfg.alert.format = format.parse().expect("a known alert format");
    cfg.alert.group_wait = Duration::from_millis(50);
    cfg.alert.retry_base = Duration::from_millis(100);
    cfg.alert.retry_cap = Duration::from_millis(400);
    // Every job here fails on purpose: keep the breaker out of the way.
    cfg.breaker.failures = 0;
    cfg
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_format_posts_the_shape_its_service_accepts(db: TempDb) {
        // One database for every format: each dead-letters a key of its own.
        for format in ["json", "slack", "discord", "ntfy", "telegram"] {
            let key = format!("poison-{format}");
            let sink = Sink::start().await;
            let url = match format {
                "telegram" => sink.url("/botSECRET123/sendMessage?chat_id=-1001"),
                "ntfy" => sink.url("/nightshift-alerts"),
                _ => sink.url("/hooks/SECRET123"),
            };
            let engine = start(alerting(&db, url, format)).await;
            engine.enqueue(NewJob::new(&key, r#"{"n":1}"#)).await.unwrap();
            eventually(Duration::from_secs(10), "the alert arrives", || async {
                !sink.received().is_empty()
            })
            .await;
            engine.shutdown(Duration::from_secs(5)).await.unwrap();
            let got = sink.received();
            assert_eq!(got.len(), 1, "{format}: one alert per dead-lettered job");
            let body = got[0].json();
            let text = match format {
                "json" => {
                    assert_eq!(got[0].path_and_query, "/hooks/SECRET123");
                    assert_eq!(
                        (body["kind"].as_str(), body["key"].as_str()),
                        (Some("dead_letter"), Some(key.as_str()))
                    );
                    assert_eq!(body["details"]["attempts"], 1);
                    body["text"].as_str().unwrap().to_owned()
                }
                "slack" => body["text"].as_str().expect("slack: text").to_owned(),
                "discord" => {
                    assert_eq!(got[0].path_and_query, "/hooks/SECRET123?wait=true");
                    assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
                    body["content"].as_str().expect("discord: content").to_owned()
                }
                "ntfy" => {
                    assert_eq!(got[0].path_and_query, "/", "ntfy JSON goes to the server root");
                    assert_eq!(body["topic"], "nightshift-alerts");
                    assert!(body["title"].is_string());
                    body["message"].as_str().expect("ntfy: message").to_owned()
                }
                "telegram" => {
                    assert_eq!(got[0].path_and_query, "/botSECRET123/sendMessage");
                    assert_eq!(body["chat_id"], "-1001");
                    assert!(body.get("parse_mode").is_none());
                    body["text"].as_str().expect("telegram: text").to_owned()
                }
                _ => unreachable!(),
            };
            for needle in [key.as_str(), "1 attempt", r#"cannot parse {"n":1}"#] {
                assert!(text.contains(needle), "{format}: {text:?} lacks {needle:?}");
            }
        }
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alerts_survive_refusal_errors_and_a_restart_and_arrive_exactly_once(db: TempDb) {
        // A port with nothing listening: connections are refused.
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let url = format!("http://{addr}/hooks/SECRET123");
        let engine = start(alerting(&db, url.clone(), "json")).await;
        for i in 0..3 {
            engine.enqueue(NewJob::new(format!("poison-{i}"), "{}")).await.unwrap();
        }
        for i in 0..20 {
            engine.enqueue(NewJob::new(format!("good-a{i}"), "{}")).await.unwrap();
        }
        engine.drain(Duration::from_secs(1)).await.unwrap();
        eventually(
            Duration::from_secs(10),
            "deliveries fail while the webhook is down",
            || async {
                db.count("SELECT count(*) FROM alerts WHERE attempts > 0 AND state = 'pending'")
                    == 3
            },
        )
        .await;
        // Restart during the outage: the owed alerts are in the outbox, not in memory.
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
        assert_eq!(db.count("SELECT count(*) FROM alerts WHERE state = 'delivered'"), 0);

        let sink = Sink::start_on(&addr.to_string()).await;
        sink.script(&[500, 500, 500, 500]);
        let engine = start(alerting(&db, url, "json")).await;
        for i in 0..20 {
            engine.enqueue(NewJob::new(format!("good-b{i}"), "{}")).await.unwrap();
        }
        engine.enqueue(NewJob::new("poison-late", "{}")).await.unwrap();
        eventually(Duration::from_secs(20), "every alert delivered after recovery", || async {
            db.count("SELECT count(*) FROM alerts WHERE state = 'delivered'") == 4
        })
        .await;
        engine.drain(Duration::from_secs(1)).await.unwrap();
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            db.count("SELECT count(*) FROM jobs WHERE status = 'done'"),
            40,
            "good jobs kept completing"
        );
        let accepted: Vec<String> = sink
            .received()
            .iter()
            .filter(|r| r.answered == 200)
            .map(|r| r.json()["key"].as_str().unwrap().to_owned())
            .collect();
        let unique: HashSet<&String> = accepted.iter().collect();
        assert_eq!(unique.len(), 4, "every owed alert reached the webhook: {accepted:?}");
        assert_eq!(accepted.len(), 4, "each alert was accepted exactly once: {accepted:?}");
        assert!(sink.received().iter().filter(|r| r.answered == 500).count() == 4);
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_429_with_retry_after_delays_the_next_delivery(db: TempDb) {
        let sink = Sink::start().await;
        sink.script(&[429]);
        sink.retry_after("2");
        let engine = start(alerting(&db, sink.url("/hooks/x"), "json")).await;
        engine.enqueue(NewJob::new("poison-rl", "{}")).await.unwrap();
        eventually(Duration::from_secs(15), "delivered after the 429", || async {
            sink.received().len() == 2
        })
        .await;
        let got = sink.received();
        let gap = got[1].at.duration_since(got[0].at);
        assert!(gap >= Duration::from_secs(2), "retried after {gap:?}, before Retry-After: 2");
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_dead_letters_in_a_burst_become_a_digest_naming_every_key(db: TempDb) {
        let sink = Sink::start().await;
        let mut cfg = alerting(&db, sink.url("/hooks/x"), "discord");
        cfg.alert.group_wait = Duration::from_secs(1);
        cfg.workers = 4;
        let engine = start(cfg).await;
        let started = Instant::now();
        for i in 0..50 {
            engine.enqueue(NewJob::new(format!("poison-{i:02}"), "{}")).await.unwrap();
        }
        within(Duration::from_secs(30), "drain", engine.drain(Duration::from_secs(1)))
            .await
            .unwrap();
        assert_eq!(db.count("SELECT count(*) FROM dead_letter"), 50);
        eventually(Duration::from_secs(20), "every alert delivered", || async {
            db.count("SELECT count(*) FROM alerts WHERE state = 'delivered'") == 50
        })
        .await;
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
        let got = sink.received();
        assert!(
            got.len() <= 6,
            "{} requests for one burst (within {:?})",
            got.len(),
            started.elapsed()
        );
        let all: String =
            got.iter().map(|r| r.json()["content"].as_str().unwrap_or("").to_owned()).collect();
        for i in 0..50 {
            assert!(all.contains(&format!("poison-{i:02}")), "poison-{i:02} is named in no alert");
        }
    }
}
