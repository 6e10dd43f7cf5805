//! Provider limits through the binary: `[[limit]]` concurrency across workers, a 429's hold on
//! the whole limit (and not on another), the per-limit breaker and its half-open probe, a limit
//! taking the jobs of the queues it lists, `enqueue --limit` checks.

use crate::util::cli::Workdir;

const LIMITS: &str = "[[limit]]\nname = \"openai\"\nconcurrency = 1\nbreaker = true\n\n\
                      [[limit]]\nname = \"anthropic\"\nconcurrency = 4\n";

/// The handler's marks, `(what, key, millis)`, in the order written.
fn marks(w: &Workdir) -> Vec<(String, String, u64)> {
    let text = std::fs::read_to_string(w.path().join("marks.txt")).unwrap_or_default();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_owned(), f[1].to_owned(), f[2].parse().unwrap())
        })
        .collect()
}

/// A database whose config has [`LIMITS`] and a breaker cooldown of an hour, and a handler
/// that marks each start and fails `o1` with `error_class` `auth` while `condition` holds.
fn auth_refused_for_o1(w: &Workdir, condition: &str) -> std::path::PathBuf {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", &format!("{LIMITS}\n[breaker]\ncooldown = \"1h\"\n"));
    let body = format!(
        "{MARK}mark start\n\
         if [ \"$NIGHTSHIFT_KEY\" = o1 ] && {condition}; then \
         echo '{{\"error_class\": \"auth\"}}'; exit 1; fi"
    );
    w.script("agent.sh", &body)
}

const MARK: &str = "mark() { echo \"$1 $NIGHTSHIFT_KEY $(date +%s%3N)\" >> marks.txt; }\n";

crate::both_stores! {
    #[test]
    fn a_limit_with_concurrency_1_never_runs_two_of_its_jobs_at_once(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", LIMITS);
    let agent = w.script("agent.sh", &format!("{MARK}mark start\nsleep 0.2\nmark end"));
    for key in ["o1", "o2", "o3", "o4"] {
        w.run(&["enqueue", key, "{}", "--limit", "openai"]).expect(0);
    }
    w.run(&["enqueue", "free", "{}"]).expect(0);
    w.run(&["run", "--once", "--workers", "4", "--wait", "20s", "--", agent.to_str().unwrap()]).expect(0);
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 5);
    let openai: Vec<String> =
        marks(&w).into_iter().filter(|m| m.1 != "free").map(|m| m.0).collect();
    assert_eq!(openai.len(), 8, "{openai:?}");
    for pair in openai.chunks(2) {
        assert_eq!(pair, ["start", "end"], "two openai jobs overlapped: {openai:?}");
    }
    let refused = w.run(&["enqueue", "x", "{}", "--limit", "nope"]).expect(2);
    assert!(refused.stderr.contains("unknown limit \"nope\""), "{}", refused.stderr);
    assert!(refused.stderr.contains("openai, anthropic"), "{}", refused.stderr);
    }
}

crate::both_stores! {
    #[test]
    fn a_429_naming_its_limit_holds_the_limit_and_not_another(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", LIMITS);
    let agent = w.script(
        "agent.sh",
        &format!(
            "{MARK}mark start\n\
             if [ \"$NIGHTSHIFT_KEY\" = o1 ] && [ ! -e held ]; then touch held; mark end\n\
             echo '{{\"retry_after_s\": 2, \"limit\": \"openai\"}}'; exit 75; fi\n\
             mark end"
        ),
    );
    w.run(&["enqueue", "o1", "{}", "--limit", "openai", "--priority", "9"]).expect(0);
    w.run(&["enqueue", "o2", "{}", "--limit", "openai"]).expect(0);
    w.run(&["enqueue", "a1", "{}", "--limit", "anthropic"]).expect(0);
    w.run(&["run", "--once", "--workers", "2", "--wait", "20s", "--", agent.to_str().unwrap()]).expect(0);
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 3);
    let marks = marks(&w);
    let at = |what: &str, key: &str| {
        marks.iter().find(|m| m.0 == what && m.1 == key).map(|m| m.2).unwrap()
    };
    let held_at = at("end", "o1");
    assert!(at("start", "o2") >= held_at + 1_900, "o2 ran during the hold: {marks:?}");
    assert!(at("start", "a1") < held_at + 1_500, "anthropic was held too: {marks:?}");
    let held = w.count("SELECT count(*) FROM limits WHERE name = 'openai' AND held_until IS NOT NULL");
    assert_eq!(held, 1, "the hold is recorded on the limit's row");
    }
}

crate::both_stores! {
    #[test]
    fn an_auth_failure_opens_its_limits_breaker_and_not_the_global_one(w: Workdir) {
    let agent = auth_refused_for_o1(&w, "true");
    w.run(&["enqueue", "o1", "{}", "--limit", "openai", "--priority", "9"]).expect(0);
    w.run(&["enqueue", "o2", "{}", "--limit", "openai"]).expect(0);
    w.run(&["enqueue", "a1", "{}", "--limit", "anthropic"]).expect(0);
    w.run(&["enqueue", "free", "{}"]).expect(0);
    w.run(&["run", "--once", "--workers", "1", "--wait", "0s", "--", agent.to_str().unwrap()]).expect(0);
    let done = w.rows("SELECT key FROM jobs WHERE status = 'done' ORDER BY key");
    assert_eq!(done, [["a1"], ["free"]], "the other limit and unlimited jobs ran");
    assert_eq!(w.text("SELECT status FROM jobs WHERE key = 'o2'"), "pending", "openai is held");
    assert!(!marks(&w).iter().any(|m| m.1 == "o2"), "o2 never started");
    assert_eq!(w.count("SELECT count(*) FROM limits WHERE breaker_open_until IS NOT NULL"), 1);
    assert_eq!(w.count("SELECT breaker_failures FROM control"), 0, "the global breaker is untouched");

    let json: serde_json::Value =
        serde_json::from_str(&w.run(&["status", "--json"]).expect(0).stdout).unwrap();
    let limits = json["limits"].as_array().unwrap();
    let openai = limits.iter().find(|l| l["name"] == "openai").unwrap();
    assert_eq!((openai["breaker"].as_str(), openai["running"].as_u64()), (Some("open"), Some(0)));
    assert_eq!(openai["concurrency"], 1);
    assert!(openai["breaker_open_until"].is_number(), "{openai}");
    let anthropic = limits.iter().find(|l| l["name"] == "anthropic").unwrap();
    assert_eq!(anthropic["breaker"], "closed");
    let text = w.run(&["status"]).expect(0).stdout;
    assert!(text.contains("limit        openai: 0/1 running, breaker open until"), "{text}");
    let prom = w.run(&["status", "--prom"]).expect(0).stdout;
    assert!(prom.contains("limit_breaker_open{limit=\"openai\"} 1"), "{prom}");
    assert!(prom.contains("limit_breaker_open{limit=\"anthropic\"} 0"), "{prom}");
    }
}

crate::both_stores! {
    #[test]
    fn a_rate_of_2_per_second_spaces_the_claims(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", "[[limit]]\nname = \"slow\"\nrate = \"2/s\"\n");
    let agent = w.script("agent.sh", &format!("{MARK}mark start\necho '{{\"cost_usd\": 0.01}}'"));
    for key in ["r1", "r2", "r3", "r4"] {
        w.run(&["enqueue", key, "{}", "--limit", "slow"]).expect(0);
    }
    w.run(&["run", "--once", "--workers", "4", "--wait", "20s", "--", agent.to_str().unwrap()]).expect(0);
    let starts: Vec<u64> = marks(&w).into_iter().map(|m| m.2).collect();
    assert_eq!(starts.len(), 4, "{starts:?}");
    assert!(starts[2] >= starts[0] + 950, "a third claim inside the first second: {starts:?}");
    let spend = w.run(&["spend", "--by", "limit", "--json"]).expect(0).stdout;
    assert!(spend.contains("\"limit\":\"slow\""), "{spend}");
    }
}

crate::both_stores! {
    #[test]
    fn jobs_of_a_queue_a_limit_lists_count_against_it_unless_they_name_another(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write(
        "nightshift.toml",
        "[[limit]]\nname = \"openai\"\nconcurrency = 1\nqueues = [\"digest\"]\n\n\
         [[limit]]\nname = \"anthropic\"\nconcurrency = 4\n",
    );
    let agent = w.script("agent.sh", &format!("{MARK}mark start\nsleep 0.2\nmark end"));
    for key in ["d1", "d2"] {
        w.run(&["enqueue", key, "{}", "--queue", "digest"]).expect(0);
    }
    w.write("more.jsonl", "{\"key\":\"d3\",\"queue\":\"digest\"}\n");
    w.run(&["enqueue", "--jsonl", "more.jsonl"]).expect(0);
    w.run(&["enqueue", "own", "{}", "--queue", "digest", "--limit", "anthropic"]).expect(0);
    w.run(&["enqueue", "mail", "{}", "--queue", "mail"]).expect(0);
    let limit = |key: &str| -> serde_json::Value {
        let shown = w.run(&["jobs", "show", key, "--json"]).expect(0).stdout;
        serde_json::from_str::<serde_json::Value>(&shown).unwrap()["limit"].clone()
    };
    assert_eq!((limit("d1"), limit("d3")), ("openai".into(), "openai".into()));
    assert_eq!((limit("own"), limit("mail")), ("anthropic".into(), serde_json::Value::Null));

    w.run(&["run", "--once", "--workers", "4", "--wait", "20s", "--", agent.to_str().unwrap()]).expect(0);
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 5);
    let digest: Vec<String> = marks(&w)
        .into_iter()
        .filter(|m| m.1.starts_with('d'))
        .map(|m| m.0)
        .collect();
    assert_eq!(digest.len(), 6, "{digest:?}");
    for pair in digest.chunks(2) {
        assert_eq!(pair, ["start", "end"], "two digest jobs overlapped: {digest:?}");
    }
    }
}

crate::both_stores! {
    #[test]
    fn a_limits_breaker_runs_one_probe_after_its_cooldown_then_the_others(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write(
        "nightshift.toml",
        "[[limit]]\nname = \"openai\"\nbreaker = true\n\n\
         [breaker]\nfailures = 1\ncooldown = \"1s\"\n",
    );
    // o1 fails once; every other attempt takes a while, so a second job claimed beside the
    // probe would start before the probe ends.
    let agent = w.script(
        "agent.sh",
        &format!(
            "{MARK}mark start\n\
             if [ \"$NIGHTSHIFT_KEY\" = o1 ] && [ ! -e failed ]; then touch failed; mark end; \
             exit 1; fi\nsleep 0.3\nmark end"
        ),
    );
    w.run(&["enqueue", "o1", "{}", "--limit", "openai"]).expect(0);
    let first = w.run(&["run", "--once", "--workers", "1", "--wait", "0s", "--", agent.to_str().unwrap()]).expect(0);
    assert!(
        first.stdout.lines().any(|l| l.contains("\"breaker_opened\"") && l.contains("\"limit\":\"openai\"")),
        "{}", first.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&w.run(&["status", "--json"]).expect(0).stdout).unwrap();
    let openai = &json["limits"][0];
    let open_until = openai["breaker_open_until"].as_u64();
    assert!(open_until.is_some() || openai["breaker"] == "half_open", "{openai}");

    for key in ["o2", "o3"] {
        w.run(&["enqueue", key, "{}", "--limit", "openai"]).expect(0);
    }
    let before = marks(&w).len();
    let second = w.run(&["run", "--once", "--workers", "3", "--wait", "20s", "--", agent.to_str().unwrap()]).expect(0);
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'done'"), 3);
    let mut marks: Vec<_> = marks(&w).split_off(before);
    marks.sort_by_key(|m| m.2);
    assert_eq!(marks.len(), 6, "{marks:?}");
    let probe = &marks[0];
    let alone = [("start", &probe.1), ("end", &probe.1)];
    assert_eq!([(marks[0].0.as_str(), &marks[0].1), (marks[1].0.as_str(), &marks[1].1)], alone,
        "the probe ran alone: {marks:?}");
    assert!(probe.2 >= open_until.unwrap_or(0), "the probe waited for the cooldown: {marks:?}");
    assert!(
        second.stdout.lines().any(|l| l.contains("\"breaker_closed\"") && l.contains("\"limit\":\"openai\"")),
        "{}", second.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&w.run(&["status", "--json"]).expect(0).stdout).unwrap();
    assert_eq!(json["limits"][0]["breaker"], "closed");
    }
}

crate::both_stores! {
    #[test]
    fn a_replayed_dead_letter_keeps_its_limit_and_its_replay_closes_that_limits_breaker(w: Workdir) {
    // o1's credentials are refused until `fixed` exists: its one attempt opens openai's breaker
    // and dead-letters it.
    let agent = auth_refused_for_o1(&w, "[ ! -e fixed ]");
    let agent = agent.to_str().unwrap();
    w.run(&["enqueue", "o1", "{}", "--limit", "openai", "--max-attempts", "1", "--priority", "9"]).expect(0);
    w.run(&["enqueue", "o2", "{}", "--limit", "openai"]).expect(0);
    w.run(&["run", "--once", "--workers", "1", "--wait", "0s", "--", agent]).expect(0);
    assert_eq!(w.count("SELECT count(*) FROM dead_letter WHERE key = 'o1' AND limit_name = 'openai'"), 1);
    assert_eq!(w.text("SELECT status FROM jobs WHERE key = 'o2'"), "pending", "openai is held");
    assert_eq!(w.count("SELECT count(*) FROM limits WHERE breaker_open_until IS NOT NULL"), 1);

    // The cause fixed, the replay puts o1 back under its limit and closes that limit's breaker.
    w.write("fixed", "");
    w.run(&["dlq", "replay", "o1"]).expect(0);
    assert_eq!(w.text("SELECT limit_name FROM jobs WHERE key = 'o1'"), "openai");
    assert_eq!(w.count("SELECT count(*) FROM limits WHERE breaker_open_until IS NOT NULL"), 0);
    w.run(&["run", "--once", "--workers", "1", "--wait", "0s", "--", agent]).expect(0);
    let done = w.rows("SELECT key FROM jobs WHERE status = 'done' ORDER BY key");
    assert_eq!(done, [["o1"], ["o2"]]);
    }
}
