//! `nightshift migrate`: a SQLite database copied into PostgreSQL in one transaction, the
//! source unchanged, a target holding jobs refused with nothing written.

use crate::util::cli::Workdir;
use crate::util::store;

#[test]
fn migrate_copies_every_table_into_postgres_and_leaves_the_source_unchanged() {
    let Some((_scratch, url)) = store::postgres("cli_migrate::copies") else { return };
    // Trust auth takes any password: one is there to prove it is never shown.
    let url = url.to_str().unwrap().replacen("://postgres@", "://postgres:s3cret-pw@", 1);
    let w = Workdir::new();
    w.run(&["init"]).expect(0);
    for key in ["a", "b", "c"] {
        w.run(&["enqueue", key, &format!("{{\"k\": \"{key}\", \"z\": 1, \"a\": 2}}")]).expect(0);
    }
    w.conn()
        .execute_batch(
            "UPDATE jobs SET status = 'done', finished_at = 5, result = 'ok' WHERE key = 'a';
             INSERT INTO dead_letter (key, queue, payload, error, attempts, max_attempts, died,
                                      errors, reason)
             VALUES ('d', 'default', '{}', 'boom', 4, 4, 1795472917, '[]', 'exhausted');
             INSERT INTO spend (day, key, attempt, micros, at) VALUES ('2026-11-27', 'a', 1, 1500, 9);
             INSERT INTO alerts (kind, key, body, created_at, next_attempt_at)
             VALUES ('dead_letter', 'd', '{}', 9, 9);",
        )
        .unwrap();
    w.run(&["pause", "--reason", "moving house"]).expect(0);
    let db_bytes = || std::fs::read(w.path().join("nightshift.db")).unwrap();
    let wal = || std::fs::read(w.path().join("nightshift.db-wal")).unwrap_or_default();
    // The commands above checkpointed on close: the file holds everything.
    assert!(wal().is_empty());
    let before = db_bytes();

    let out = w.run(&["migrate", "--from", "nightshift.db", "--to", &url]).expect(0);
    assert!(
        out.stdout.contains("copied 3 jobs, 1 dead letters, 1 spend rows, 1 alerts"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("s3cret-pw") && !out.stderr.contains("s3cret-pw"),
        "{}",
        out.stdout
    );
    // Read-only, as SQLite opens a WAL database: the file is as it was, its WAL still empty.
    assert!(db_bytes() == before && wal().is_empty(), "the source is unchanged");

    let pg = std::path::Path::new(&url);
    assert_eq!(store::count(pg, "SELECT count(*) FROM jobs"), 3);
    assert_eq!(
        store::count(pg, "SELECT count(*) FROM jobs WHERE key = 'a' AND status = 'done'"),
        1
    );
    assert_eq!(store::count(pg, "SELECT count(*) FROM dead_letter"), 1);
    assert_eq!(store::count(pg, "SELECT sum(micros)::bigint FROM spend"), 1500);
    assert_eq!(store::count(pg, "SELECT paused FROM control"), 1);
    assert_eq!(store::count(pg, "SELECT jobs + dead FROM row_counts"), 4, "counts kept");
    assert_eq!(
        store::count(
            pg,
            "SELECT count(*) FROM jobs WHERE payload = '{\"k\": \"b\", \"z\": 1, \"a\": 2}'"
        ),
        1,
        "payloads byte for byte"
    );
    // Insertion order survives: `b` was enqueued before `c`.
    assert_eq!(
        store::count(
            pg,
            "SELECT count(*) FROM jobs b, jobs c WHERE b.key = 'b' AND c.key = 'c' AND b.seq < c.seq"
        ),
        1
    );

    let again = w.run(&["migrate", "--from", "nightshift.db", "--to", &url]);
    assert_ne!(again.code, Some(0));
    assert!(again.stderr.contains("already holds jobs"), "{}", again.stderr);
    assert!(!again.stderr.contains("s3cret-pw"), "{}", again.stderr);
    assert_eq!(store::count(pg, "SELECT count(*) FROM jobs"), 3, "nothing written twice");

    let bad = w.run(&["migrate", "--from", "nightshift.db", "--to", "mysql://x"]).expect(2);
    assert!(bad.stderr.contains("not a PostgreSQL URL"), "{}", bad.stderr);
}
