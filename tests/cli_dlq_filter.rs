//! `dlq replay`, `dlq purge` and `dlq list` by `--queue` and `--reason`.

use crate::http_dlq_bulk::bury;
use crate::util::http::cli_json;

crate::both_stores! {
    #[test]
    fn dead_letters_are_replayed_and_purged_by_queue_and_reason(w: Workdir) {
    w.run(&["init"]).expect(0);
    bury(&w, &[("mail", "m1"), ("mail", "m2"), ("default", "d1")]);
    let listed = cli_json(&w, &["dlq", "list", "--queue", "mail", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let none = cli_json(&w, &["dlq", "list", "--reason", "crashed", "--json"]);
    assert_eq!(none, serde_json::json!([]));

    let replayed = cli_json(&w, &["dlq", "replay", "--queue", "mail", "--reason", "permanent", "--json"]);
    assert_eq!(replayed["missing"], serde_json::json!([]));
    assert_eq!(replayed["replayed"].as_array().unwrap().len(), 2);
    assert_eq!(cli_json(&w, &["jobs", "show", "m1", "--json"])["status"], "pending");

    let out = w.run(&["dlq", "purge", "--reason", "permanent"]).expect(0);
    assert!(out.stdout.contains("purged d1") && out.stdout.contains("1 purged"), "{}", out.stdout);
    assert_eq!(cli_json(&w, &["status", "--json"])["dead"], 0);

    // Keys, --all and a filter do not mix; an unknown reason names the known ones.
    for args in [&["dlq", "purge", "k", "--queue", "q"][..], &["dlq", "replay", "--all", "--reason", "crashed"],
                 &["dlq", "purge", "--older-than", "1d", "--queue", "q"]] {
        let r = w.run(args).expect(2);
        assert!(r.stderr.contains("cannot be used with"), "{args:?}: {}", r.stderr);
    }
    let r = w.run(&["dlq", "replay", "--reason", "eaten"]).expect(2);
    assert!(r.stderr.contains("exhausted, permanent, crashed"), "{}", r.stderr);
    let help = w.run(&["dlq", "purge", "--help"]).expect(0);
    assert!(help.stdout.contains("--queue <QUEUE>") && help.stdout.contains("--reason <REASON>"), "{}", help.stdout);
    }
}
