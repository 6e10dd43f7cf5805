//! Where users look for limits and waits: the overview's table of `[[limit]]`s against `status
//! --json` (and no table without a limit), and a waiting job's wait, deadline, limit and the
//! command that continues it on its page and in `/api/jobs/{key}`.

use serde_json::Value;

use crate::cli_waits::rfc3339;
use crate::http_pages::log_in;
use crate::http_pages_jobs::escaped;
use crate::util::http::{AUTH, Response, Seen, assert_no_secret, cli_json, secret_env, start};

/// The overview's row for the limit `name`, its cells' text in order.
fn limit_row(page: &Response, name: &str) -> Vec<String> {
    let open = format!("<tr data-limit=\"{name}\">");
    let (_, rest) =
        page.body.split_once(&open).unwrap_or_else(|| panic!("{open} in {}", page.body));
    let row = rest.split("</tr>").next().unwrap();
    row.split("</td>")
        .filter_map(|cell| cell.rsplit_once("<td>").map(|(_, text)| text.to_owned()))
        .collect()
}

const LIMITS: &str = "[[limit]]\nname = \"openai\"\nconcurrency = 2\nrate = \"50/m\"\n\
                      cost_usd_per_day = 5.0\nbreaker = true\n\n\
                      [[limit]]\nname = \"anthropic\"\n";

crate::both_stores! {
    #[test]
    fn the_overview_shows_each_limit_as_status_json_gives_it(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", LIMITS);
    w.run(&["enqueue", "o1", "{}", "--limit", "openai"]).expect(0);
    w.run(&["enqueue", "o2", "{}", "--limit", "openai"]).expect(0);
    // One of openai's jobs runs, three claims are in its rate window, a 429 holds it and its
    // breaker is open; it spent $1.25 today.
    let now = w.count("SELECT max(created_at) FROM jobs");
    let (held, open) = (now + 600_000, now + 900_000);
    w.execute("UPDATE jobs SET status = 'running' WHERE key = 'o1'");
    w.execute(&format!(
        "INSERT INTO limits (name, held_until, breaker_open_until) VALUES ('openai', {held}, {open})"
    ));
    for back in [1_000, 2_000, 3_000] {
        w.execute(&format!("INSERT INTO limit_claims (name, at) VALUES ('openai', {})", now - back));
    }
    let today = nightshift_actors::clock::utc_day(nightshift_actors::Timestamp::from_millis(now));
    w.execute(&format!(
        "INSERT INTO spend (day, key, attempt, micros, at, limit_name)
         VALUES ('{today}', 'o1', 1, 1250000, {now}, 'openai')"
    ));
    let server = start(&w, &secret_env(&w));
    let mut seen = Seen::default();
    let cookie = log_in(&server, &mut seen);
    let page = seen.keep(server.request("GET", "/", &[("Cookie", &cookie)], b"")).expect(200);

    // The same numbers as `status --json`'s `limits`, in words.
    let status = cli_json(&w, &["status", "--json"]);
    let limit = |name: &str| {
        status["limits"].as_array().unwrap().iter().find(|l| l["name"] == name).unwrap().clone()
    };
    let openai = limit("openai");
    assert_eq!((openai["running"].as_u64(), openai["rate_used"].as_u64()), (Some(1), Some(3)), "{openai}");
    assert_eq!((openai["held_until"].as_i64(), openai["breaker_open_until"].as_i64()), (Some(held), Some(open)));
    assert_eq!(
        limit_row(&page, "openai"),
        [
            "1 / 2".to_owned(),
            "3 / 50/60s".to_owned(),
            rfc3339(held),
            format!("open until {}", rfc3339(open)),
            "$1.2500".to_owned(),
        ],
        "{}",
        page.body
    );
    assert_eq!(limit("anthropic")["breaker"], "closed");
    assert_eq!(
        limit_row(&page, "anthropic"),
        ["0 / no bound", "no rate", "not held", "closed", "$0.0000"],
        "{}",
        page.body
    );
    assert!(page.body.contains("<h2>Limits</h2>"), "{}", page.body);
    assert_no_secret("overview", &seen.0);
    }
}

crate::both_stores! {
    #[test]
    fn the_overview_shows_no_limits_table_without_a_limit(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.run(&["enqueue", "a", "{}"]).expect(0);
    assert_eq!(cli_json(&w, &["status", "--json"])["limits"], serde_json::json!([]));
    let server = start(&w, &secret_env(&w));
    let mut seen = Seen::default();
    let cookie = log_in(&server, &mut seen);
    let page = seen.keep(server.request("GET", "/", &[("Cookie", &cookie)], b"")).expect(200);
    assert!(page.body.contains("<h2>Queues</h2>"), "{}", page.body);
    assert!(!page.body.contains("Limits") && !page.body.contains("data-limit"), "{}", page.body);
    }
}

crate::both_stores! {
    #[test]
    fn a_waiting_jobs_page_and_api_show_its_wait_its_limit_and_the_command_that_continues_it(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", LIMITS);
    let key = "o'brien <review>";
    w.run(&["enqueue", key, "{}", "--limit", "openai"]).expect(0);
    w.run(&["enqueue", "done one", "{}"]).expect(0);
    // Parked as a handler's wait parks it (tests/cli_waits.rs runs the real thing).
    let until: i64 = 4_102_444_800_000;
    w.execute(&format!(
        "UPDATE jobs SET status = 'waiting', wait_name = 'approval', wait_until = {until},
                         wait_dead = 1, run_at = {until}
         WHERE key = 'o''brien <review>'"
    ));
    // A stale wait on a row that no longer waits is never shown.
    w.execute(&format!(
        "UPDATE jobs SET status = 'done', wait_name = 'old', wait_until = {until} WHERE key = 'done one'"
    ));
    let server = start(&w, &secret_env(&w));
    let mut seen = Seen::default();

    // `/api/jobs/{key}` is `jobs show --json`: the wait while waiting, null otherwise.
    let api = seen.keep(server.request("GET", "/api/jobs/o%27brien%20%3Creview%3E", &[AUTH], b""));
    let api = api.expect(200).json();
    assert_eq!(api, cli_json(&w, &["jobs", "show", key, "--json"]));
    assert_eq!(api["wait"], serde_json::json!({"name": "approval", "until": until, "on_timeout": "dead"}));
    assert_eq!(api["limit"], "openai");
    let done = seen.keep(server.request("GET", "/api/jobs/done%20one", &[AUTH], b"")).expect(200).json();
    assert_eq!((&done["wait"], &done["limit"]), (&Value::Null, &Value::Null), "{done}");

    // The page: the same, and the command the waiting alert gives, escaped.
    let cookie = log_in(&server, &mut seen);
    let with = [("Cookie", cookie.as_str())];
    let page = seen.keep(server.request("GET", "/jobs/o%27brien%20%3Creview%3E", &with, b""));
    let page = page.expect(200);
    let command = nightshift_actors::signal_command(key, "approval");
    assert_eq!(command, r"nightshift signal 'o'\''brien <review>' approval -");
    for want in [
        "<dt>Limit</dt><dd>openai</dd>".to_owned(),
        "<dt>Waits for</dt><dd>approval</dd>".to_owned(),
        format!("<dt>Deadline</dt><dd>{}, then dead (dead-lettered at once)</dd>", rfc3339(until)),
        format!("<pre data-command>{}</pre>", escaped(&command)),
    ] {
        assert!(page.body.contains(&want), "{want} in {}", page.body);
    }
    let done = seen.keep(server.request("GET", "/jobs/done%20one", &with, b"")).expect(200);
    assert!(!done.body.contains("Waits for") && !done.body.contains("data-command"), "{}", done.body);

    // Both lists filter by every status, waiting included, as `jobs --status` does.
    let waiting = seen.keep(server.request("GET", "/api/jobs?status=waiting", &[AUTH], b""));
    let waiting = waiting.expect(200).json();
    assert_eq!(waiting, cli_json(&w, &["jobs", "--status", "waiting", "--json"]));
    assert_eq!(waiting.as_array().map(Vec::len), Some(1), "{waiting}");
    let none = seen.keep(server.request("GET", "/api/jobs?status=cancelled", &[AUTH], b""));
    assert_eq!(none.expect(200).json(), serde_json::json!([]));
    let listed = seen.keep(server.request("GET", "/jobs?status=waiting", &with, b"")).expect(200);
    assert!(listed.body.contains("<option value=\"waiting\" selected>"), "{}", listed.body);
    assert!(listed.body.contains(&escaped(key)) && !listed.body.contains("done one"), "{}", listed.body);
    assert!(!done.body.contains("<dt>Limit</dt>"), "{}", done.body);
    assert_no_secret("job page", &seen.0);
    }
}
