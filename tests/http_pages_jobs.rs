//! The dashboard's jobs list, job page and dead letters: what they show against the CLI's JSON,
//! the replay form and its CSRF token, the filters, escaping and percent-encoded keys, 404 for
//! an unknown key, the session they need, and no secret on any page.

use serde_json::Value;

use crate::http_pages::{FORM, csrf, form, log_in};
use crate::util::http::{Seen, Server, assert_no_secret, cli_json, secret_env, start};

/// `s` escaped as the pages escape text.
pub fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

crate::both_stores! {
    #[test]
    fn a_dead_letter_shows_its_attempts_and_replays_only_with_the_csrf_token(w: Workdir) {
    w.run(&["init"]).expect(0);
    let agent = w.script("agent.sh", "echo \"boom <$NIGHTSHIFT_ATTEMPT>\" >&2; exit 1");
    w.run(&["enqueue", "--queue", "mail", "--max-attempts", "2", "d/1", "{\"to\":\"<b>\"}"])
        .expect(0);
    w.run(&["run", "--once", "--workers", "1", "--", agent.to_str().unwrap()]).expect(0);
    let dead = cli_json(&w, &["dlq", "show", "d/1", "--json"]);
    assert_eq!(dead["errors"].as_array().map(Vec::len), Some(2), "{dead}");
    let server = start(&w, &secret_env(&w));
    let mut seen = Seen::default();

    // No session: every page and the replay form send the browser to the login form.
    for path in ["/jobs", "/jobs/d%2F1", "/dlq"] {
        let r = seen.keep(server.request("GET", path, &[], b"")).expect(303);
        assert_eq!(r.header("location"), Some("/login"), "{path}");
    }
    seen.keep(server.request("POST", "/dlq/d%2F1/replay", &[FORM], b"")).expect(303);
    assert_eq!(cli_json(&w, &["status", "--json"])["dead"], 1);

    // The list links to the job page, which shows every attempt's error as the store kept it.
    let cookie = log_in(&server, &mut seen);
    let with = [("Cookie", cookie.as_str())];
    let list = seen.keep(server.request("GET", "/dlq", &with, b"")).expect(200);
    assert!(list.body.contains("<a href=\"/jobs/d%2F1\">d/1</a>"), "{}", list.body);
    assert!(list.body.contains("Showing 1 of 1 dead letters"), "{}", list.body);
    let page = seen.keep(server.request("GET", "/jobs/d%2F1", &with, b"")).expect(200);
    // Each attempt's row: its exit status and the tail of its stderr apart, escaped, and when
    // it started.
    for e in dead["errors"].as_array().unwrap() {
        let error = e["error"].as_str().unwrap();
        let (exit, tail) = error.split_once(": ").expect(error);
        assert_eq!(exit, "exit status 1", "{dead}");
        assert!(tail.starts_with("boom <"), "{dead}");
        let row = format!("<td>{exit}</td><td class=\"wide\"><pre>{}</pre></td>", escaped(tail));
        assert!(page.body.contains(&row), "{row}: {}", page.body);
        assert!(e["started_at"].as_i64().unwrap() <= e["at"].as_i64().unwrap(), "{dead}");
    }
    assert!(page.body.contains("dead letter (exhausted)"), "{}", page.body);
    assert!(page.body.contains("{&quot;to&quot;:&quot;&lt;b&gt;&quot;}"), "{}", page.body);

    // Replay without the CSRF token, or with another one: 403, still dead-lettered.
    let post = [FORM, ("Cookie", cookie.as_str())];
    let other = "0".repeat(csrf(&page).len());
    for body in [form(&[]), form(&[("csrf", &other)])] {
        seen.keep(server.request("POST", "/dlq/d%2F1/replay", &post, &body)).expect(403);
    }
    assert_eq!(cli_json(&w, &["dlq", "show", "d/1", "--json"])["key"], "d/1");

    // With it: back to the job page, the job pending again, as `jobs show` and `status` say.
    let body = form(&[("csrf", &csrf(&list))]);
    let r = seen.keep(server.request("POST", "/dlq/d%2F1/replay", &post, &body)).expect(303);
    assert_eq!(r.header("location"), Some("/jobs/d%2F1"));
    assert_eq!(cli_json(&w, &["jobs", "show", "d/1", "--json"])["status"], "pending");
    assert_eq!(cli_json(&w, &["status", "--json"])["dead"], 0);
    let page = seen.keep(server.request("GET", "/jobs/d%2F1", &with, b"")).expect(200);
    assert!(page.body.contains("<dd data-status>pending</dd>"), "{}", page.body);
    let list = seen.keep(server.request("GET", "/dlq", &with, b"")).expect(200);
    assert!(list.body.contains("The dead letter is empty."), "{}", list.body);

    // A second replay of the same key finds nothing to replay.
    let r = server.request("POST", "/dlq/d%2F1/replay", &post, &body);
    seen.keep(r).expect(404);

    let stopped = server.stop();
    assert_no_secret("a page", &seen.0);
    assert_no_secret("the server's stdout", &stopped.stdout);
    assert_no_secret("the server's stderr", &stopped.stderr);
    }
}

/// The keys a jobs list shows, in order.
fn keys(page: &str) -> Vec<String> {
    page.split("<th scope=\"row\"><a href=\"/jobs/")
        .skip(1)
        .map(|row| row.split_once("\">").unwrap().1.split('<').next().unwrap().to_owned())
        .collect()
}

crate::both_stores! {
    #[test]
    fn the_filters_and_the_key_search_narrow_the_jobs_list(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.run(&["enqueue", "--queue", "mail", "a", "{}"]).expect(0);
    w.run(&["enqueue", "b", "{}"]).expect(0);
    let agent = w.script("agent.sh", "exit 0");
    w.run(&["run", "--once", "--", agent.to_str().unwrap()]).expect(0);
    w.run(&["enqueue", "--queue", "mail", "c", "{}"]).expect(0);
    w.run(&["enqueue", "d", "{}"]).expect(0);
    let server = Server::start(&w, &[]);
    let list = |query: &str| server.request("GET", &format!("/jobs{query}"), &[], b"");

    let all = list("").expect(200);
    assert_eq!(keys(&all.body), ["d", "c", "b", "a"], "the newest first");
    let listed = cli_json(&w, &["jobs", "--json"]);
    let cli: Vec<&str> = listed.as_array().unwrap().iter().map(|j| j["key"].as_str().unwrap()).collect();
    assert_eq!(keys(&all.body), cli);
    assert!(all.body.contains("Showing 4 of 4 matching jobs"), "{}", all.body);
    assert_eq!(keys(&list("?status=pending&queue=&key=").expect(200).body), ["d", "c"]);
    assert_eq!(keys(&list("?status=&queue=mail&key=").expect(200).body), ["c", "a"]);
    let narrow = list("?status=done&queue=mail&key=").expect(200);
    assert_eq!(keys(&narrow.body), ["a"]);
    assert!(narrow.body.contains("Showing 1 of 1 matching jobs"), "{}", narrow.body);
    assert!(narrow.body.contains("<option value=\"done\" selected>"), "{}", narrow.body);
    assert_eq!(keys(&list("?key=b").expect(200).body), ["b"]);
    assert_eq!(keys(&list("?key=b&status=pending").expect(200).body), Vec::<String>::new());
    assert_eq!(keys(&list("?key=nope").expect(200).body), Vec::<String>::new());
    let bad = list("?status=dead").expect(400);
    assert!(
        bad.body.contains("is not one of pending, running, waiting, done, cancelled"),
        "{}",
        bad.body
    );
    server.stop();
    }
}

crate::both_stores! {
    #[test]
    fn a_key_with_markup_and_a_slash_is_escaped_and_reachable_and_an_unknown_key_is_404(w: Workdir) {
    w.run(&["init"]).expect(0);
    let key = "mail/<script>alert('k')</script> x";
    w.run(&["enqueue", "--queue", "q&a", key, "<script>p</script>"]).expect(0);
    let server = Server::start(&w, &[]);
    let href = "/jobs/mail%2F%3Cscript%3Ealert%28%27k%27%29%3C%2Fscript%3E%20x";

    let list = server.request("GET", "/jobs?queue=q%26a", &[], b"").expect(200);
    assert!(!list.body.contains("<script"), "{}", list.body);
    assert!(list.body.contains(&format!("<a href=\"{href}\">{}</a>", escaped(key))), "{}", list.body);
    let page = server.request("GET", href, &[], b"").expect(200);
    assert!(!page.body.contains("<script"), "{}", page.body);
    assert!(page.body.contains(&format!("<dd>{}</dd>", escaped(key))), "{}", page.body);
    assert!(page.body.contains("<pre>&lt;script&gt;p&lt;/script&gt;</pre>"), "{}", page.body);
    assert!(page.body.contains("<a href=\"/jobs?queue=q%26a\">q&amp;a</a>"), "{}", page.body);
    let json: Value = cli_json(&w, &["jobs", "show", key, "--json"]);
    assert!(page.body.contains(&format!("<dd data-status>{}</dd>", json["status"].as_str().unwrap())));

    let missing = server.request("GET", "/jobs/nope%2F%3Cb%3E", &[], b"").expect(404);
    assert!(missing.body.contains("No job &quot;nope/&lt;b&gt;&quot;"), "{}", missing.body);
    assert!(missing.header("content-security-policy").is_some_and(|c| c.contains("default-src 'none'")));
    let overview = server.request("GET", "/", &[], b"").expect(200);
    let body = form(&[("csrf", &csrf(&overview))]);
    server.request("POST", "/dlq/nope/replay", &[FORM], &body).expect(404);
    server.stop();
    }
}
