//! Refusals a first hour meets, each naming the problem and the fix: `--db` given to `demo` or
//! `bench` (which make their own database), `init` into a missing folder, a webhook nobody
//! listens on, a full disk.

use std::net::TcpListener;

use crate::util::cli::Workdir;
use crate::util::mount::Tmpfs;

// SQLite only: demo and bench make their own SQLite databases.
#[test]
fn demo_and_bench_refuse_a_db_they_would_ignore() {
    let w = Workdir::new();
    for (args, says) in [
        (&["demo", "--db", "mine.db"][..], "takes no --db"),
        (&["--db", "mine.db", "demo"], "takes no --db"),
        (&["bench", "--db", "mine.db"], "takes a PostgreSQL URL"),
        (&["--db", "mine.db", "bench", "--jobs", "10"], "takes a PostgreSQL URL"),
    ] {
        let refused = w.run(args).expect(2);
        assert!(refused.stderr.contains(says), "{args:?}: {}", refused.stderr);
    }
    assert!(w.snapshot().is_empty() && !w.path().join("nightshift-demo").exists());
    let help = w.run(&["demo", "--help"]).expect(0).stdout;
    assert!(!help.contains("--db"), "demo --help lists --db:\n{help}");
    // bench's own --db is a PostgreSQL server to measure as well, and says so.
    let help = w.run(&["bench", "--help"]).expect(0).stdout;
    assert!(help.contains("--db <POSTGRES_URL>"), "bench --help:\n{help}");
    // NIGHTSHIFT_DB in the environment is for the other commands; bench runs beside it.
    let bench = w
        .cmd(&["bench", "--jobs", "20", "--workers", "2", "--json"])
        .env("NIGHTSHIFT_DB", w.path().join("mine.db"))
        .output()
        .unwrap();
    assert!(bench.status.success(), "{}", String::from_utf8_lossy(&bench.stderr));
}

// SQLite only: the database file's parent directory.
#[test]
fn init_into_a_missing_directory_names_it_and_the_fix() {
    let w = Workdir::new();
    let db = w.path().join("no/such/dir/x.db");
    let refused = w.run(&["--db", db.to_str().unwrap(), "init"]).expect(2);
    let dir = w.path().join("no/such/dir");
    assert!(
        refused.stderr.contains(&format!("{} does not exist", dir.display()))
            && refused.stderr.contains(&format!("mkdir -p {}", dir.display())),
        "{}",
        refused.stderr
    );
    assert!(!w.path().join("no").exists() && !w.path().join("nightshift.toml").exists());
}

crate::both_stores! {
    #[test]
    fn alert_test_with_nothing_listening_says_connection_refused(w: Workdir) {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = w
        .cmd(&["alert", "test"])
        .env("ALERT_WEBHOOK", format!("http://127.0.0.1:{port}/hooks/T0/SECRET-TOKEN"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(!stderr.contains("error sending request") && !stderr.contains("SECRET"), "{stderr}");
    }
}

// SQLite only: a full disk under the database file.
#[test]
fn a_write_that_fills_the_disk_names_the_fix() {
    let Some(fs) = Tmpfs::mount("768k") else { return };
    let w = Workdir::new();
    let db = fs.path().join("agent.db");
    let db_arg = db.to_str().unwrap();
    w.run(&["--db", db_arg, "init"]).expect(0);
    // Held open so the -wal and -shm files stay: every enqueue then opens fine and fails on
    // its write, where SQLite reports SQLITE_FULL.
    let keep = rusqlite::Connection::open(&db).unwrap();
    keep.query_row("SELECT count(*) FROM jobs", [], |r| r.get::<_, i64>(0)).unwrap();
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", &format!("of={}", fs.path().join("filler").display()), "bs=4k"])
        .stderr(std::process::Stdio::null())
        .status();
    let payload = "p".repeat(4000);
    let refused = (0..500)
        .map(|i| w.run(&["--db", db_arg, "enqueue", &format!("k{i}"), &payload]))
        .find(|out| out.code != Some(0))
        .expect("the disk never filled up");
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused.stderr.contains("is full") && refused.stderr.contains("free space there"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("[store]"), "advice about a key that does not exist");
    drop(keep);
}

crate::both_stores! {
    #[test]
    fn run_once_with_wait_0s_does_not_wait_for_retries(w: Workdir) {
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", "[retry]\nbase = \"30s\"\ncap = \"60s\"\n");
    w.run(&["enqueue", "flaky", "{}"]).expect(0);
    let started = std::time::Instant::now();
    w.run(&["run", "--once", "--wait", "0s", "--", "false"]).expect(0);
    // The retry falls due in 15 s or more; a run that waited for it would take that long.
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
    let pending = "SELECT count(*) FROM jobs WHERE key = 'flaky' AND status = 'pending' \
                   AND attempts = 1";
    assert_eq!(w.count(pending), 1);
    }
}
