//! The dead letters page's filter and bulk buttons, and the confirmation step every purge and
//! bulk replay goes through: the GET shows what would be done and changes nothing; only the
//! Confirm form, with the CSRF token, acts.

use crate::http_dlq_bulk::bury;
use crate::http_pages::{FORM, csrf, form, log_in};
use crate::util::http::{Seen, assert_no_secret, cli_json, secret_env, start};

crate::both_stores! {
    #[test]
    fn purges_and_bulk_replays_act_only_once_confirmed_with_the_csrf_token(w: Workdir) {
    w.run(&["init"]).expect(0);
    bury(&w, &[("mail", "m/1"), ("mail", "m2"), ("default", "d1"), ("default", "d2")]);
    let server = start(&w, &secret_env(&w));
    let mut seen = Seen::default();
    seen.keep(server.request("GET", "/dlq/confirm?action=purge&all=1", &[], b"")).expect(303);
    seen.keep(server.request("POST", "/dlq/purge", &[FORM], b"all=1")).expect(303);
    let cookie = log_in(&server, &mut seen);
    let with = [("Cookie", cookie.as_str())];
    let post = [FORM, ("Cookie", cookie.as_str())];
    let dead = || cli_json(&w, &["status", "--json"])["dead"].as_u64().unwrap();

    // The list: filter form, a checkbox and a purge link per row, the bulk buttons.
    let list = seen.keep(server.request("GET", "/dlq?queue=mail", &with, b"")).expect(200);
    assert!(list.body.contains("Showing 2 matching dead letters (of 4)"), "{}", list.body);
    assert!(list.body.contains(r#"<input type="checkbox" form="bulk" name="key" value="m/1""#), "{}", list.body);
    assert!(list.body.contains(r#"href="/dlq/confirm?action=purge&amp;key=m%2F1""#), "{}", list.body);
    for button in ["Replay selected", "Purge selected", "Replay all", "Purge all"] {
        assert!(list.body.contains(button), "{button}: {}", list.body);
    }
    assert!(list.body.contains(r#"<input type="hidden" name="queue" value="mail">"#), "{}", list.body);
    let job = seen.keep(server.request("GET", "/jobs/m%2F1", &with, b"")).expect(200);
    assert!(job.body.contains("/dlq/confirm?action=purge&amp;key=m%2F1"), "{}", job.body);

    // One purge: the confirmation page lists it and changes nothing.
    let confirm = seen.keep(server.request("GET", "/dlq/confirm?action=purge&key=m%2F1", &with, b"")).expect(200);
    assert!(confirm.body.contains("Purge 1 dead letters"), "{}", confirm.body);
    assert!(confirm.body.contains(">m/1</a>") && confirm.body.contains("Cancel"), "{}", confirm.body);
    assert_eq!(dead(), 4);
    // Without the token, or with another: 403, nothing changed.
    let token = csrf(&confirm);
    let other = "0".repeat(token.len());
    for body in [form(&[("key", "m/1")]), form(&[("csrf", &other), ("key", "m/1")])] {
        seen.keep(server.request("POST", "/dlq/purge", &post, &body)).expect(403);
    }
    assert_eq!(dead(), 4);
    let done = seen.keep(server.request("POST", "/dlq/purge", &post, &form(&[("csrf", &token), ("key", "m/1")]))).expect(200);
    assert!(done.body.contains("Purged 1 dead letters."), "{}", done.body);
    assert_eq!(dead(), 3);

    // Replay selected: two keys, confirmed.
    let confirm = seen.keep(server.request("GET", "/dlq/confirm?action=replay&key=m2&key=d1", &with, b"")).expect(200);
    assert!(confirm.body.contains("Replay 2 dead letters"), "{}", confirm.body);
    let body = form(&[("csrf", &token), ("key", "m2"), ("key", "d1")]);
    seen.keep(server.request("POST", "/dlq/replay", &post, &body)).expect(200);
    assert_eq!(cli_json(&w, &["jobs", "show", "d1", "--json"])["status"], "pending");
    assert_eq!(dead(), 1);

    // Purge all: confirmed as "all", then nothing left; a second time, nothing to confirm.
    let confirm = seen.keep(server.request("GET", "/dlq/confirm?action=purge&all=1", &with, b"")).expect(200);
    assert!(confirm.body.contains("Purge 1 dead letters (every one that matches"), "{}", confirm.body);
    assert!(confirm.body.contains(r#"<input type="hidden" name="all" value="1">"#), "{}", confirm.body);
    seen.keep(server.request("POST", "/dlq/purge", &post, &form(&[("csrf", &token), ("all", "1")]))).expect(200);
    assert_eq!(dead(), 0);
    seen.keep(server.request("GET", "/dlq/confirm?action=purge&all=1", &with, b"")).expect(404);
    seen.keep(server.request("GET", "/dlq/confirm?action=purge", &with, b"")).expect(400);
    seen.keep(server.request("GET", "/dlq?reason=eaten", &with, b"")).expect(400);

    let stopped = server.stop();
    assert_no_secret("a page", &seen.0);
    assert_no_secret("the server's stdout", &stopped.stdout);
    }
}
