//! Bounded growth through the binary: `[retention]` and its refusals, a runner pruning when it
//! starts, `jobs purge --older-than` and `dlq purge --older-than`, and `status` counts that
//! follow every change.

use crate::util::cli::Workdir;

const DAY_MS: i64 = 86_400_000;

/// Writes `config` as `w`'s nightshift.toml and initialises its database.
fn setup(w: &Workdir, config: &str) {
    w.write("nightshift.toml", config);
    w.run(&["init"]).expect(0);
}

/// Makes the job look finished `days` ago.
fn finished_days_ago(w: &Workdir, key: &str, days: i64) {
    let at = now_ms() - days * DAY_MS;
    w.execute(&format!("UPDATE jobs SET status = 'done', finished_at = {at} WHERE key = '{key}'"));
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

fn keys(w: &Workdir, sql: &str) -> Vec<String> {
    w.rows(sql).into_iter().map(|mut r| r.remove(0)).collect()
}

fn status(w: &Workdir) -> serde_json::Value {
    serde_json::from_str(&w.run(&["status", "--json"]).expect(0).stdout).unwrap()
}

crate::both_stores! {
    #[test]
    fn jobs_purge_older_than_deletes_only_done_jobs_past_the_age(w: Workdir) {
    setup(&w, "");
    for key in ["old-a", "old-b", "recent", "waiting"] {
        w.run(&["enqueue", key, "{}"]).expect(0);
    }
    finished_days_ago(&w, "old-a", 10);
    finished_days_ago(&w, "old-b", 8);
    finished_days_ago(&w, "recent", 2);
    let out = w.run(&["jobs", "purge", "--older-than", "7d"]).expect(0);
    assert_eq!(out.stdout, "purged 2 done jobs that finished more than 7d ago\n");
    assert_eq!(keys(&w, "SELECT key FROM jobs ORDER BY key"), ["recent", "waiting"]);
    let json = w.run(&["jobs", "purge", "--older-than", "1d", "--json"]).expect(0);
    assert_eq!(json.stdout.trim(), r#"{"purged_count":1}"#);
    let st = status(&w);
    assert_eq!((st["pending"].as_u64(), st["done"].as_u64()), (Some(1), Some(0)));
    }
}

crate::both_stores! {
    #[test]
    fn dlq_purge_older_than_deletes_dead_letters_that_died_before_the_age(w: Workdir) {
    setup(&w, "");
    for key in ["ancient", "fresh"] {
        w.run(&["enqueue", key, "{}", "--max-attempts", "1"]).expect(0);
    }
    w.run(&["run", "--once", "--", "false"]).expect(0);
    assert_eq!(status(&w)["dead"].as_u64(), Some(2));
    let died = (now_ms() - 40 * DAY_MS) / 1000;
    w.execute(&format!("UPDATE dead_letter SET died = {died} WHERE key = 'ancient'"));
    let out = w.run(&["dlq", "purge", "--older-than", "30d"]).expect(0);
    assert_eq!(out.stdout, "purged 1 dead-lettered jobs that died more than 30d ago\n");
    assert_eq!(keys(&w, "SELECT key FROM dead_letter"), ["fresh"]);
    assert_eq!(status(&w)["dead"].as_u64(), Some(1));
    }
}

crate::both_stores! {
    #[test]
    fn purging_by_age_keeps_the_newest_tick_of_each_schedule(w: Workdir) {
    setup(&w, "[[schedule]]\nname = \"digest\"\ncron = \"0 7 * * *\"\n");
    let ticks = ["digest@2020-01-01T07:00:00Z", "digest@2020-01-02T07:00:00Z"];
    for key in ticks {
        w.run(&["enqueue", key, "{}"]).expect(0);
        finished_days_ago(&w, key, 100);
    }
    let out = w.run(&["jobs", "purge", "--older-than", "7d"]).expect(0);
    assert!(out.stdout.starts_with("purged 1 "), "{}", out.stdout);
    // Still there, so a runner's catch-up finds the tick done and adds nothing.
    assert_eq!(keys(&w, "SELECT key FROM jobs"), [ticks[1]]);
    }
}

crate::both_stores! {
    #[test]
    fn a_runner_prunes_when_it_starts_and_logs_what_went(w: Workdir) {
    setup(&w, "[retention]\ndone = \"1h\"\n");
    for key in ["stale", "fresh"] {
        w.run(&["enqueue", key, "{}"]).expect(0);
    }
    w.run(&["run", "--once", "--", "true"]).expect(0);
    finished_days_ago(&w, "stale", 1);
    let run = w.run(&["run", "--once", "--log-format", "json", "--", "true"]).expect(0);
    let pruned: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "pruned")
        .collect();
    assert_eq!(pruned.len(), 1, "{}", run.stdout);
    assert_eq!((pruned[0]["done"].as_u64(), pruned[0]["dead"].as_u64()), (Some(1), Some(0)));
    assert_eq!(keys(&w, "SELECT key FROM jobs"), ["fresh"]);
    assert_eq!(status(&w)["done"].as_u64(), Some(1));
    }
}

crate::both_stores! {
    #[test]
    fn retention_settings_that_cannot_work_are_refused_naming_the_key(w: Workdir) {
    let cases = [
        ("[retention]\ndone = \"a while\"\n", "[retention] done"),
        ("[retention]\ndead = \"0s\"\n", "[retention] dead"),
        ("[retention]\nspend = \"2d\"\n", "[retention] spend"),
        ("[retention]\nevery = \"forever\"\n", "[retention] every"),
        ("[retention]\nkeep = \"7d\"\n", "keep"),
    ];
    for (config, needle) in cases {
        w.write("nightshift.toml", config);
        let out = w.run(&["status"]).expect(2);
        assert!(out.stderr.contains(needle), "{config:?}: {}", out.stderr);
    }
    setup(&w, "[retention]\ndone = \"forever\"\nspend = \"400d\"\n");
    w.run(&["status"]).expect(0);
    }
}

crate::both_stores! {
    #[test]
    fn older_than_refusals_change_nothing(w: Workdir) {
    setup(&w, "");
    w.run(&["enqueue", "k", "{}"]).expect(0);
    finished_days_ago(&w, "k", 30);
    let before = w.snapshot();
    for (args, needle) in [
        (&["jobs", "purge", "--older-than", "soon"][..], "--older-than"),
        (&["jobs", "purge", "--older-than", "0s"][..], "above zero"),
        (&["jobs", "purge", "k", "--older-than", "7d"][..], "cannot be used with"),
        (&["dlq", "purge", "--all", "--older-than", "7d"][..], "cannot be used with"),
        (&["dlq", "replay", "--older-than", "7d"][..], "--older-than"),
        (&["jobs", "purge"][..], "required"),
    ] {
        let out = w.run(args).expect(2);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    assert_eq!(w.snapshot(), before);
    assert_eq!(w.rows("SELECT key, status FROM jobs"), [["k", "done"]]);
    }
}
