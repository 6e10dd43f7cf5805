//! The dashboard's pages: the login form and its session cookie, the overview against
//! `status --json`, the kill switch's forms and their CSRF token, logout, escaping, and no
//! secret on any page. Without a token the pages are open.

use crate::util::http::{
    AUTH, Response, Seen, Server, TOKEN, assert_no_secret, cli_json, secret_env, start,
};

pub const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// `pairs` as an `application/x-www-form-urlencoded` body.
pub fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
    pairs.join("&").into_bytes()
}

/// The CSRF token in a page's forms.
pub fn csrf(page: &Response) -> String {
    let (_, rest) = page.body.split_once(r#"name="csrf" value=""#).expect(&page.body);
    rest.split('"').next().unwrap().to_owned()
}

/// The number a page shows for one of `status --json`'s counts.
fn shown(page: &Response, id: &str) -> String {
    let (_, rest) = page.body.split_once(&format!(r#"data-count="{id}">"#)).expect(&page.body);
    rest.split('<').next().unwrap().to_owned()
}

/// Logs in with the token; returns the `Cookie` header value the browser would send.
pub fn log_in(server: &Server, seen: &mut Seen) -> String {
    let body = form(&[("token", TOKEN)]);
    let r = seen.keep(server.request("POST", "/login", &[FORM], &body)).expect(303);
    assert_eq!(r.header("location"), Some("/"));
    let set = r.header("set-cookie").expect("a session cookie").to_owned();
    set.split(';').next().unwrap().to_owned()
}

crate::both_stores! {
    #[test]
    fn the_token_opens_a_session_whose_page_shows_what_status_counts(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.run(&["enqueue", "--queue", "mail", "a", "{}"]).expect(0);
    w.run(&["enqueue", "b", "{}"]).expect(0);
    let agent = w.script("agent.sh", "exit 65");
    w.run(&["run", "--once", "--", agent.to_str().unwrap()]).expect(0);
    w.run(&["enqueue", "--queue", "mail", "c", "{}"]).expect(0);
    let server = start(&w, &secret_env(&w));
    let mut seen = Seen::default();

    // No session: the pages send the browser to the login form, and nothing is written.
    for path in ["/", "/nope"] {
        let r = seen.keep(server.request("GET", path, &[], b""));
        assert_eq!(r.expect(303).header("location"), Some("/login"));
    }
    let pause = form(&[("reason", "x")]);
    seen.keep(server.request("POST", "/pause", &[FORM], &pause)).expect(303);
    let login = seen.keep(server.request("GET", "/login", &[], b"")).expect(200);
    assert!(login.body.contains(r#"type="password""#), "{}", login.body);

    // A wrong token, of any length: the form again, 401, no cookie, no hint.
    let same_length = "x".repeat(TOKEN.len());
    let mut refusals = Vec::new();
    for wrong in ["wrong", same_length.as_str(), ""] {
        let r = server.request("POST", "/login", &[FORM], &form(&[("token", wrong)]));
        let r = seen.keep(r).expect(401);
        assert!(r.header("set-cookie").is_none(), "{r:?}");
        assert!(r.body.contains(r#"type="password""#));
        refusals.push(r.body);
    }
    assert!(refusals.iter().all(|b| *b == refusals[0]), "the same words whatever was wrong");

    // The right token: a cookie that is not the token, HttpOnly and SameSite=Strict.
    let r = server.request("POST", "/login", &[FORM], &form(&[("token", TOKEN)]));
    let set = seen.keep(r).expect(303).header("set-cookie").unwrap().to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let behind_https = [FORM, ("X-Forwarded-Proto", "https")];
    let r = server.request("POST", "/login", &behind_https, &form(&[("token", TOKEN)]));
    assert!(seen.keep(r).expect(303).header("set-cookie").unwrap().contains("; Secure"));
    let cookie = log_in(&server, &mut seen);
    let page = seen.keep(server.request("GET", "/", &[("Cookie", &cookie)], b"")).expect(200);
    assert!(page.body.contains(r#"name="viewport""#));

    // The counts are `status --json`'s.
    let status = cli_json(&w, &["status", "--json"]);
    for count in ["pending", "running", "done", "dead"] {
        assert_eq!(shown(&page, count), status[count].to_string(), "{count}");
    }
    assert_eq!((shown(&page, "pending").as_str(), shown(&page, "dead").as_str()), ("1", "2"));
    assert_eq!(shown(&page, "gate"), "none: claiming");
    assert!(page.body.contains("<th scope=\"row\">mail</th>"), "{}", page.body);

    // The session does not open the API, nor the token the pages; the token still opens the API.
    server.request("GET", "/api/status", &[("Cookie", &cookie)], b"").expect(401);
    server.request("GET", "/", &[AUTH], b"").expect(303);
    server.request("GET", "/api/status", &[AUTH], b"").expect(200);

    // Logout needs the CSRF token, then ends the session.
    let r = server.request("POST", "/logout", &[FORM, ("Cookie", &cookie)], b"");
    seen.keep(r).expect(403);
    server.request("GET", "/", &[("Cookie", &cookie)], b"").expect(200);
    let body = form(&[("csrf", &csrf(&page))]);
    let r = seen.keep(server.request("POST", "/logout", &[FORM, ("Cookie", &cookie)], &body));
    assert_eq!(r.expect(303).header("location"), Some("/login"));
    let r = server.request("GET", "/", &[("Cookie", &cookie)], b"").expect(303);
    assert_eq!(r.header("location"), Some("/login"));
    assert_eq!(cli_json(&w, &["status", "--json"])["paused"], false);

    let stopped = server.stop();
    assert_no_secret("a page", &seen.0);
    assert_no_secret("the server's stdout", &stopped.stdout);
    assert_no_secret("the server's stderr", &stopped.stderr);
    }
}

crate::both_stores! {
    #[test]
    fn the_kill_switch_form_acts_only_with_its_csrf_token(w: Workdir) {
    w.run(&["init"]).expect(0);
    let server = start(&w, &secret_env(&w));
    let mut seen = Seen::default();
    let cookie = log_in(&server, &mut seen);
    let page = seen.keep(server.request("GET", "/", &[("Cookie", &cookie)], b"")).expect(200);
    assert!(page.body.contains("Not paused"), "{}", page.body);
    let token = csrf(&page);
    let with = [FORM, ("Cookie", cookie.as_str())];

    // Without the CSRF token, with another one, or from another site: 403, nothing changed.
    let other = "0".repeat(token.len());
    for body in [form(&[("reason", "deploy")]), form(&[("csrf", &other), ("reason", "deploy")])] {
        seen.keep(server.request("POST", "/pause", &with, &body)).expect(403);
    }
    let cross = [FORM, ("Cookie", cookie.as_str()), ("Origin", "https://evil.example")];
    let body = form(&[("csrf", &token), ("reason", "deploy")]);
    server.request("POST", "/pause", &cross, &body).expect(403);
    assert_eq!(cli_json(&w, &["status", "--json"])["paused"], false);

    // With it: paused, with the reason, as `status` shows.
    let r = seen.keep(server.request("POST", "/pause", &with, &body)).expect(303);
    assert_eq!(r.header("location"), Some("/"));
    let status = cli_json(&w, &["status", "--json"]);
    assert_eq!((status["paused"].clone(), status["pause_reason"].clone()), (true.into(), "deploy".into()));
    let page = seen.keep(server.request("GET", "/", &[("Cookie", &cookie)], b"")).expect(200);
    assert!(page.body.contains("<strong>Paused</strong>") && page.body.contains("deploy"));

    // Resume likewise.
    let r = server.request("POST", "/resume", &with, &form(&[("csrf", "")]));
    seen.keep(r).expect(403);
    assert_eq!(cli_json(&w, &["status", "--json"])["paused"], true);
    let r = server.request("POST", "/resume", &with, &form(&[("csrf", &token)]));
    seen.keep(r).expect(303);
    assert_eq!(cli_json(&w, &["status", "--json"])["paused"], false);

    let stopped = server.stop();
    assert_no_secret("a page", &seen.0);
    assert_no_secret("the server's stdout", &stopped.stdout);
    }
}

crate::both_stores! {
    #[test]
    fn without_a_token_the_pages_are_open_and_user_data_is_escaped(w: Workdir) {
    w.run(&["init"]).expect(0);
    let evil = "<script>alert('q')</script>";
    w.run(&["enqueue", "--queue", evil, "k", "{}"]).expect(0);
    let server = Server::start(&w, &[]);
    let r = server.request("GET", "/login", &[], b"").expect(303);
    assert_eq!(r.header("location"), Some("/"));
    let page = server.request("GET", "/", &[], b"").expect(200);
    assert!(!page.body.contains("Log out"), "no session to end");
    let reason = format!("{evil} & \"more\"");
    let body = form(&[("csrf", &csrf(&page)), ("reason", &reason)]);
    server.request("POST", "/pause", &[FORM], &form(&[("reason", "x")])).expect(403);
    server.request("POST", "/pause", &[FORM], &body).expect(303);
    assert_eq!(cli_json(&w, &["status", "--json"])["pause_reason"], reason.as_str());
    let page = server.request("GET", "/", &[], b"").expect(200);
    assert!(!page.body.contains("<script"), "{}", page.body);
    let escaped = "&lt;script&gt;alert(&#39;q&#39;)&lt;/script&gt;";
    assert!(page.body.contains(&format!("<th scope=\"row\">{escaped}</th>")), "{}", page.body);
    assert!(page.body.contains(&format!("{escaped} &amp; &quot;more&quot;")), "{}", page.body);
    server.stop();
    }
}
