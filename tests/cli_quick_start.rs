//! The README's Quick start, run as written with the built binary first on PATH, and the one
//! handler story it tells: `init -- CMD` writes `[handler] command` into the new config, and
//! `doctor` and `deploy` take a handler after `--` exactly as `run` does.

use std::path::Path;

use serde_json::Value;

use crate::cli_doctor::{fstype, on_disk};
use crate::util::cli::{Run, Workdir, user_shell};

/// The shell lines of the first ```sh block under "## Quick start" in README.md.
fn quick_start_lines() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = readme.split_once("\n## Quick start").expect("a Quick start section").1;
    let block = section.split_once("\n```sh\n").expect("a ```sh block in the Quick start").1;
    let block = block.split_once("\n```").expect("the block's end").0;
    block.lines().map(str::to_owned).collect()
}

// SQLite only: the README's quick start uses the default SQLite file.
#[test]
fn the_readme_quick_start_runs_as_written() {
    let w = on_disk();
    if fstype(w.path()).contains("tmpfs") {
        eprintln!("note: the target dir is on a tmpfs here; doctor would rightly fail it");
        return;
    }
    // A checkout with the example agent, and a home directory of its own.
    let checkout = w.path().join("checkout");
    let home = w.path().join("home");
    std::fs::create_dir_all(checkout.join("examples")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let agent = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/agent.py");
    std::fs::copy(agent, checkout.join("examples/agent.py")).unwrap();

    // Every line but the install step (which needs cargo; the built binary stands in for what
    // it installs), each followed by a check of its exit status.
    let lines = quick_start_lines();
    let mut script = String::new();
    for (n, line) in lines.iter().enumerate() {
        if line.starts_with("cargo ") {
            continue;
        }
        script.push_str(&format!(
            "{line}\nrc=$?; if [ $rc -ne 0 ]; then echo \"line {n} exited $rc: {}\" >&2; exit 1; fi\n",
            line.replace(['"', '$', '`', '\\'], "")
        ));
    }
    assert!(script.contains("nightshift init -- python3 agent.py"), "{script}");
    let out = user_shell(&script, &checkout, &home).output().unwrap();
    let run = Run::from(out).expect(0);

    let dir = home.join("agent");
    let db = rusqlite::Connection::open(dir.join("nightshift.db")).unwrap();
    let status: String = db
        .query_row("SELECT status FROM jobs WHERE key = 'digest@2026-11-24'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "done", "{run:?}");
    let effects = std::fs::read_to_string(dir.join("effects.txt")).unwrap();
    assert_eq!(effects, "digest@2026-11-24\tsummary of inbox\n");
    assert!(run.stdout.contains("all checks passed"), "doctor passed: {}", run.stdout);
    assert!(!run.stdout.contains("NO HANDLER"), "deploy found the handler: {}", run.stdout);
    assert!(run.stdout.contains(r#"Handler: ["python3", "agent.py"]"#), "{}", run.stdout);
}

crate::both_stores! {
    #[test]
    fn init_writes_the_handler_given_after_dashes_into_the_new_config(w: Workdir) {
    let out = w.run(&["init", "--", "python3", "my agent.py"]).expect(0);
    assert!(out.stdout.contains(r#"[handler] command = ["python3", "my agent.py"]"#), "{out:?}");
    let config: toml::Table =
        toml::from_str(&std::fs::read_to_string(w.path().join("nightshift.toml")).unwrap())
            .unwrap();
    assert_eq!(
        config["handler"]["command"],
        toml::Value::Array(vec!["python3".into(), "my agent.py".into()])
    );
    let cron = w.run(&["deploy", "cron"]).expect(0);
    assert!(cron.stdout.contains(r#"Handler: ["python3", "my agent.py"]"#), "{}", cron.stdout);
    // Again with the same handler: nothing to change, so nothing refused.
    w.run(&["init", "--", "python3", "my agent.py"]).expect(0);
    }
}

crate::both_stores! {
    #[test]
    fn init_never_changes_an_existing_config_and_says_how_to_edit_it(w: Workdir) {
    w.write("nightshift.toml", "[retry]\nmax_attempts = 2\n");
    let before = w.snapshot();
    let out = w.run(&["init", "--", "python3", "agent.py"]).expect(2);
    assert!(out.stderr.contains("nightshift.toml exists"), "{}", out.stderr);
    assert!(out.stderr.contains(r#"command = ["python3", "agent.py"]"#), "{}", out.stderr);
    assert!(out.stderr.contains("[handler]"), "{}", out.stderr);
    assert_eq!(w.snapshot(), before, "a refused init changes nothing, no database either");
    }
}

/// `doctor --json` with extra arguments; the handler check's (status, message).
fn doctor_handler(w: &Workdir, extra: &[&str]) -> (String, String) {
    let out = w.run(&[&["doctor", "--json"][..], extra].concat());
    let checks: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let check = checks.as_array().unwrap().iter().find(|c| c["check"] == "handler").unwrap();
    (check["status"].as_str().unwrap().to_owned(), check["message"].as_str().unwrap().to_owned())
}

crate::both_stores! {
    #[test]
    fn doctor_takes_the_handler_after_dashes_as_run_does(w: Workdir) {
    w.run(&["init"]).expect(0);
    let (status, message) = doctor_handler(&w, &[]);
    assert_eq!(status, "fail", "{message}");
    assert!(message.contains("nightshift init -- python3 agent.py"), "{message}");
    assert_eq!(doctor_handler(&w, &["--", "/bin/sh", "agent.sh"]).0, "ok");
    // Given after `--`, it wins over the config, and the fix names the command line.
    w.write("nightshift.toml", "[handler]\ncommand = [\"/bin/sh\"]\n");
    let (status, message) = doctor_handler(&w, &["--", "no-such-agent-5e1d"]);
    assert_eq!(status, "fail");
    assert!(message.contains("in the command after `--`"), "{message}");
    }
}

crate::both_stores! {
    #[test]
    fn deploy_puts_the_handler_after_dashes_on_every_run_line(w: Workdir) {
    w.run(&["init"]).expect(0);
    let handler = ["--", "/usr/bin/python3", "my agent.py"];
    let cron = w.run(&[&["deploy", "cron"][..], &handler].concat()).expect(0).stdout;
    assert!(!cron.contains("NO HANDLER IS SET"), "{cron}");
    let line = cron.lines().last().unwrap();
    assert!(line.contains("run --once -- /usr/bin/python3 'my agent.py' >> "), "{line}");

    let systemd = w.run(&[&["deploy", "systemd"][..], &handler].concat()).expect(0).stdout;
    assert!(!systemd.contains("NO HANDLER IS SET"), "{systemd}");
    let execs: Vec<&str> = systemd.lines().filter(|l| l.starts_with("ExecStart=")).collect();
    assert_eq!(execs.len(), 2, "{systemd}");
    for exec in execs {
        assert!(exec.ends_with(r#" -- /usr/bin/python3 "my agent.py""#), "{exec}");
    }

    let fly = w
        .run(&["--db", "/data/nightshift.db", "deploy", "fly", "--", "python3", "/app/agent.py"])
        .expect(0)
        .stdout;
    let fly: toml::Table = toml::from_str(&fly).unwrap();
    assert_eq!(
        fly["processes"]["worker"].as_str(),
        Some("run --grace 30s -- python3 /app/agent.py")
    );
    }
}
