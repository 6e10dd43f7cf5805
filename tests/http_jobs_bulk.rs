//! Jobs over the API in bulk: a JSONL batch enqueued as `enqueue --jsonl --json` does (a bad
//! line refuses it all, naming the line, a limit the config does not define included), the
//! listing walked page by page by its cursor while jobs are inserted, and the key-prefix
//! search, where `%` and `_` are plain characters.

use serde_json::Value;

use crate::http_pages::log_in;
use crate::util::cli::Workdir;
use crate::util::http::{AUTH, Seen, assert_no_secret, cli_json, secret_env, start};

const NDJSON: (&str, &str) = ("Content-Type", "application/x-ndjson");

fn lines(body: &str) -> Vec<Value> {
    body.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn job_count(w: &Workdir) -> usize {
    cli_json(w, &["jobs", "--json"]).as_array().unwrap().len()
}

crate::both_stores! {
    #[test]
    fn a_jsonl_batch_is_enqueued_as_the_command_does_and_a_bad_line_refuses_it_all(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.run(&["enqueue", "taken", "{\"v\":1}"]).expect(0);
    let server = start(&w, &secret_env(&w));
    let mut seen = Seen::default();
    let batch = "{\"key\":\"j1\",\"payload\":{\"n\":1},\"queue\":\"mail\"}\n\n{\"key\":\"j2\",\"priority\":2}\n{\"key\":\"taken\",\"payload\":{\"v\":1}}\n";

    server.request("POST", "/api/jobs", &[NDJSON], batch.as_bytes()).expect(401);
    let r = seen.keep(server.request("POST", "/api/jobs", &[AUTH, NDJSON], batch.as_bytes())).expect(201);
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let got = lines(&r.body);
    // What the command prints for the same lines, once they are all there: duplicates.
    std::fs::write(w.path().join("batch.jsonl"), batch).unwrap();
    let cli = w.run(&["enqueue", "--jsonl", "batch.jsonl", "--json"]).expect(0);
    let cli = lines(&cli.stdout);
    assert_eq!(got.len(), 4);
    for (api, cli) in got.iter().zip(&cli) {
        assert_eq!((&api["key"], &api["line"]), (&cli["key"], &cli["line"]));
    }
    assert_eq!((&got[0]["outcome"], &got[0]["line"]), (&"enqueued".into(), &1.into()));
    assert_eq!((&got[1]["key"], &got[1]["line"]), (&"j2".into(), &3.into()));
    assert_eq!(got[2]["outcome"], "duplicate");
    assert_eq!(got[3]["summary"], serde_json::json!({"lines": 3, "enqueued": 2, "duplicate": 1, "dead_lettered": 0, "conflict": 0}));
    assert_eq!(cli_json(&w, &["jobs", "show", "j1", "--json"])["queue"], "mail");

    // A conflict: 409, the other lines applied.
    let conflict = "{\"key\":\"j3\"}\n{\"key\":\"taken\",\"payload\":{\"v\":2}}\n";
    let r = seen.keep(server.request("POST", "/api/jobs", &[AUTH, NDJSON], conflict.as_bytes())).expect(409);
    assert_eq!(lines(&r.body)[1]["outcome"], "conflict");
    assert_eq!(job_count(&w), 4);

    // A bad line anywhere: refused whole, naming the line; nothing enqueued.
    for (body, status, line) in [
        ("{\"key\":\"k1\"}\nnot json\n", 400, "line 2"),
        ("{\"key\":\"k1\"}\n{\"key\":\"k2\",\"delay\":\"soon\"}\n", 422, "line 2"),
        ("{\"key\":\"k1\"}\n\n{\"key\":\"\"}\n", 422, "line 3"),
        ("{\"key\":\"k1\",\"colour\":\"red\"}\n", 400, "line 1"),
        ("\n\n", 400, "no jobs"),
    ] {
        let r = seen.keep(server.request("POST", "/api/jobs", &[AUTH, NDJSON], body.as_bytes())).expect(status);
        let error = r.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(line), "{body:?}: {error}");
    }
    let big = format!("{{\"key\":\"k1\"}}\n{{\"key\":\"k2\",\"payload\":\"{}\"}}\n", "x".repeat(1024 * 1024 + 1));
    let r = server.request("POST", "/api/jobs", &[AUTH, ("Content-Type", "application/jsonl")], big.as_bytes()).expect(413);
    assert!(r.json()["error"].as_str().unwrap().contains("line 2"), "{r:?}");
    assert_eq!(job_count(&w), 4);
    server.request("GET", "/api/jobs/k1", &[AUTH], b"").expect(404);

    let stopped = server.stop();
    assert_no_secret("a response", &seen.0);
    assert_no_secret("the server's stdout", &stopped.stdout);
    }
}

crate::both_stores! {
    #[test]
    fn a_line_naming_an_unknown_limit_refuses_the_batch_and_a_queues_limit_applies(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", "[[limit]]\nname = \"openai\"\nqueues = [\"digest\"]\n");
    let server = start(&w, &secret_env(&w));
    let typo = "{\"key\":\"k1\"}\n{\"key\":\"k2\",\"limit\":\"opnai\"}\n";
    let r = server.request("POST", "/api/jobs", &[AUTH, NDJSON], typo.as_bytes()).expect(422);
    let error = r.json()["error"].as_str().unwrap().to_owned();
    for needle in ["line 2", "unknown limit \"opnai\"", "the configured limits are openai", "nothing was enqueued"] {
        assert!(error.contains(needle), "{needle}: {error}");
    }
    assert_eq!(job_count(&w), 0, "nothing enqueued");

    // A job of a queue a limit lists counts against it, unless it names a limit itself.
    let batch = "{\"key\":\"d1\",\"queue\":\"digest\"}\n{\"key\":\"m1\",\"queue\":\"mail\"}\n";
    server.request("POST", "/api/jobs", &[AUTH, NDJSON], batch.as_bytes()).expect(201);
    let one = b"{\"key\":\"d2\",\"queue\":\"digest\"}";
    server.request("POST", "/api/jobs", &[AUTH, ("Content-Type", "application/json")], one).expect(201);
    let limit = |key: &str| server.request("GET", &format!("/api/jobs/{key}"), &[AUTH], b"").expect(200).json()["limit"].clone();
    assert_eq!((limit("d1"), limit("d2"), limit("m1")), ("openai".into(), "openai".into(), Value::Null));
    server.stop();
    }
}

crate::both_stores! {
    #[test]
    fn pages_walk_every_job_once_while_jobs_are_inserted(w: Workdir) {
    w.run(&["init"]).expect(0);
    for n in 0..7 {
        w.run(&["enqueue", &format!("old-{n}"), "{}"]).expect(0);
    }
    let server = start(&w, &secret_env(&w));
    let mut keys: Vec<String> = Vec::new();
    let mut path = "/api/jobs?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let r = server.request("GET", &path, &[AUTH], b"").expect(200);
        keys.extend(r.json().as_array().unwrap().iter().map(|j| j["key"].as_str().unwrap().to_owned()));
        pages += 1;
        // Inserted between pages: newer than every cursor, so on no later page.
        w.run(&["enqueue", &format!("new-{pages}"), "{}"]).expect(0);
        let Some(link) = r.header("link") else { break };
        assert!(link.ends_with("; rel=\"next\""), "{link}");
        let cursor = r.header("x-next-cursor").unwrap();
        path = link.trim_start_matches('<').split('>').next().unwrap().to_owned();
        assert_eq!(path, format!("/api/jobs?limit=3&cursor={cursor}"));
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..7).rev().map(|n| format!("old-{n}")).collect();
    assert_eq!(keys, expected);
    for bad in ["zz", "6a", "64313a61"] {
        let r = server.request("GET", &format!("/api/jobs?cursor={bad}"), &[AUTH], b"").expect(400);
        assert!(r.json()["error"].as_str().unwrap().contains("without `cursor`"), "{r:?}");
    }
    server.stop();
    }
}

crate::both_stores! {
    #[test]
    fn a_key_prefix_finds_its_keys_with_percent_and_underscore_taken_literally(w: Workdir) {
    w.run(&["init"]).expect(0);
    for key in ["50%/a", "50%/b", "500/c", "a_b", "axb", "a_"] {
        w.run(&["enqueue", key, "{}"]).expect(0);
    }
    let server = start(&w, &secret_env(&w));
    let mut seen = Seen::default();
    let keys = |query: &str| -> Vec<String> {
        let r = server.request("GET", &format!("/api/jobs?{query}"), &[AUTH], b"").expect(200);
        r.json().as_array().unwrap().iter().map(|j| j["key"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(keys("prefix=50%25"), ["50%/b", "50%/a"]);
    assert_eq!(keys("prefix=a_"), ["a_", "a_b"]);
    assert_eq!(keys("prefix=a"), ["a_", "axb", "a_b"]);
    assert_eq!(keys("prefix=a_&limit=1"), ["a_"]);
    assert!(keys("prefix=zz").is_empty());

    // The page: its search box, and the next page's link.
    let cookie = log_in(&server, &mut seen);
    let with = [("Cookie", cookie.as_str())];
    let page = seen.keep(server.request("GET", "/jobs?prefix=50%25", &with, b"")).expect(200);
    assert!(page.body.contains("Showing 2 of 2 matching jobs"), "{}", page.body);
    assert!(page.body.contains(">50%/a</a>") && !page.body.contains(">500/c</a>"), "{}", page.body);
    assert!(!page.body.contains("Next page"), "{}", page.body);
    server.stop();
    }
}
