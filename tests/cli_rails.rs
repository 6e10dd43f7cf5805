//! The safety rails through the binary: pause from another process, `spend`, `alert test`,
//! refused caps, and no secret in any output even when delivery fails.

use std::time::{Duration, Instant};

use crate::util::cli::{signal, wait_exit, wait_until};
use crate::util::sink::Sink;

const SECRET: &str = "T0KEN-abcdef-SECRET";

crate::both_stores! {
    #[test]
    fn pause_from_another_process_stops_claims_within_a_second_and_resume_restarts_them(w: Workdir) {
    w.run(&["init"]).expect(0);
    let agent = w.script("agent.sh", "touch \"ran-$NIGHTSHIFT_KEY\"; if [ \"$NIGHTSHIFT_KEY\" = slow ]; then touch slow-started; sleep 1; fi");
    w.run(&["enqueue", "slow", "{}"]).expect(0);
    let mut runner = w.spawn(&["run", "--", agent.to_str().unwrap()]);
    wait_until(Duration::from_secs(10), "the slow job starts", || {
        w.path().join("slow-started").exists()
    });
    w.run(&["pause", "--reason", "bill shock"]).expect(0);
    let paused_at = Instant::now();
    w.run(&["enqueue", "after-pause", "{}"]).expect(0);
    // The job in flight finishes; the new one is not claimed.
    wait_until(Duration::from_secs(10), "the in-flight job finishes", || {
        w.count("SELECT count(*) FROM jobs WHERE key = 'slow' AND status = 'done'") == 1
    });
    let status = w.run(&["status"]).expect(0).stdout;
    assert!(
        status.contains("yes: bill shock") && status.contains("paused (kill switch)"),
        "{status}"
    );
    // Give the runner well past its one-second promise to (wrongly) claim the job.
    while paused_at.elapsed() < Duration::from_millis(1500) {
        assert!(!w.path().join("ran-after-pause").exists(), "a job was claimed while paused");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        w.count("SELECT count(*) FROM jobs WHERE key = 'after-pause' AND status = 'pending'"),
        1
    );
    w.run(&["resume"]).expect(0);
    wait_until(Duration::from_secs(10), "claims resume", || {
        w.path().join("ran-after-pause").exists()
    });
    signal(&runner, 15);
    assert!(wait_exit(&mut runner, Duration::from_secs(20)).success());
    }
}

crate::both_stores! {
    #[test]
    fn spend_shows_the_ledger_against_the_cap(w: Workdir) {
    w.run(&["init"]).expect(0);
    let agent = w.script("paid.sh", "echo '{\"cost_usd\": 0.004}'");
    for k in ["a", "b", "c", "d", "e"] {
        w.run(&["enqueue", k, "{}"]).expect(0);
    }
    let mut run = w.cmd(&["run", "--once", "--", agent.to_str().unwrap()]);
    run.env("DAILY_CAP_USD", "0.01");
    assert!(run.output().unwrap().status.success());
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 3);
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'pending'"), 2);
    assert_eq!(w.count("SELECT count(*) FROM dead_letter"), 0);
    let mut spend = w.cmd(&["spend"]);
    spend.env("DAILY_CAP_USD", "0.01");
    let out = String::from_utf8(spend.output().unwrap().stdout).unwrap();
    assert!(
        out.contains("daily cap $0.0100") && out.contains("$0.0120") && out.contains("cap reached"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(w.run(&["spend", "--json"]).expect(0).stdout.trim()).unwrap();
    assert_eq!(json["days"][0]["micros"], 12_000);
    assert_eq!(json["days"][0]["attempts"], 3);
    }
}

crate::both_stores! {
    #[test]
    fn non_finite_and_negative_caps_are_refused_at_start(w: Workdir) {
    w.run(&["init"]).expect(0);
    for cap in ["NaN", "inf", "-0.5", "1e309"] {
        let mut run = w.cmd(&["run", "--once", "--", "true"]);
        run.env("DAILY_CAP_USD", cap);
        let out = run.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "cap {cap}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("DAILY_CAP_USD"), "cap {cap}");
    }
    }
}

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alert_test_exits_0_on_delivery_and_1_with_the_status_otherwise(w: Workdir) {
    let sink = Sink::start().await;
    w.run(&["init"]).expect(0);
    let url = sink.url(&format!("/hooks/{SECRET}"));
    let mut ok = w.cmd(&["alert", "test"]);
    ok.env("ALERT_WEBHOOK", &url);
    let out = tokio::task::spawn_blocking(move || ok.output().unwrap()).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sink.received().len(), 1);
    assert_eq!(sink.received()[0].json()["kind"], "test");

    sink.script(&[503]);
    let mut bad = w.cmd(&["alert", "test"]);
    bad.env("ALERT_WEBHOOK", &url);
    let out = tokio::task::spawn_blocking(move || bad.output().unwrap()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("HTTP 503"), "{stderr}");
    assert!(!stderr.contains(SECRET) && !String::from_utf8_lossy(&out.stdout).contains(SECRET));
    }
}

crate::both_stores! {
    #[test]
    fn no_secret_reaches_any_output_when_delivery_fails(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", "[retry]\nmax_attempts = 1\n");
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{dead_port}/hooks/{SECRET}");
    w.run(&["enqueue", "doomed", "{}"]).expect(0);
    let mut run = w.cmd(&["run", "--once", "--", "false"]);
    run.env("ALERT_WEBHOOK", &url);
    let out = run.output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("alert_failed"), "delivery was attempted and failed: {stdout}");
    for text in [stdout.into_owned(), String::from_utf8_lossy(&out.stderr).into_owned()] {
        assert!(!text.contains(SECRET), "the webhook secret leaked: {text}");
    }
    let mut alert = w.cmd(&["alert", "test"]);
    alert.env("ALERT_WEBHOOK", &url);
    let out = alert.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(SECRET));
    let mut status = w.cmd(&["status", "--json"]);
    status.env("ALERT_WEBHOOK", &url);
    assert!(!String::from_utf8_lossy(&status.output().unwrap().stdout).contains(SECRET));
    }
}
