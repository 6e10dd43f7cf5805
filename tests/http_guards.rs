//! Who may use `nightshift serve`: the bearer token (none, wrong, same length, from a file),
//! loopback only without one, and nothing a web page could make a browser send.

use crate::util::cli::Workdir;
use crate::util::http::{AUTH, Seen, Server, TOKEN, assert_no_secret, cli_json, secret_env, start};

crate::both_stores! {
    #[test]
    fn a_missing_wrong_or_same_length_token_is_refused_and_healthz_stays_open(w: Workdir) {
    w.run(&["init"]).expect(0);
    let env = secret_env(&w);
    let server = start(&w, &env);
    let same_length = format!("Bearer {}", "x".repeat(TOKEN.len()));
    let off_by_one = format!("Bearer {}X", &TOKEN[..TOKEN.len() - 1]);
    let refusals: [&[(&str, &str)]; 6] = [
        &[],
        &[("Authorization", "Bearer wrong")],
        &[("Authorization", &same_length)],
        &[("Authorization", &off_by_one)],
        &[("Authorization", TOKEN)],
        &[("Authorization", &format!("Basic {TOKEN}"))],
    ];
    let mut seen = Seen::default();
    for headers in refusals {
        for (method, path) in [("GET", "/api/status"), ("GET", "/metrics"), ("POST", "/api/pause"), ("GET", "/api/jobs/x")] {
            let r = seen.keep(server.request(method, path, headers, b"")).expect(401);
            assert_eq!(r.json(), serde_json::json!({"error": "unauthorized"}), "{method} {path}");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        }
        let r = server.request("POST", "/api/jobs", headers, br#"{"key":"sneaky"}"#).expect(401);
        seen.keep(r);
    }
    assert_eq!(w.count("SELECT count(*) FROM jobs"), 0, "a refused request wrote nothing");
    assert_eq!(cli_json(&w, &["status", "--json"])["paused"], false);
    let health = seen.keep(server.request("GET", "/healthz", &[], b"")).expect(200);
    assert_eq!(health.json(), serde_json::json!({"status": "up"}));
    server.request("GET", "/api/status", &[AUTH], b"").expect(200);
    let lower = format!("bearer {TOKEN}");
    server.request("GET", "/api/status", &[("Authorization", &lower)], b"").expect(200);
    let stopped = server.stop();
    assert!(stopped.stdout.contains("\"auth\":\"bearer token\""), "{}", stopped.stdout);
    assert_no_secret("a response", &seen.0);
    assert_no_secret("the server's stdout", &stopped.stdout);
    assert_no_secret("the server's stderr", &stopped.stderr);
    }
}

#[test]
fn serving_beyond_loopback_without_a_token_is_refused() {
    let w = Workdir::new();
    w.run(&["init"]).expect(0);
    for addr in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8787"] {
        let out = w.run(&["serve", "--listen", addr]).expect(2);
        assert!(out.stderr.contains("without a token"), "{}", out.stderr);
        assert!(out.stderr.contains("NIGHTSHIFT_TOKEN"), "{}", out.stderr);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
    let out = w.run(&["serve", "--listen", "localhost"]).expect(2);
    assert!(out.stderr.contains("127.0.0.1:8787"), "{}", out.stderr);
    let short = w
        .cmd(&["serve", "--listen", "0.0.0.0:0"])
        .env("NIGHTSHIFT_TOKEN", "short")
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stderr).contains("openssl rand"));
    let token = w.write("token", &format!("{TOKEN}\n"));
    w.write("nightshift.toml", "[http]\ntoken_file = \"token\"\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = w.run(&["serve", "--listen", "0.0.0.0:0"]).expect(2);
    assert!(out.stderr.contains("chmod 600"), "{}", out.stderr);
    assert_no_secret("the refusal", &out.stderr);
}

#[test]
fn a_token_file_guards_the_api() {
    use std::os::unix::fs::PermissionsExt;
    let w = Workdir::new();
    w.run(&["init"]).expect(0);
    let token = w.write("token", &format!("  {TOKEN}\n"));
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    w.write("nightshift.toml", "[http]\ntoken_file = \"token\"\n");
    let server = Server::start(&w, &[]);
    server.request("GET", "/api/status", &[], b"").expect(401);
    server.request("GET", "/api/status", &[AUTH], b"").expect(200);
    assert_eq!(server.stop().code, Some(0));
}

#[test]
fn a_web_page_cannot_use_the_api_through_a_browser() {
    let w = Workdir::new();
    w.run(&["init"]).expect(0);
    let server = Server::start(&w, &[]);
    let host = server.addr.to_string();
    let own_origin = format!("http://{host}");
    // DNS rebinding: a page's own name resolved to 127.0.0.1.
    let rebound = server.request("GET", "/api/status", &[("Host", "evil.example:8787")], b"");
    assert!(rebound.expect(403).json()["error"].as_str().unwrap().contains("localhost"));
    server.request("GET", "/api/status", &[("Host", "localhost:8787")], b"").expect(200);
    // A cross-site write, told by Origin or by the browser's fetch metadata.
    let writes: [&[(&str, &str)]; 3] = [
        &[("Origin", "https://evil.example")],
        &[("Origin", "null")],
        &[("Sec-Fetch-Site", "cross-site")],
    ];
    for headers in writes {
        server.request("POST", "/api/pause", headers, b"").expect(403);
        server.request("POST", "/api/jobs", headers, br#"{"key":"csrf"}"#).expect(403);
    }
    assert_eq!(cli_json(&w, &["status", "--json"])["paused"], false);
    assert_eq!(w.count("SELECT count(*) FROM jobs"), 0);
    // The same page's own requests, and a cross-site read, go through.
    server.request("POST", "/api/pause", &[("Origin", &own_origin)], b"").expect(200);
    server.request("GET", "/api/status", &[("Sec-Fetch-Site", "cross-site")], b"").expect(200);
    assert_eq!(server.stop().code, Some(0));
    // With a token, another name in Host is fine (a reverse proxy's).
    let env = secret_env(&w);
    let server = start(&w, &env);
    server.request("GET", "/api/status", &[AUTH, ("Host", "agent.example")], b"").expect(200);
    server.stop();
}
