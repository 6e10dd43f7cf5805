//! The schedules and the alert outbox, as JSON and as pages; who may see them; the login form's
//! limit on wrong tokens; and the dashboard's 404 and error pages beside the API's JSON.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::http_pages::{FORM, form, log_in};
use crate::util::http::{AUTH, Response, Seen, TOKEN, assert_no_secret, secret_env, start};

const QUARTER: i64 = 15 * 60 * 1000;

fn now_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// What `*/15 * * * *` fires next after `ms`: the next quarter hour.
fn next_quarter(ms: i64) -> i64 {
    (ms.div_euclid(QUARTER) + 1) * QUARTER
}

/// Asserts a page answered as HTML in the dashboard's layout.
fn is_page(r: &Response) {
    assert!(r.header("content-type").unwrap().starts_with("text/html"), "{r:?}");
    assert!(r.body.contains("<nav aria-label=\"Pages\">"), "{r:?}");
}

crate::both_stores! {
    #[test]
    fn schedules_list_each_entry_with_its_next_tick_and_the_last_one_enqueued(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write(
        "nightshift.toml",
        "[[schedule]]\nname = \"digest\"\ncron = \"*/15 * * * *\"\npayload = '{\"kind\":\"digest\"}'\n\
         queue = \"mail\"\n\n[[schedule]]\nname = \"never-yet\"\ncron = \"0 3 * * *\"\npayload = \"x\"\n",
    );
    w.run(&["enqueue", "--queue", "mail", "digest@2026-03-10T12:00:00Z", "{}"]).expect(0);
    w.run(&["enqueue", "--queue", "mail", "digest@2026-03-10T11:45:00Z", "{}"]).expect(0);
    let env = secret_env(&w);
    let server = start(&w, &env);
    let mut seen = Seen::default();

    let before = now_ms();
    let list = seen.keep(server.request("GET", "/api/schedules", &[AUTH], b"")).expect(200).json();
    let after = now_ms();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let digest = &list[0];
    assert_eq!((digest["name"].as_str(), digest["cron"].as_str()), (Some("digest"), Some("*/15 * * * *")));
    assert_eq!(digest["queue"], "mail");
    let next = digest["next_tick"].as_i64().unwrap();
    assert!([next_quarter(before), next_quarter(after)].contains(&next), "{digest}");
    assert_eq!(digest["last_key"], "digest@2026-03-10T12:00:00Z");
    assert_eq!(digest["last_tick"], 1_773_144_000_000_i64);
    let never = &list[1];
    assert_eq!((never["name"].as_str(), never["queue"].as_str()), (Some("never-yet"), Some("default")));
    assert!(never["last_tick"].is_null() && never["last_key"].is_null(), "{never}");
    let next = never["next_tick"].as_i64().unwrap();
    assert_eq!(next.rem_euclid(86_400_000), 3 * 3_600_000, "03:00 UTC: {never}");
    assert!(next > before && next <= after + 86_400_000, "{never}");

    let cookie = log_in(&server, &mut seen);
    let page = seen.keep(server.request("GET", "/schedules", &[("Cookie", &cookie)], b"")).expect(200);
    is_page(&page);
    assert!(page.body.contains("<th scope=\"row\">digest</th><td><code>*/15 * * * *</code></td><td>mail</td>"), "{}", page.body);
    assert!(page.body.contains("href=\"/jobs/digest%402026-03-10T12%3A00%3A00Z\""), "{}", page.body);
    assert!(page.body.contains("<td data-last>none yet</td>"), "{}", page.body);
    assert!(page.body.contains("href=\"/schedules\"") && page.body.contains("href=\"/alerts\""));
    assert_no_secret("schedules", &seen.0);
    }
}

crate::both_stores! {
    #[test]
    fn the_outbox_shows_a_failed_dead_letter_alert_and_never_the_webhook(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", "[retry]\nmax_attempts = 1\n");
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let hook = format!("http://{dead_port}/hooks/WEBHOOK-SECRET-42");
    w.run(&["enqueue", "doomed", "{}"]).expect(0);
    let mut run = w.cmd(&["run", "--once", "--", "false"]);
    run.env("ALERT_WEBHOOK", &hook);
    assert!(run.output().unwrap().status.success());
    let env = secret_env(&w);
    let server = start(&w, &env);
    let mut seen = Seen::default();

    let alerts = seen.keep(server.request("GET", "/api/alerts", &[AUTH], b"")).expect(200).json();
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!((a["kind"].as_str(), a["key"].as_str()), (Some("dead_letter"), Some("doomed")));
    assert!(a["attempts"].as_u64().unwrap() >= 1, "delivery was tried: {a}");
    assert!(a["last_error"].is_string(), "{a}");
    assert_ne!(a["state"], "delivered");
    for field in ["id", "created_at", "held", "digest", "delivered_at", "next_attempt_at"] {
        assert!(a.get(field).is_some(), "{field} in {a}");
    }
    assert_eq!(server.request("GET", "/api/alerts?limit=1", &[AUTH], b"").expect(200).json().as_array().unwrap().len(), 1);
    for bad in ["limit=0", "limit=1001", "limit=x", "since=1"] {
        seen.keep(server.request("GET", &format!("/api/alerts?{bad}"), &[AUTH], b"")).expect(400);
    }

    let cookie = log_in(&server, &mut seen);
    let page = seen.keep(server.request("GET", "/alerts", &[("Cookie", &cookie)], b"")).expect(200);
    is_page(&page);
    assert!(page.body.contains("<td>dead_letter</td><td><a href=\"/jobs/doomed\">doomed</a></td>"), "{}", page.body);
    assert_no_secret("alerts", &seen.0);
    assert!(!seen.0.contains("/hooks/"), "the webhook's path is never shown: {}", seen.0);
    }
}

crate::both_stores! {
    #[test]
    fn the_new_endpoints_need_the_token_and_the_new_pages_a_session(w: Workdir) {
    w.run(&["init"]).expect(0);
    let env = secret_env(&w);
    let server = start(&w, &env);
    for path in ["/api/activity", "/api/spend", "/api/schedules", "/api/alerts"] {
        server.request("GET", path, &[], b"").expect(401);
        server.request("GET", path, &[("Authorization", "Bearer nope")], b"").expect(401);
        server.request("GET", path, &[AUTH], b"").expect(200);
    }
    for path in ["/schedules", "/alerts"] {
        let r = server.request("GET", path, &[], b"").expect(303);
        assert_eq!(r.header("location"), Some("/login"));
        // The token opens the API, not the pages.
        server.request("GET", path, &[AUTH], b"").expect(303);
    }
    let mut seen = Seen::default();
    let cookie = log_in(&server, &mut seen);
    for path in ["/schedules", "/alerts"] {
        let page = server.request("GET", path, &[("Cookie", &cookie)], b"").expect(200);
        is_page(&page);
        assert!(page.body.contains("No "), "an empty list says so: {}", page.body);
    }
    }
}

crate::both_stores! {
    #[test]
    fn a_sixth_wrong_token_within_a_minute_is_refused_with_retry_after(w: Workdir) {
    w.run(&["init"]).expect(0);
    let env = secret_env(&w);
    let server = start(&w, &env);
    let wrong = form(&[("token", "guess")]);
    for _ in 0..5 {
        server.request("POST", "/login", &[FORM], &wrong).expect(401);
    }
    // Now even the right token waits: the limit is on the client, not on the guess.
    for body in [wrong, form(&[("token", TOKEN)])] {
        let r = server.request("POST", "/login", &[FORM], &body).expect(429);
        let wait: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!((1..=60).contains(&wait), "{r:?}");
        assert!(r.header("set-cookie").is_none());
        is_page(&r);
        assert!(r.body.contains("Too many wrong tokens"), "{}", r.body);
    }
    }
}

crate::both_stores! {
    #[test]
    fn unknown_pages_are_html_404s_while_the_api_answers_json(w: Workdir) {
    w.run(&["init"]).expect(0);
    let env = secret_env(&w);
    let server = start(&w, &env);
    let mut seen = Seen::default();
    let cookie = log_in(&server, &mut seen);
    let with = [("Cookie", cookie.as_str())];
    for path in ["/nope", "/jobs/no-such-key", "/dlq/x/y/z"] {
        let r = seen.keep(server.request("GET", path, &with, b"")).expect(404);
        is_page(&r);
    }
    let r = server.request("GET", "/nope", &with, b"").expect(404);
    assert!(r.body.contains("<h1>Not found</h1>"), "{}", r.body);
    // A page that refuses its request says so as a page: a form sent with no form body.
    let r = seen.keep(server.request("POST", "/pause", &with, b"")).expect(415);
    is_page(&r);
    let status = server.request("GET", "/api/status", &[AUTH], b"").expect(200).json();
    assert_eq!(status["paused"], false, "nothing was written");
    // The API stays JSON, and still asks for the token first.
    for path in ["/api/nope", "/api", "/api/jobs/x/y"] {
        let r = seen.keep(server.request("GET", path, &[AUTH], b"")).expect(404);
        assert!(r.header("content-type").unwrap().starts_with("application/json"), "{r:?}");
        assert_eq!(r.json()["error"], "no such endpoint");
        server.request("GET", path, &with, b"").expect(401);
    }
    assert_no_secret("404 pages", &seen.0);
    }
}
