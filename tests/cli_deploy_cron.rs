//! `deploy cron` for paths cron would mangle, and its notes: the crontab line escapes every `%`
//! (cron turns a bare one into a newline), DEPLOY.md's self-test runs that line the way cron
//! does, and the note about a database under /tmp names only what applies to cron.

use std::process::Command;

use crate::util::cli::Workdir;

// SQLite only: the lines name the database file (cli_postgres has PostgreSQL's).
#[test]
fn deploy_cron_escapes_percent_and_the_line_runs_as_cron_runs_it() {
    let w = Workdir::new();
    let dir = w.path().join("50%off");
    std::fs::create_dir(&dir).unwrap();
    let exe = env!("CARGO_BIN_EXE_nightshift");
    let ns = |args: &[&str]| {
        let out = Command::new(exe)
            .args(args)
            .current_dir(&dir)
            .env_remove("NIGHTSHIFT_DB")
            .env_remove("NIGHTSHIFT_CONFIG")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    std::fs::write(dir.join("agent.sh"), "cat > /dev/null\necho done >> 'effects 100%.txt'\n")
        .unwrap();
    ns(&["init", "--", "/bin/sh", "agent.sh"]);
    ns(&["enqueue", "digest@2026-11-24", r#"{"topic":"inbox"}"#]);

    let text = ns(&["deploy", "cron"]);
    let line = text.lines().last().unwrap();
    let bare = line.match_indices('%').filter(|(i, _)| !line[..*i].ends_with('\\')).count();
    assert_eq!(bare, 0, "every % is escaped for cron: {line}");
    assert!(line.contains(r"/50\%off/nightshift.db"), "{line}");
    assert!(text.contains(r"written \%"), "the comment says why: {text}");

    // DEPLOY.md's self-test: the command part of the line, `\%` read back as `%` as cron does,
    // run with cron's PATH and nothing else.
    let self_test = format!(
        "line=$('{exe}' deploy cron | tail -n 1 | cut -d' ' -f6- | sed 's/\\\\%/%/g') && \
         env -i PATH=/usr/bin:/bin sh -c \"$line\""
    );
    let out = Command::new("sh")
        .args(["-c", &self_test])
        .current_dir(&dir)
        .env_remove("NIGHTSHIFT_DB")
        .env_remove("NIGHTSHIFT_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "the self-test failed: {out:?}");
    let db = rusqlite::Connection::open(dir.join("nightshift.db")).unwrap();
    let status: String = db
        .query_row("SELECT status FROM jobs WHERE key = 'digest@2026-11-24'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "done");
    assert_eq!(std::fs::read_to_string(dir.join("effects 100%.txt")).unwrap(), "done\n");
    let log = std::fs::read_to_string(dir.join("nightshift.log")).unwrap();
    assert!(log.contains("job_succeeded"), "{log}");
}

// SQLite only: the note about a database file under /tmp.
#[test]
fn the_tmp_note_names_private_tmp_only_for_systemd() {
    let w = Workdir::new();
    // `deploy` only prints: the database need not exist.
    let db = ["--db", "/tmp/nightshift-deploy-note/nightshift.db"];
    let cron = w.run(&[&db[..], &["deploy", "cron"]].concat()).expect(0);
    assert!(cron.stderr.contains("emptied at reboot"), "{}", cron.stderr);
    assert!(!cron.stderr.contains("PrivateTmp"), "cron has no PrivateTmp: {}", cron.stderr);
    let systemd = w.run(&[&db[..], &["deploy", "systemd"]].concat()).expect(0);
    assert!(systemd.stderr.contains("PrivateTmp=yes"), "{}", systemd.stderr);
}
