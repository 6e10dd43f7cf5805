//! The config rules: defaults, precedence, and errors that name the key.

use super::*;

fn load(toml: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nightshift.toml");
    std::fs::write(&path, toml).unwrap();
    let env: Vec<(String, String)> =
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let get = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    Settings::load(&Sources { db: None, config: Some(&path), env: &get, default_file: true })
}

#[test]
fn defaults_follow_the_design() {
    let s = load("", &[]).unwrap();
    assert_eq!(s.retry.max_attempts, 4);
    assert_eq!(s.retry.base, Duration::from_secs(1));
    assert_eq!(s.retry.cap, Duration::from_secs(60));
    assert_eq!(s.permanent_exit_codes, vec![65]);
    assert_eq!(s.max_payload, 1024 * 1024);
    assert_eq!(s.db, PathBuf::from("nightshift.db"));
    assert!(s.daily_cap_micros.is_none());
}

#[test]
fn environment_beats_the_file() {
    let s = load("[budget]\ndaily_usd = 5.0\n", &[("DAILY_CAP_USD", "0.25")]).unwrap();
    assert_eq!(s.daily_cap_micros, Some(250_000));
}

#[test]
fn errors_name_the_problem() {
    let cases = [
        ("daly_cap = 1", &[][..], "unknown field"),
        ("[retry]\nmax_attempts = \"5\"", &[][..], "invalid type"),
        ("[retry]\nbase = \"5 parsecs\"", &[][..], "[retry] base"),
        ("[budget]\ndaily_usd = nan", &[][..], "[budget] daily_usd"),
        ("", &[("DAILY_CAP_USD", "NaN")][..], "DAILY_CAP_USD"),
        ("", &[("DAILY_CAP_USD", "inf")][..], "DAILY_CAP_USD"),
        ("", &[("DAILY_CAP_USD", "-1")][..], "DAILY_CAP_USD"),
        ("", &[("DAILY_CAP_USD", "ten")][..], "DAILY_CAP_USD"),
        ("[store]\nmax_payload = \"lots\"", &[][..], "[store] max_payload"),
        ("[handler]\ncommand = []", &[][..], "[handler] command"),
        ("[retry]\nbase = \"0s\"", &[][..], "above zero"),
    ];
    for (toml, env, needle) in cases {
        let err = load(toml, env).err().unwrap_or_else(|| panic!("{toml:?} {env:?} accepted"));
        assert!(err.0.contains(needle), "{toml:?}: {err}");
    }
}

#[test]
fn webhook_errors_never_echo_the_url() {
    let err = load("", &[("ALERT_WEBHOOK", "ftp://hooks.example/T0/SECRETTOKEN")]).err().unwrap();
    assert!(!err.0.contains("SECRETTOKEN"), "{err}");
}

#[test]
fn sizes_parse_with_units() {
    assert_eq!(payload::size("x", Some("1MiB"), 0).unwrap(), 1 << 20);
    assert_eq!(payload::size("x", Some("64 KiB"), 0).unwrap(), 65536);
    assert_eq!(payload::size("x", Some("1000"), 0).unwrap(), 1000);
    assert!(payload::size("x", Some("0"), 0).is_err());
    assert!(payload::size("x", Some("1 GiB"), 0).is_err());
}

#[test]
fn zero_is_a_duration_only_where_it_means_do_not_wait() {
    assert_eq!(parse_duration_or_zero("--wait", "0s").unwrap(), Duration::ZERO);
    assert_eq!(parse_duration_or_zero("--wait", "90s").unwrap(), Duration::from_secs(90));
    assert!(parse_duration_or_zero("--wait", "soon").unwrap_err().0.contains("--wait"));
    assert!(parse_duration_or_zero("--wait", "400d").unwrap_err().0.contains("over a year"));
    assert!(parse_duration("--grace", "0s").unwrap_err().0.contains("above zero"));
}

#[test]
fn the_lease_is_configurable_with_its_heartbeat_a_third_of_it() {
    let s = load("", &[]).unwrap();
    assert_eq!(s.lease, Duration::from_secs(60), "the default");
    let s = load("[store]\nlease = \"90s\"\n", &[]).unwrap();
    let engine = s.engine_config();
    assert_eq!(
        (engine.lease, engine.heartbeat),
        (Duration::from_secs(90), Duration::from_secs(30))
    );
    let err = load("[store]\nlease = \"2s\"\n", &[]).err().unwrap();
    assert!(err.0.contains("[store] lease") && err.0.contains("under 3s"), "{err}");
}

#[test]
fn a_postgres_url_is_the_database_and_is_shown_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nightshift.toml");
    std::fs::write(&path, "db = \"postgres://agent:hunter2@db.example:5432/q\"\n").unwrap();
    let none = |_: &str| None;
    let s =
        Settings::load(&Sources { db: None, config: Some(&path), env: &none, default_file: true })
            .unwrap();
    assert!(s.is_postgres());
    assert_eq!(s.db_shown(), "postgres://agent:***@db.example:5432/q");
    assert!(!load("", &[]).unwrap().is_postgres(), "a path is SQLite");
}

#[test]
fn a_limit_lists_queues_and_a_queue_listed_by_two_limits_is_refused_naming_both() {
    let s = load("[[limit]]\nname = \"openai\"\nqueues = [\"digest\", \"triage\"]\n", &[]).unwrap();
    assert_eq!(s.engine_config().limits[0].queues, ["digest", "triage"]);
    let two = "[[limit]]\nname = \"openai\"\nqueues = [\"digest\"]\n\n\
               [[limit]]\nname = \"anthropic\"\nqueues = [\"triage\", \"digest\"]\n";
    let err = load(two, &[]).err().unwrap();
    for needle in ["\"digest\"", "[[limit]] \"openai\"", "[[limit]] \"anthropic\"", "Remove it"] {
        assert!(err.0.contains(needle), "{needle}: {err}");
    }
    let twice = load("[[limit]]\nname = \"a\"\nqueues = [\"q\", \"q\"]\n", &[]).err().unwrap();
    assert!(twice.0.contains("appears twice"), "{twice}");
    let empty = load("[[limit]]\nname = \"a\"\nqueues = [\"\"]\n", &[]).err().unwrap();
    assert!(empty.0.contains("not a queue name"), "{empty}");
}
