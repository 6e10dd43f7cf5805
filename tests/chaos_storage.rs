//! Storage faults: a full disk, a read-only mount, a damaged database. Each is refused with a
//! message that names the fix, nothing is half-written, and work resumes once it is fixed.

use crate::util::cli::Workdir;
use crate::util::mount::Tmpfs;

// SQLite only: a full disk under the database file.
#[test]
fn a_full_disk_gives_a_clear_error_keeps_what_was_written_and_recovers() {
    let Some(fs) = Tmpfs::mount("768k") else { return };
    let w = Workdir::new();
    let db = fs.path().join("agent.db");
    let db_arg = db.to_str().unwrap();
    w.run(&["--db", db_arg, "init"]).expect(0);
    // Fill the file system around the database.
    let filler = fs.path().join("filler");
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", &format!("of={}", filler.display()), "bs=4k"])
        .stderr(std::process::Stdio::null())
        .status();
    let payload = "p".repeat(4000);
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..500 {
        let key = format!("k{i}");
        let out = w.run(&["--db", db_arg, "enqueue", &key, &payload]);
        match out.code {
            Some(0) => acked.push(key),
            _ => {
                refused = Some(out);
                break;
            }
        }
    }
    let refused = refused.expect("the disk never filled up");
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("full"), "the error names the full disk: {}", refused.stderr);
    assert!(refused.stderr.contains("free space"), "the error names the fix: {}", refused.stderr);
    assert!(!refused.stderr.contains("[store]"), "no advice about a key that does not exist");
    // Space comes back: everything acknowledged is there, intact, and work goes on.
    std::fs::remove_file(&filler).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let n: i64 = conn.query_row("SELECT count(*) FROM jobs", [], |r| r.get(0)).unwrap();
    assert_eq!(n as usize, acked.len(), "every acknowledged enqueue is there, nothing more");
    drop(conn);
    w.run(&["--db", db_arg, "enqueue", "after", "{}"]).expect(0);
    w.run(&["--db", db_arg, "run", "--once", "--", "true"]).expect(0);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let done: i64 = conn
        .query_row("SELECT count(*) FROM jobs WHERE status = 'done'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(done as usize, acked.len() + 1);
}

// SQLite only: a database file on a read-only mount.
#[test]
fn a_read_only_database_is_refused_and_left_alone() {
    let Some(fs) = Tmpfs::mount("4m") else { return };
    let w = Workdir::new();
    let db = fs.path().join("agent.db");
    let db_arg = db.to_str().unwrap();
    w.run(&["--db", db_arg, "init"]).expect(0);
    w.run(&["--db", db_arg, "enqueue", "k", "{}"]).expect(0);
    let before = std::fs::read(&db).unwrap();
    fs.remount(true);
    for args in [&["run", "--once", "--", "true"][..], &["enqueue", "k2", "{}"][..], &["pause"][..]]
    {
        let mut full = vec!["--db", db_arg];
        full.extend_from_slice(args);
        let out = w.run(&full);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains("read-only"), "{args:?}: {}", out.stderr);
    }
    fs.remount(false);
    assert_eq!(std::fs::read(&db).unwrap(), before, "the file was not touched");
}

// SQLite only: damage to the database file.
#[test]
fn a_damaged_database_is_refused_and_never_overwritten() {
    let w = Workdir::new();
    w.run(&["init"]).expect(0);
    for i in 0..300 {
        w.conn()
            .execute(
                "INSERT INTO jobs (key, payload, status, max_attempts, run_at, created_at, updated_at)
                 VALUES (?1, ?2, 'pending', 4, 0, 0, 0)",
                rusqlite::params![format!("k{i}"), "x".repeat(200)],
            )
            .unwrap();
    }
    // Damage the root page of the jobs table (the file's header stays valid, so only an
    // integrity check sees it). Found by name, so a schema change that moves pages around
    // cannot turn the damage into an unused page the check never reads.
    let (root, page): (i64, i64) = {
        let conn = w.conn();
        let root = conn
            .query_row("SELECT rootpage FROM sqlite_schema WHERE name = 'jobs'", [], |r| r.get(0))
            .unwrap();
        (root, conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap())
    };
    let mut bytes = std::fs::read(w.db()).unwrap();
    let (start, page) = ((root as usize - 1) * page as usize, page as usize);
    for b in &mut bytes[start..start + page] {
        *b = 0xA5;
    }
    std::fs::write(w.db(), &bytes).unwrap();
    let out = w.run(&["run", "--once", "--", "true"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("damaged") && out.stderr.contains("backup"), "{}", out.stderr);
    assert_eq!(std::fs::read(w.db()).unwrap(), bytes, "never repaired or overwritten");
}
