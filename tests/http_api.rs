//! `nightshift serve`: every endpoint of the first API slice against the JSON the matching
//! command prints, on both stores; bodies refused; healthz and the request timeout; and no
//! secret in anything it answers or prints.

use serde_json::Value;

use crate::util::cli::Workdir;
use crate::util::http::{AUTH, Seen, Server, assert_no_secret, cli_json, secret_env, start};
use crate::util::prom::parse;

crate::both_stores! {
    #[test]
    fn every_endpoint_answers_what_the_matching_command_prints(w: Workdir) {
    w.run(&["init"]).expect(0);
    // A poison job, dead-lettered at once by its permanent exit code.
    let agent = w.script("agent.sh", "exit 65");
    w.run(&["enqueue", "poison", "{\"n\":1}"]).expect(0);
    w.run(&["run", "--once", "--", agent.to_str().unwrap()]).expect(0);
    let env = secret_env(&w);
    let server = start(&w, &env);
    let mut seen = Seen::default();
    let mut call = |method: &str, path: &str, body: &str| {
        seen.keep(server.request(method, path, &[AUTH], body.as_bytes()))
    };

    // Enqueue: created, duplicate, conflict (with where the payloads differ), as `enqueue --json`.
    let body = r#"{"key":"report/2026-11-28","payload":{"topic":"inbox"},"queue":"mail","priority":3}"#;
    let created = call("POST", "/api/jobs", body).expect(201).json();
    assert_eq!(created, serde_json::json!({"key": "report/2026-11-28", "outcome": "enqueued"}));
    let again = call("POST", "/api/jobs", body).expect(200).json();
    let cli_again = cli_json(&w, &["enqueue", "--json", "--queue", "mail", "report/2026-11-28", r#"{"topic":"inbox"}"#]);
    assert_eq!(again, cli_again);
    assert_eq!(again["outcome"], "duplicate");
    let other = r#"{"key":"report/2026-11-28","payload":{"topic":"spam"}}"#;
    let conflict = call("POST", "/api/jobs", other).expect(409).json();
    let cli_conflict = w.run(&["enqueue", "--json", "report/2026-11-28", r#"{"topic":"spam"}"#]).expect(1);
    assert_eq!(conflict, serde_json::from_str::<Value>(cli_conflict.stdout.trim()).unwrap());
    assert_eq!(conflict["differs_at_byte"], 10);
    call("POST", "/api/jobs", r#"{"key":"plain","payload":"just text"}"#).expect(201);
    let dead = call("POST", "/api/jobs", r#"{"key":"poison"}"#).expect(200).json();
    assert_eq!(dead["outcome"], "dead_lettered");

    // One job, and the listing with its filters, as `jobs show --json` and `jobs --json`.
    let job = call("GET", "/api/jobs/report%2F2026-11-28", "").expect(200).json();
    assert_eq!(job, cli_json(&w, &["jobs", "show", "report/2026-11-28", "--json"]));
    assert_eq!(job["payload"], r#"{"topic":"inbox"}"#);
    assert_eq!(job["priority"], 3);
    assert_eq!(call("GET", "/api/jobs/plain", "").json()["payload"], "just text");
    call("GET", "/api/jobs/nope", "").expect(404);
    assert_eq!(call("GET", "/api/jobs", "").expect(200).json(), cli_json(&w, &["jobs", "--json"]));
    let filtered = call("GET", "/api/jobs?status=pending&queue=mail&limit=5", "").expect(200).json();
    assert_eq!(filtered, cli_json(&w, &["jobs", "--json", "--status", "pending", "--queue", "mail", "--limit", "5"]));
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    assert_eq!(call("GET", "/api/jobs?limit=1", "").json().as_array().unwrap().len(), 1);
    call("GET", "/api/jobs?status=lost", "").expect(400);
    call("GET", "/api/jobs?limit=0", "").expect(400);
    call("GET", "/api/jobs?colour=red", "").expect(400);

    // The dead letter: list, show, replay once, as `dlq list/show/replay --json`.
    assert_eq!(call("GET", "/api/dlq", "").expect(200).json(), cli_json(&w, &["dlq", "list", "--json"]));
    let shown = call("GET", "/api/dlq/poison", "").expect(200).json();
    assert_eq!(shown, cli_json(&w, &["dlq", "show", "poison", "--json"]));
    assert_eq!(shown["reason"], "permanent");
    call("GET", "/api/dlq/nope", "").expect(404);
    let replayed = call("POST", "/api/dlq/poison/replay", "").expect(200).json();
    assert_eq!(replayed, serde_json::json!({"replayed": ["poison"], "missing": []}));
    assert_eq!(cli_json(&w, &["jobs", "show", "poison", "--json"])["status"], "pending");
    call("POST", "/api/dlq/poison/replay", "").expect(404);
    call("GET", "/api/dlq/poison", "").expect(404);

    // The kill switch, as `pause` and `resume` leave it.
    let paused = call("POST", "/api/pause", r#"{"reason":"deploying"}"#).expect(200).json();
    assert_eq!(paused, serde_json::json!({"paused": true, "changed": true}));
    let cli_status = cli_json(&w, &["status", "--json"]);
    assert_eq!((&cli_status["paused"], &cli_status["pause_reason"]), (&Value::Bool(true), &Value::from("deploying")));
    assert_eq!(call("POST", "/api/pause", "").json()["changed"], false);

    // Status, as `status --json` prints it (the age of the oldest pending job moves on; on
    // PostgreSQL the server's URL holds a password, shown as `***`).
    let mut api_status = call("GET", "/api/status", "").expect(200).json();
    let mut cli_status = cli_json(&w, &["status", "--json"]);
    let db = api_status["db"].as_str().unwrap().to_owned();
    assert_eq!(db.replace(":***@", "@"), cli_status["db"].as_str().unwrap());
    for v in [&mut api_status, &mut cli_status] {
        assert!(v["oldest_pending_ms"].as_i64().is_some(), "{v}");
        v["oldest_pending_ms"] = Value::Null;
        v["db"] = Value::Null;
    }
    assert_eq!(api_status, cli_status);
    assert_eq!(api_status["pending"], 3);

    assert_eq!(call("POST", "/api/resume", "").expect(200).json(), serde_json::json!({"paused": false, "changed": true}));
    assert_eq!(call("POST", "/api/resume", "").json()["changed"], false);
    assert_eq!(cli_json(&w, &["status", "--json"])["paused"], false);

    // Metrics: Prometheus text that parses, counting what status counts.
    let metrics = call("GET", "/metrics", "").expect(200);
    assert_eq!(metrics.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let m = parse(&metrics.body).unwrap_or_else(|e| panic!("{e}\n{}", metrics.body));
    assert_eq!(m.sum("nightshift_jobs", &[("status", "pending")]), 3.0);
    assert_eq!(m.sum("nightshift_dead_letters", &[]), 0.0);

    call("GET", "/api/nothing-here", "").expect(404);
    let stopped = server.stop();
    assert_eq!(stopped.code, Some(0), "{}", stopped.stderr);
    assert!(stopped.stdout.contains("\"http_stopped\""), "{}", stopped.stdout);
    assert_no_secret("a response", &seen.0);
    assert_no_secret("the server's stdout", &stopped.stdout);
    assert_no_secret("the server's stderr", &stopped.stderr);
    }
}

crate::both_stores! {
    #[test]
    fn oversize_bad_and_invalid_bodies_are_refused_and_write_nothing(w: Workdir) {
    w.write("nightshift.toml", "[store]\nmax_payload = \"1KiB\"\n");
    w.run(&["init"]).expect(0);
    let server = Server::start(&w, &[]);
    let post = |body: &[u8], headers: &[(&str, &str)]| server.request("POST", "/api/jobs", headers, body);
    // A payload over [store] max_payload in a body within the limit.
    let big = format!(r#"{{"key":"big","payload":"{}"}}"#, "x".repeat(2000));
    let r = post(big.as_bytes(), &[]).expect(413);
    assert!(r.json()["error"].as_str().unwrap().contains("1024-byte limit"), "{r:?}");
    // A body over the limit is refused from its Content-Length, before it is sent.
    let huge = vec![b' '; 1024 + 64 * 1024 + 1];
    let r = post(&huge, &[("Expect", "100-continue")]).expect(413);
    assert!(r.json()["error"].as_str().unwrap().contains("request body is over"), "{r:?}");
    let r = server.request("POST", "/api/pause", &[("Expect", "100-continue")], &huge).expect(413);
    assert!(r.json()["error"].is_string());
    // Not JSON, not a job, a key the store refuses, a duration that does not parse.
    post(b"{not json", &[]).expect(400);
    post(br#"{"key":"k","colour":"red"}"#, &[]).expect(400);
    assert!(post(br#"{"key":""}"#, &[]).expect(422).json()["error"].is_string());
    post(br#"{"key":"k","delay":"soon"}"#, &[]).expect(422);
    server.request("POST", "/api/pause", &[], b"{\"why\":1}").expect(400);
    assert_eq!(w.count("SELECT count(*) FROM jobs"), 0);
    assert_eq!(cli_json(&w, &["status", "--json"])["paused"], false);
    // No token configured, on loopback: the API is open, and says so when it starts.
    post(br#"{"key":"ok","delay":"1h"}"#, &[]).expect(201);
    let stopped = server.stop();
    assert!(stopped.stdout.contains("\"auth\":\"none (loopback only)\""), "{}", stopped.stdout);
    }
}

#[test]
fn healthz_says_degraded_while_the_database_is_unreachable_and_up_once_it_is_back() {
    let Some(w) = Workdir::postgres("http_api::healthz_degraded") else { return };
    w.run(&["init"]).expect(0);
    let env = secret_env(&w);
    let server = start(&w, &env);
    server.request("GET", "/healthz", &[], b"").expect(200);
    w.refuse_connections();
    let health = server.request("GET", "/healthz", &[], b"").expect(503);
    assert_eq!(health.json(), serde_json::json!({"status": "degraded"}));
    let status = server.request("GET", "/api/status", &[AUTH], b"");
    assert!(status.status >= 500, "{status:?}");
    let error = status.json()["error"].as_str().unwrap().to_owned();
    assert!(!error.contains("postgres") && !error.contains("127.0.0.1"), "{error}");
    // Let connections in again: the next request opens a fresh connection.
    let url = w.db().to_string_lossy().into_owned();
    let (server_url, name) = url.rsplit_once('/').unwrap();
    let allow = format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true");
    crate::util::store::execute(std::path::Path::new(&format!("{server_url}/postgres")), &allow);
    let health = server.request("GET", "/healthz", &[], b"").expect(200);
    assert_eq!(health.json(), serde_json::json!({"status": "up"}));
    let stopped = server.stop();
    assert_no_secret("the server's stdout", &stopped.stdout);
    assert_no_secret("the server's stderr", &stopped.stderr);
}

#[test]
fn a_request_past_the_timeout_is_answered_503_and_the_server_goes_on() {
    let w = Workdir::new();
    w.write("nightshift.toml", "[http]\ntimeout = \"1s\"\n");
    w.run(&["init"]).expect(0);
    let server = Server::start(&w, &[]);
    // Another process holds the write lock: the pause waits on SQLite's busy_timeout (5 s).
    let holder = w.conn();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    let r = server.request("POST", "/api/pause", &[], b"").expect(503);
    assert_eq!(r.json(), serde_json::json!({"error": "the request timed out"}));
    assert!(started.elapsed() < std::time::Duration::from_secs(4), "{:?}", started.elapsed());
    holder.execute_batch("ROLLBACK").unwrap();
    server.request("GET", "/healthz", &[], b"").expect(200);
    let stopped = server.stop();
    assert!(stopped.stdout.contains("\"status\":503"), "{}", stopped.stdout);
}
