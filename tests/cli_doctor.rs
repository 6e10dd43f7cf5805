//! `nightshift doctor` through the built binary: a healthy deployment passes, and each failing
//! check (storage under /tmp or on a tmpfs, on a container's root, a read-only or corrupt
//! database, a handler cron cannot find) exits 1 with a message that names the fix.
//!
//! Temp dirs live under /tmp, which doctor rightly fails, so the healthy cases put their
//! database under Cargo's per-target temp dir instead.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::cli::{Run, Workdir};

const SECRET: &str = "T0DOCTOR/B0/doctor-secret-token";

/// A workdir outside /tmp, on the disk the target dir is on.
pub(crate) fn on_disk() -> Workdir {
    // Still a temp dir (removed on drop), but on persistent storage even when the checkout
    // itself lives under /tmp: the target dir if it is not, else the home directory's cache.
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let base = if target.starts_with("/tmp") || target.starts_with("/var/tmp") {
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or("/root".into());
        let cache = home.join(".cache/nightshift-tests");
        std::fs::create_dir_all(&cache).expect("test cache dir");
        cache
    } else {
        target.to_path_buf()
    };
    Workdir::in_dir(tempfile::tempdir_in(base).expect("temp dir"))
}

/// A database, a config with a handler found under cron's PATH, and a cap.
fn healthy(w: &Workdir) {
    w.run(&["init"]).expect(0);
    w.write(
        "nightshift.toml",
        "[handler]\ncommand = [\"sh\", \"agent.sh\"]\n[budget]\ndaily_usd = 1.0\n",
    );
}

/// Runs `doctor --json` with extra environment; returns the run and its checks by name.
fn doctor(w: &Workdir, args: &[&str], env: &[(&str, &str)]) -> (Run, Vec<Value>) {
    let mut cmd = w.cmd(&[args, &["doctor", "--json"][..]].concat());
    cmd.env_remove("FLY_APP_NAME");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let checks: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("doctor --json printed no JSON ({e}): {run:?}"));
    let checks = checks.as_array().expect("an array of checks").clone();
    (run, checks)
}

/// The `(status, message)` of one check.
fn check(checks: &[Value], name: &str) -> (String, String) {
    let c = checks.iter().find(|c| c["check"] == name).unwrap_or_else(|| panic!("no {name} check"));
    (c["status"].as_str().unwrap().to_owned(), c["message"].as_str().unwrap().to_owned())
}

/// The mount's file system type for `dir`, from /proc/self/mounts (longest prefix).
pub(crate) fn fstype(dir: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let dir = dir.canonicalize().unwrap();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && dir.starts_with(f[1])).then(|| (f[1].len(), f[2].to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, t)| t)
        .unwrap_or_default()
}

// SQLite only: the file checks (writable, journal, integrity, storage); cli_postgres has PostgreSQL's.
#[test]
fn doctor_passes_a_healthy_deployment_and_never_prints_the_webhook() {
    let w = on_disk();
    if fstype(w.path()).contains("tmpfs") {
        eprintln!("note: the target dir is on a tmpfs here; no healthy storage to test with");
        return;
    }
    healthy(&w);
    let url = format!("https://hooks.example.invalid/services/{SECRET}");
    let (run, checks) = doctor(&w, &[], &[("ALERT_WEBHOOK", &url)]);
    let run = run.expect(0);
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET), "{run:?}");
    for name in
        ["database", "writable", "journal", "integrity", "handler", "webhook", "cap", "clock"]
    {
        assert_eq!(check(&checks, name).0, "ok", "{name}: {checks:?}");
    }
    assert!(check(&checks, "webhook").1.contains("https://hooks.example.invalid"));
    assert!(["ok", "warn"].contains(&check(&checks, "storage").0.as_str()));
    assert_eq!(
        check(&checks, "runner"),
        ("info".into(), "no runner holds the database now".into())
    );
    let text = w.run(&["doctor"]).expect(0);
    assert!(text.stdout.contains("all checks passed"), "{}", text.stdout);
}

// SQLite only: where the database file lies.
#[test]
fn doctor_fails_a_database_under_tmp() {
    let w = Workdir::in_dir(tempfile::tempdir_in("/tmp").unwrap());
    healthy(&w);
    let (run, checks) = doctor(&w, &[], &[]);
    run.expect(1);
    let (status, message) = check(&checks, "storage");
    assert_eq!(status, "fail");
    assert!(message.contains("/tmp") && message.contains("move the database"), "{message}");
}

/// A directory on a tmpfs other than /tmp (/dev/shm, /run on most hosts).
fn tmpfs_dir() -> Option<tempfile::TempDir> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 3 && f[2] == "tmpfs" && f[3].starts_with("rw") && !f[1].starts_with("/tmp"))
                .then(|| f[1].to_owned())
        })
        .find_map(|point| tempfile::tempdir_in(point).ok())
}

// SQLite only: where the database file lies.
#[test]
fn doctor_fails_a_database_on_a_tmpfs() {
    let Some(dir) = tmpfs_dir() else {
        eprintln!("note: no writable tmpfs here (/dev/shm, /run); skipped");
        return;
    };
    let w = Workdir::in_dir(dir);
    healthy(&w);
    let (run, checks) = doctor(&w, &[], &[]);
    run.expect(1);
    let (status, message) = check(&checks, "storage");
    assert_eq!(status, "fail");
    assert!(message.contains("tmpfs") && message.contains("move the database"), "{message}");
}

// SQLite only: where the database file lies.
#[test]
fn doctor_fails_a_database_on_the_root_of_a_fly_machine() {
    let w = on_disk();
    let same_fs =
        std::fs::metadata(w.path()).unwrap().dev() == std::fs::metadata("/").unwrap().dev();
    if !same_fs {
        eprintln!("note: the target dir is not on the root file system here; skipped");
        return;
    }
    healthy(&w);
    let (run, checks) = doctor(&w, &[], &[("FLY_APP_NAME", "doctor-test")]);
    run.expect(1);
    let (status, message) = check(&checks, "storage");
    assert_eq!(status, "fail");
    assert!(message.contains("mount a volume") && message.contains("/data"), "{message}");
}

// SQLite only: a database file on a read-only mount.
#[test]
fn doctor_fails_a_read_only_database_and_names_the_fix() {
    let w = on_disk();
    healthy(&w);
    // Remount the directory read-only in a private mount namespace: the mount vanishes with
    // the process. (chmod is no test: root writes through it.)
    let script = r#"mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" || exit 99
exec "$2" doctor --json"#;
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(w.path())
        .arg(env!("CARGO_BIN_EXE_nightshift"))
        .current_dir(w.path())
        .env_remove("FLY_APP_NAME")
        .output();
    let out = match out {
        Ok(out) if out.status.code() != Some(99) => out,
        _ => {
            eprintln!(
                "note: cannot mount here (not root?); the unit test on a read-only connection covers it"
            );
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let checks: Vec<Value> = serde_json::from_str(stdout.trim()).unwrap();
    let (status, message) = check(&checks, "writable");
    assert_eq!(status, "fail");
    assert!(message.contains("not writable") && message.contains("read-write"), "{message}");
}

crate::both_stores! {
    #[test]
    fn doctor_fails_a_handler_cron_cannot_find_and_names_its_absolute_path(w: Workdir) {
    healthy(&w);
    std::fs::create_dir(w.path().join("bin")).unwrap();
    let agent = w.script("bin/my-agent", "exit 0");
    w.write("nightshift.toml", "[handler]\ncommand = [\"my-agent\", \"--fast\"]\n");
    let path = format!("{}:/usr/bin:/bin", w.path().join("bin").display());
    let (run, checks) = doctor(&w, &[], &[("PATH", &path)]);
    run.expect(1);
    let (status, message) = check(&checks, "handler");
    assert_eq!(status, "fail");
    assert!(message.contains("cron's PATH=/usr/bin:/bin"), "{message}");
    assert!(message.contains(&format!("\"{}\"", agent.display())), "{message}");
    }
}

crate::both_stores! {
    #[test]
    fn doctor_fails_a_handler_found_nowhere(w: Workdir) {
    healthy(&w);
    w.write("nightshift.toml", "[handler]\ncommand = [\"no-such-agent-7f3a\"]\n");
    let (run, checks) = doctor(&w, &[], &[]);
    run.expect(1);
    let (status, message) = check(&checks, "handler");
    assert_eq!(status, "fail");
    assert!(message.contains("not found") && message.contains("absolute path"), "{message}");
    }
}

// SQLite only: damage to the database file.
#[test]
fn doctor_fails_a_corrupt_database() {
    let w = on_disk();
    healthy(&w);
    let payload = "x".repeat(1000);
    let lines: String =
        (0..300).map(|i| format!("{{\"key\":\"job-{i}\",\"payload\":\"{payload}\"}}\n")).collect();
    let jobs = w.write("jobs.jsonl", &lines);
    w.run(&["enqueue", "--jsonl", jobs.to_str().unwrap()]).expect(0);
    // The last connection closed, so the WAL is checkpointed into the file. Corrupt a copy:
    // one page in the middle overwritten, which `SELECT count(*)` may not notice.
    let mut bytes = std::fs::read(w.db()).unwrap();
    let page = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
    let middle = bytes.len() / page / 2 * page;
    assert!(middle > page, "the database has pages past the first");
    bytes[middle..middle + page].fill(0xA5);
    std::fs::write(w.path().join("copy.db"), bytes).unwrap();
    let (run, checks) = doctor(&w, &["--db", "copy.db"], &[]);
    run.expect(1);
    assert_eq!(check(&checks, "database").0, "ok", "the header is intact");
    let (status, message) = check(&checks, "integrity");
    assert_eq!(status, "fail");
    assert!(message.contains("corrupt") && message.contains("restore"), "{message}");
}

// SQLite only: exit 0 needs a database file on healthy storage; alert_test covers both stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_send_test_alert_exits_0_on_delivery_and_1_when_the_webhook_fails() {
    let sink = crate::util::sink::Sink::start().await;
    let w = on_disk();
    healthy(&w);
    let url = sink.url(&format!("/hooks/{SECRET}"));
    let send = |w: &Workdir| {
        let mut cmd = w.cmd(&["doctor", "--send-test-alert", "--json"]);
        cmd.env("ALERT_WEBHOOK", &url).env_remove("FLY_APP_NAME");
        cmd
    };
    let mut ok = send(&w);
    let out = tokio::task::spawn_blocking(move || ok.output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(sink.received().len(), 1, "one test alert");
    let checks: Vec<Value> = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(check(&checks, "webhook").0, "ok");

    sink.script(&[503]);
    let mut bad = send(&w);
    let out = tokio::task::spawn_blocking(move || bad.output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let checks: Vec<Value> = serde_json::from_str(stdout.trim()).unwrap();
    let (status, message) = check(&checks, "webhook");
    assert_eq!(status, "fail");
    assert!(message.contains("503"), "{message}");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET), "the webhook secret leaked");
}
