//! What happened over time: `/api/activity` and the overview's hourly chart against rows seeded
//! with known times, `/api/spend` against `spend --json` (and `--by`), and the spend chart with
//! its cap line.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::DateTime;
use nightshift_actors::Timestamp;
use nightshift_actors::clock::utc_day;
use serde_json::Value;

use crate::http_pages::log_in;
use crate::util::cli::Workdir;
use crate::util::http::{AUTH, Seen, assert_no_secret, cli_json, secret_env, start};

const HOUR: i64 = 3_600_000;

fn now_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// The start of the UTC hour `back` hours before the current one.
fn hour(back: i64) -> i64 {
    let now = now_ms();
    now - now.rem_euclid(HOUR) - back * HOUR
}

/// A job of `status`, finished at `finished` (done), with a failed attempt at each of `failed`.
fn job(w: &Workdir, key: &str, status: &str, finished: Option<i64>, failed: &[i64]) {
    let errors: Vec<Value> = failed
        .iter()
        .enumerate()
        .map(|(i, at)| serde_json::json!({ "attempt": i + 1, "error": "boom", "at": at }))
        .collect();
    let updated = finished.or(failed.last().copied()).unwrap_or_else(now_ms);
    let finished = finished.map_or_else(|| "NULL".to_owned(), |f| f.to_string());
    w.execute(&format!(
        "INSERT INTO jobs (key, queue, payload, status, attempts, max_attempts, run_at, created_at,
                           updated_at, finished_at, errors)
         VALUES ('{key}', 'default', '{{}}', '{status}', {}, 5, {updated}, {updated}, {updated},
                 {finished}, '{}')",
        failed.len(),
        Value::from(errors)
    ));
}

/// A dead letter buried at `died` (ms) after one failed attempt then.
fn dead(w: &Workdir, key: &str, died: i64) {
    let errors = serde_json::json!([{ "attempt": 1, "error": "boom", "at": died }]);
    w.execute(&format!(
        "INSERT INTO dead_letter (key, queue, payload, error, attempts, max_attempts, died, errors,
                                  reason)
         VALUES ('{key}', 'default', '{{}}', 'boom', 1, 1, {}, '{errors}', 'exhausted')",
        died / 1000
    ));
}

/// The bucket of `/api/activity` starting at `hour`, as `(done, failed, dead)`.
fn bucket(activity: &Value, hour: i64) -> (u64, u64, u64) {
    let b = activity["hours"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["hour"] == hour)
        .unwrap_or_else(|| panic!("no bucket at {hour}: {activity}"));
    let n = |f: &str| b[f].as_u64().unwrap();
    (n("done"), n("failed"), n("dead"))
}

/// An hour as the chart's bars name it.
fn label(hour: i64) -> String {
    DateTime::from_timestamp_millis(hour).unwrap().format("%Y-%m-%d %H:00 UTC").to_string()
}

crate::both_stores! {
    #[test]
    fn activity_counts_each_hour_and_the_overview_charts_the_same_counts(w: Workdir) {
    w.run(&["init"]).expect(0);
    let h0 = hour(0);
    let (h1, h2) = (h0 - HOUR, h0 - 2 * HOUR);
    job(&w, "a", "done", Some(h0 + 1_000), &[h1 + 5_000]);
    job(&w, "b", "done", Some(h0 + 2_000), &[]);
    job(&w, "c", "done", Some(h2 + 10_000), &[h2 + 1_000, h2 + 2_000]);
    job(&w, "p", "pending", None, &[h0 + 3_000]);
    // A day and more ago: in no bucket.
    job(&w, "old", "done", Some(h0 - 30 * HOUR), &[h0 - 30 * HOUR]);
    dead(&w, "d1", h1 + 60_000);
    dead(&w, "d2", h1 + 120_000);
    let env = secret_env(&w);
    let server = start(&w, &env);
    let mut seen = Seen::default();

    let activity = seen.keep(server.request("GET", "/api/activity", &[AUTH], b"")).expect(200).json();
    assert_eq!(activity["hours"].as_array().unwrap().len(), 24);
    assert_eq!(bucket(&activity, h0), (2, 1, 0));
    assert_eq!(bucket(&activity, h1), (0, 3, 2));
    assert_eq!(bucket(&activity, h2), (1, 2, 0));
    let total = |f: &str| activity["hours"].as_array().unwrap().iter().map(|b| b[f].as_u64().unwrap()).sum::<u64>();
    assert_eq!((total("done"), total("failed"), total("dead")), (3, 6, 2));
    let week = server.request("GET", "/api/activity?hours=168", &[AUTH], b"").expect(200).json();
    assert_eq!(week["hours"].as_array().unwrap().len(), 168);
    for bad in ["hours=0", "hours=169", "hours=x", "days=3"] {
        let r = seen.keep(server.request("GET", &format!("/api/activity?{bad}"), &[AUTH], b""));
        assert!(r.expect(400).json()["error"].is_string());
    }

    // The overview draws the same counts: a bar per hour and series, each titled with its count.
    let cookie = log_in(&server, &mut seen);
    let page = seen.keep(server.request("GET", "/", &[("Cookie", &cookie)], b"")).expect(200);
    let svg = page.body.split("<figure class=\"chart\" id=\"activity\">").nth(1).expect(&page.body);
    let svg = svg.split("</figure>").next().unwrap();
    assert_eq!(svg.matches("<rect class=\"bar\"").count(), 24 * 3);
    for want in [
        format!("<title>{}: 2 done</title>", label(h0)),
        format!("<title>{}: 1 failed</title>", label(h0)),
        format!("<title>{}: 3 failed</title>", label(h1)),
        format!("<title>{}: 2 dead-lettered</title>", label(h1)),
        format!("<title>{}: 1 done</title>", label(h2)),
    ] {
        assert!(svg.contains(&want), "{want} in {svg}");
    }
    // The same numbers as a table, for a reader without the picture.
    let row = format!("<tr><th scope=\"row\">{}</th><td class=\"n\">0</td><td class=\"n\">3</td><td class=\"n\">2</td></tr>", label(h1));
    assert!(svg.contains(&row), "{row} in {svg}");
    assert_no_secret("activity and overview", &seen.0);
    }
}

crate::both_stores! {
    #[test]
    fn spend_answers_as_spend_json_and_the_overview_charts_it_against_the_cap(w: Workdir) {
    w.run(&["init"]).expect(0);
    let now = now_ms();
    let today = utc_day(Timestamp::from_millis(now));
    let three_ago = utc_day(Timestamp::from_millis(now - 3 * 86_400_000));
    for (day, key, micros) in [(&today, "a", 1_500_000), (&today, "b", 500_000), (&three_ago, "c", 250_000)] {
        w.execute(&format!(
            "INSERT INTO spend (day, key, attempt, micros, at) VALUES ('{day}', '{key}', 1, {micros}, {now})"
        ));
    }
    let env = secret_env(&w);
    let server = start(&w, &env);
    let mut seen = Seen::default();
    let mut get = |path: &str| seen.keep(server.request("GET", path, &[AUTH], b""));

    // As `spend --json`, with its default of 7 days, and with `--days`.
    let spend = get("/api/spend").expect(200).json();
    assert_eq!(spend, cli_json(&w, &["spend", "--json"]));
    assert_eq!(spend["days"][0], serde_json::json!({"day": today, "micros": 2_000_000, "attempts": 2}));
    assert_eq!(spend["daily_cap_micros"], Value::Null);
    let two = get("/api/spend?days=2").expect(200).json();
    assert_eq!(two, cli_json(&w, &["spend", "--days", "2", "--json"]));
    assert_eq!(two["days"].as_array().unwrap().len(), 1);
    let most = get("/api/spend?days=366").expect(200).json();
    assert_eq!(most, cli_json(&w, &["spend", "--days", "366", "--json"]));
    // What `spend --days` refuses, refused (400) with the range named.
    for bad in ["0", "367", "week", "-1"] {
        let r = get(&format!("/api/spend?days={bad}")).expect(400).json();
        assert!(r["error"].is_string(), "{r}");
        w.run(&["spend", "--days", bad, "--json"]).expect(2);
    }
    assert!(get("/api/spend?days=0").json()["error"].as_str().unwrap().contains("from 1 to 366"));

    // The chart: a bar a day for 30 days, today's at $2, and the cap (recorded by a runner) as
    // a line the axis reaches.
    w.execute(&format!("UPDATE control SET cap_micros = 5000000, cap_recorded_at = {now} WHERE id = 1"));
    let cookie = log_in(&server, &mut seen);
    let page = seen.keep(server.request("GET", "/", &[("Cookie", &cookie)], b"")).expect(200);
    let svg = page.body.split("<figure class=\"chart\" id=\"spend\">").nth(1).expect(&page.body);
    let svg = svg.split("</figure>").next().unwrap();
    assert_eq!(svg.matches("<rect class=\"bar\"").count(), 30);
    assert!(svg.contains(&format!("<title>{today}: $2.0000 spent</title>")), "{svg}");
    assert!(svg.contains(&format!("<title>{three_ago}: $0.2500 spent</title>")), "{svg}");
    assert!(svg.contains("<title>daily cap: $5.0000</title>"), "{svg}");
    // The axis ends at the cap: $2 of $5 is 64 of the plot's 160 units.
    assert!(svg.contains("height=\"64.0\""), "{svg}");
    assert_no_secret("spend and overview", &seen.0);
    }
}

crate::both_stores! {
    #[test]
    fn spend_by_model_queue_or_limit_answers_as_spend_by_json_and_refuses_another_word(w: Workdir) {
    w.run(&["init"]).expect(0);
    let now = now_ms();
    let today = utc_day(Timestamp::from_millis(now));
    for (key, micros, model, queue, limit) in [
        ("a", 1_500_000, "'big'", "mail", "'openai'"),
        ("b", 500_000, "'small'", "mail", "NULL"),
        ("c", 250_000, "NULL", "triage", "'openai'"),
    ] {
        w.execute(&format!(
            "INSERT INTO spend (day, key, attempt, micros, at, model, queue, limit_name, tokens_in,
                                tokens_out)
             VALUES ('{today}', '{key}', 1, {micros}, {now}, {model}, '{queue}', {limit}, 10, 3)"
        ));
    }
    let env = secret_env(&w);
    let server = start(&w, &env);
    let mut seen = Seen::default();
    let mut get = |path: &str| seen.keep(server.request("GET", path, &[AUTH], b""));

    for by in ["model", "queue", "limit"] {
        let answer = get(&format!("/api/spend?by={by}")).expect(200).json();
        assert_eq!(answer, cli_json(&w, &["spend", "--by", by, "--json"]), "{by}");
        assert_eq!(answer["by"], by);
        let two = get(&format!("/api/spend?by={by}&days=2")).expect(200).json();
        assert_eq!(two, cli_json(&w, &["spend", "--by", by, "--days", "2", "--json"]), "{by}");
    }
    let limit = get("/api/spend?by=limit").json();
    assert_eq!(
        limit["groups"][0],
        serde_json::json!({"limit": "openai", "micros": 1_750_000, "attempts": 2, "tokens_in": 20, "tokens_out": 6})
    );
    assert_eq!(limit["groups"][1]["limit"], Value::Null, "{limit}");
    // Without `by`, per day as before.
    assert_eq!(get("/api/spend").expect(200).json(), cli_json(&w, &["spend", "--json"]));

    // Another word: 400 naming the three, as `spend --by` refuses it (exit 2).
    for bad in ["day", "Model", ""] {
        let r = get(&format!("/api/spend?by={bad}")).expect(400).json();
        let error = r["error"].as_str().unwrap();
        assert!(error.contains("model, queue, limit"), "{error}");
        w.run(&["spend", "--by", bad, "--json"]).expect(2);
    }
    assert_no_secret("spend by", &seen.0);
    }
}
