//! What only PostgreSQL has through the binary: a password in the database URL never shows in
//! any command's output or error, nor in a handler's environment; doctor's PostgreSQL check;
//! bench measuring PostgreSQL in scratch databases of its own; deploy lines without
//! the URL.

use crate::util::cli::{Run, Workdir};

const PASSWORD: &str = "s3cret-pw";

/// `w`'s scratch URL with a password in it (trust auth accepts any).
fn with_password(w: &Workdir) -> String {
    let url = w.db().to_string_lossy().into_owned();
    let with = url.replacen("://postgres@", &format!("://postgres:{PASSWORD}@"), 1);
    assert_ne!(with, url, "the scratch URL names the postgres user: {url}");
    with
}

/// Runs `args` with the URL holding the password in NIGHTSHIFT_DB.
fn run_as(w: &Workdir, url: &str, args: &[&str]) -> Run {
    let out = w.cmd(args).env("NIGHTSHIFT_DB", url).output().expect("run nightshift");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn assert_hidden(args: &[&str], run: &Run) {
    assert!(
        !run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD),
        "{args:?} showed the password: {run:?}"
    );
}

#[test]
fn a_password_in_the_url_never_shows_nor_reaches_a_handler() {
    let Some(w) = Workdir::postgres("cli_postgres::password") else { return };
    let url = with_password(&w);
    let agent = w.script("agent.sh", "cat > /dev/null\nenv > \"env-$NIGHTSHIFT_KEY.txt\"\nexit 1");
    w.write("nightshift.toml", "[retry]\nmax_attempts = 1\n");
    let agent = agent.to_str().unwrap();
    let ok: &[&[&str]] = &[
        &["init"],
        &["init"],
        &["enqueue", "k1", "{}"],
        &["enqueue", "k1", "{}", "--json"],
        &["enqueue", "later", "{}", "--delay", "1h"],
        &["status"],
        &["status", "--json"],
        &["jobs"],
        &["jobs", "show", "k1", "--json"],
        &["pause", "--reason", "checking"],
        &["resume"],
        &["spend", "--json"],
        &["run", "--once", "--", agent],
        &["dlq", "list"],
        &["dlq", "show", "k1", "--json"],
        &["dlq", "replay", "k1"],
        &["run", "--once", "--log-format", "text", "--", agent],
    ];
    for args in ok {
        let run = run_as(&w, &url, args).expect(0);
        assert_hidden(args, &run);
    }
    // Doctor fails here only for the handler's exit; its database check passes, URL redacted.
    let doctor = run_as(&w, &url, &["doctor", "--json", "--", "sh", "agent.sh"]);
    assert_hidden(&["doctor"], &doctor);
    assert!(doctor.stdout.contains("PostgreSQL at postgres://"), "{doctor:?}");
    // Errors too: an unknown key, a conflict, a missing database, a refused connection.
    let failing: &[&[&str]] = &[
        &["jobs", "show", "nope"],
        &["dlq", "replay", "nope"],
        &["enqueue", "later", "{\"x\":1}"],
    ];
    for args in failing {
        let run = run_as(&w, &url, args).expect(1);
        assert_hidden(args, &run);
    }
    let (base, _) = url.rsplit_once('/').unwrap();
    for bad in [format!("{base}/no_such_db_7f3a"), url.replacen(":5432/", ":1/", 1)] {
        for args in [&["status"][..], &["run", "--once", "--", agent], &["doctor"]] {
            let run = run_as(&w, &bad, args);
            assert_ne!(run.code, Some(0), "{args:?} on {bad}: {run:?}");
            assert_hidden(args, &run);
        }
        let flag = w.run(&["--db", &bad, "status"]);
        assert_ne!(flag.code, Some(0));
        assert_hidden(&["--db", "status"], &flag);
    }
    // The handler ran twice (the first run and after the replay) and never saw the URL.
    let env = std::fs::read_to_string(w.path().join("env-k1.txt")).expect("the handler ran");
    assert!(env.contains("NIGHTSHIFT_KEY=k1"), "{env}");
    assert!(!env.contains(PASSWORD), "the handler's environment holds the password:\n{env}");
    assert!(!env.contains("NIGHTSHIFT_DB="), "the handler's environment holds the URL:\n{env}");
    assert_eq!(w.count("SELECT count(*) FROM dead_letter WHERE key = 'k1'"), 1);
}

#[test]
fn doctor_checks_a_postgres_database_and_skips_the_file_checks() {
    let Some(w) = Workdir::postgres("cli_postgres::doctor") else { return };
    w.run(&["init"]).expect(0);
    w.write(
        "nightshift.toml",
        "[handler]\ncommand = [\"sh\", \"agent.sh\"]\n[budget]\ndaily_usd = 1.0\n",
    );
    let run = w.run(&["doctor", "--json"]).expect(0);
    let checks: Vec<serde_json::Value> = serde_json::from_str(run.stdout.trim()).unwrap();
    let status = |name: &str| {
        checks.iter().find(|c| c["check"] == name).map(|c| c["status"].as_str().unwrap().to_owned())
    };
    for name in ["database", "handler", "cap", "clock"] {
        assert_eq!(status(name).as_deref(), Some("ok"), "{name}: {checks:?}");
    }
    for file_check in ["writable", "journal", "integrity", "storage", "runner"] {
        assert_eq!(status(file_check), None, "{file_check} is about a SQLite file: {checks:?}");
    }
    let database = checks.iter().find(|c| c["check"] == "database").unwrap();
    assert!(database["message"].as_str().unwrap().contains("0 runner(s) alive"), "{database}");
}

#[test]
fn bench_measures_postgres_in_scratch_databases_of_its_own() {
    let Some(w) = Workdir::postgres("cli_postgres::bench") else { return };
    let url = with_password(&w);
    let scratch = "SELECT count(*) FROM pg_database WHERE datname LIKE 'nightshift_bench_%'";
    let before = w.count(scratch);
    let args = ["bench", "--jobs", "60", "--workers", "4", "--synchronous", "normal"];
    let bench = w.run(&[&args[..], &["--json", "--db", &url]].concat()).expect(0);
    assert_hidden(&args, &bench);
    let v: serde_json::Value = serde_json::from_str(bench.stdout.trim()).unwrap();
    assert_eq!(v["sqlite"]["synchronous"], "normal", "{v}");
    let pg = &v["postgres"];
    for key in [
        "enqueue_per_s",
        "drain_per_s",
        "jobs_per_s",
        "raw_batch100_jobs_per_s",
        "vs_raw",
        "drain_1_runner_per_s",
        "drain_3_runners_per_s",
        "runners_3_vs_1",
        "pickup_p50_ms",
        "pickup_p99_ms",
        "pickup_other_p50_ms",
        "pickup_other_p99_ms",
    ] {
        assert!(pg[key].as_f64().is_some_and(|x| x > 0.0), "{key} missing or not positive: {v}");
    }
    assert_eq!((pg["jobs"].as_u64(), pg["workers"].as_u64()), (Some(60), Some(4)), "{v}");
    // Every run had a database of its own, dropped after it; the URL's own was left alone.
    assert_eq!(w.count(scratch), before, "scratch databases left behind");
    assert_eq!(w.count("SELECT count(*) FROM pg_tables WHERE tablename = 'jobs'"), 0);
    // The text report puts PostgreSQL beside SQLite.
    let text = w.run(&["bench", "--jobs", "20", "--workers", "2", "--db", &url]).expect(0);
    assert_hidden(&["bench", "--db"], &text);
    let pg_part = text.stdout.split("PostgreSQL").nth(1).expect("a PostgreSQL part");
    for (row, figures) in [("end to end / raw", 2), ("drain, 3 runner processes x 2 (jobs/s)", 1)] {
        let line = pg_part.lines().find(|l| l.contains(row)).unwrap_or_else(|| panic!("{row}"));
        let numbers: Vec<f64> = line[line.find(row).unwrap() + row.len()..]
            .split_whitespace()
            .filter_map(|t| t.parse().ok())
            .collect();
        assert_eq!(numbers.len(), figures, "{line}");
        assert!(numbers.iter().all(|x| *x > 0.0), "{line}");
    }
    // From the environment it names the other commands' database, not one to measure.
    let beside = run_as(&w, &url, &["bench", "--jobs", "20", "--workers", "2", "--json"]).expect(0);
    assert!(beside.stderr.contains("NIGHTSHIFT_DB's database is left alone"), "{beside:?}");
    assert_hidden(&["bench"], &beside);
    let v: serde_json::Value = serde_json::from_str(beside.stdout.trim()).unwrap();
    assert!(v.get("postgres").is_none() && v["jobs"] == 20, "{v}");
}

#[test]
fn deploy_leaves_a_postgres_url_out_of_every_line() {
    let Some(w) = Workdir::postgres("cli_postgres::deploy") else { return };
    let url = with_password(&w);
    for target in ["cron", "systemd"] {
        let run = run_as(&w, &url, &["deploy", target, "--", "/bin/true"]).expect(0);
        assert_hidden(&["deploy", target], &run);
        assert!(!run.stdout.contains("--db") && !run.stdout.contains("postgres"), "{run:?}");
        assert!(!run.stderr.contains("no database at"), "{}", run.stderr);
        assert!(run.stderr.contains("NIGHTSHIFT_DB=..."), "{}", run.stderr);
    }
    let cron = run_as(&w, &url, &["deploy", "cron", "--", "/bin/true"]).stdout;
    let workdir = w.path().canonicalize().unwrap();
    let lock = format!("flock -n {}/nightshift.cron.lock ", workdir.display());
    assert!(cron.contains(&lock), "{cron}");
    // Fly: machines without a volume, the URL a Fly secret, never in the file.
    let fly = run_as(&w, &url, &["deploy", "fly"]).expect(0);
    assert_hidden(&["deploy", "fly"], &fly);
    let toml: toml::Value = toml::from_str(&fly.stdout).expect("fly.toml is TOML");
    assert!(toml.get("env").is_none() && toml.get("mounts").is_none(), "{}", fly.stdout);
    assert_eq!(toml["processes"]["worker"].as_str(), Some("run --grace 30s"));
    assert!(!fly.stdout.contains("127.0.0.1"), "{}", fly.stdout);
    for step in
        ["fly secrets set NIGHTSHIFT_DB=", "fly machine run . init --rm", "fly scale count 2"]
    {
        assert!(fly.stdout.contains(step), "no {step:?} in\n{}", fly.stdout);
    }
}
