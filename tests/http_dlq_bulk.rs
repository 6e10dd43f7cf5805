//! The dead letter's writes over the API: purge one or many, replay many, by keys, all or a
//! filter (queue and reason), each answering what `dlq replay|purge --json` prints; the list
//! filtered and paged; the token required, bad bodies refused, nothing changed when refused.
//! And the same writes inside a runner (`run --http`), through its engine.

use std::time::Duration;

use serde_json::json;

use crate::util::cli::{Workdir, wait_until};
use crate::util::http::{AUTH, Seen, Server, TOKEN, assert_no_secret, cli_json, secret_env, start};

/// Dead-letters `keys` (queue, key) at once: exit 65 is permanent.
pub fn bury(w: &Workdir, keys: &[(&str, &str)]) {
    for (queue, key) in keys {
        w.run(&["enqueue", "--queue", queue, key, "{}"]).expect(0);
    }
    let agent = w.script("agent.sh", "exit 65");
    w.run(&["run", "--once", "--", agent.to_str().unwrap()]).expect(0);
    assert_eq!(cli_json(w, &["status", "--json"])["dead"], keys.len());
}

fn dead_count(w: &Workdir) -> serde_json::Value {
    cli_json(w, &["status", "--json"])["dead"].clone()
}

crate::both_stores! {
    #[test]
    fn dead_letters_are_purged_and_replayed_by_key_all_or_filter(w: Workdir) {
    w.run(&["init"]).expect(0);
    bury(&w, &[("mail", "a"), ("mail", "b"), ("default", "c"), ("default", "d"), ("mail", "e")]);
    let server = start(&w, &secret_env(&w));
    let mut seen = Seen::default();
    let mut call = |method: &str, path: &str, body: &str| {
        seen.keep(server.request(method, path, &[AUTH], body.as_bytes()))
    };

    // Without the token: 401, nothing changed.
    for (path, body) in [("/api/dlq/a/purge", ""), ("/api/dlq/purge", r#"{"all":true}"#), ("/api/dlq/replay", r#"{"all":true}"#)] {
        server.request("POST", path, &[], body.as_bytes()).expect(401);
    }
    assert_eq!(dead_count(&w), 5);

    // The list filtered, as `dlq list --queue --reason --json`; an unknown reason is 400.
    let mail = call("GET", "/api/dlq?queue=mail&reason=permanent", "").expect(200).json();
    assert_eq!(mail, cli_json(&w, &["dlq", "list", "--json", "--queue", "mail", "--reason", "permanent"]));
    assert_eq!(mail.as_array().unwrap().len(), 3);
    assert_eq!(call("GET", "/api/dlq?reason=crashed", "").expect(200).json(), json!([]));
    let bad = call("GET", "/api/dlq?reason=eaten", "").expect(400).json();
    assert!(bad["error"].as_str().unwrap().contains("exhausted, permanent, crashed"), "{bad}");

    // One purge: 404 for an unknown key, then the CLI's answer.
    call("POST", "/api/dlq/nope/purge", "").expect(404);
    let one = call("POST", "/api/dlq/a/purge", "").expect(200).json();
    assert_eq!(one, json!({"purged": ["a"], "missing": []}));
    call("GET", "/api/dlq/a", "").expect(404);

    // Bodies that select nothing, or several ways at once: 400, nothing changed.
    for body in ["", "not json", "{}", r#"{"keys":[]}"#, r#"{"keys":["b"],"all":true}"#,
                 r#"{"all":true,"queue":"mail"}"#, r#"{"reason":"eaten"}"#, r#"{"colour":"red"}"#] {
        let r = call("POST", "/api/dlq/purge", body).expect(400).json();
        assert!(r["error"].as_str().is_some(), "{body}: {r}");
        call("POST", "/api/dlq/replay", body).expect(400);
    }
    assert_eq!(dead_count(&w), 4);
    // Refused from its Content-Length, before it is sent.
    let huge = format!(r#"{{"keys":["{}"]}}"#, "k".repeat(2 * 1024 * 1024));
    let expect = [AUTH, ("Expect", "100-continue")];
    server.request("POST", "/api/dlq/purge", &expect, huge.as_bytes()).expect(413);
    assert_eq!(dead_count(&w), 4);

    // By filter: the queue's (and reason's) only.
    let by_queue = call("POST", "/api/dlq/replay", r#"{"queue":"mail","reason":"permanent"}"#).expect(200).json();
    assert_eq!(by_queue, json!({"replayed": ["b", "e"], "missing": []}));
    assert_eq!(cli_json(&w, &["jobs", "show", "e", "--json"])["status"], "pending");

    // By keys, one missing: 404 with what was done and what was missing, as the command.
    let keys = call("POST", "/api/dlq/replay", r#"{"keys":["c","zz"]}"#).expect(404).json();
    assert_eq!((&keys["replayed"], &keys["missing"]), (&json!(["c"]), &json!(["zz"])));
    assert!(keys["error"].as_str().unwrap().contains("\"zz\""), "{keys}");

    // All: the rest, for good. A dead letter keyed like the bulk paths is still readable.
    let all = call("POST", "/api/dlq/purge", r#"{"all":true}"#).expect(200).json();
    assert_eq!(all, json!({"purged": ["d"], "missing": []}));
    assert_eq!(dead_count(&w), 0);
    call("GET", "/api/dlq/replay", "").expect(404);
    assert_eq!(cli_json(&w, &["jobs", "--json"]).as_array().unwrap().len(), 3);

    let stopped = server.stop();
    assert_no_secret("a response", &seen.0);
    assert_no_secret("the server's stdout", &stopped.stdout);
    }
}

crate::both_stores! {
    #[test]
    fn the_dead_letter_list_is_paged_by_cursor(w: Workdir) {
    w.run(&["init"]).expect(0);
    bury(&w, &[("mail", "a"), ("mail", "b"), ("mail", "c")]);
    let server = start(&w, &secret_env(&w));
    let mut keys = Vec::new();
    let mut path = "/api/dlq?queue=mail&limit=2".to_owned();
    loop {
        let r = server.request("GET", &path, &[AUTH], b"").expect(200);
        keys.extend(r.json().as_array().unwrap().iter().map(|d| d["key"].as_str().unwrap().to_owned()));
        let Some(link) = r.header("link") else { break };
        path = link.trim_start_matches('<').split('>').next().unwrap().to_owned();
        assert!(link.ends_with("rel=\"next\""), "{link}");
        assert!(path.starts_with("/api/dlq?queue=mail&limit=2&cursor="), "{path}");
    }
    keys.sort();
    assert_eq!(keys, ["a", "b", "c"]);
    let bad = server.request("GET", "/api/dlq?cursor=zz", &[AUTH], b"").expect(400).json();
    assert!(bad["error"].as_str().unwrap().contains("without `cursor`"), "{bad}");
    server.stop();
    }
}

crate::both_stores! {
    #[test]
    fn inside_a_runner_purge_and_bulk_replay_go_through_its_engine(w: Workdir) {
    w.run(&["init"]).expect(0);
    let fixed = w.path().join("fixed");
    let agent = w.script("fixable.sh", &format!("cat > /dev/null; test -e {} || exit 65", fixed.display()));
    let agent = agent.to_str().unwrap();
    let args = ["run", "--http", "127.0.0.1:0", "--log-format", "json", "--", agent];
    let server = Server::spawn(&w, &args, &[("NIGHTSHIFT_TOKEN", TOKEN)]);
    let lines = "{\"key\":\"p1\",\"queue\":\"q\"}\n{\"key\":\"p2\",\"queue\":\"q\"}\n{\"key\":\"p3\"}\n";
    let ndjson = ("Content-Type", "application/x-ndjson");
    server.request("POST", "/api/jobs", &[AUTH, ndjson], lines.as_bytes()).expect(201);
    wait_until(Duration::from_secs(20), "three dead letters", || {
        server.request("GET", "/api/dlq", &[AUTH], b"").expect(200).json().as_array().unwrap().len() == 3
    });
    let purged = server.request("POST", "/api/dlq/p3/purge", &[AUTH], b"").expect(200).json();
    assert_eq!(purged, json!({"purged": ["p3"], "missing": []}));
    std::fs::write(&fixed, "").unwrap();
    let replayed = server.request("POST", "/api/dlq/replay", &[AUTH], br#"{"queue":"q"}"#).expect(200).json();
    assert_eq!(replayed["replayed"].as_array().unwrap().len(), 2, "{replayed}");
    wait_until(Duration::from_secs(20), "the replayed jobs are done", || {
        ["p1", "p2"].iter().all(|k| {
            let job = server.request("GET", &format!("/api/jobs/{k}"), &[AUTH], b"");
            job.status == 200 && job.json()["status"] == "done"
        })
    });
    server.request("GET", "/api/jobs/p3", &[AUTH], b"").expect(404);
    let stopped = server.stop();
    assert_eq!(stopped.code, Some(0), "{}", stopped.stderr);
    }
}
