//! Both stores for one test: a temp SQLite file, or a scratch PostgreSQL database (dropped
//! with the test) when a server is there. `both_stores!` declares a test once and runs it on
//! each; on a machine without PostgreSQL the PostgreSQL half says in one line that it did not
//! run (CI sets NIGHTSHIFT_TEST_PG, which makes a missing server fail instead).

use std::path::{Path, PathBuf};

pub use nightshift_actors::testing::ScratchDb;

/// One value of a query's first row and column, read from either store: the tests' view of
/// the database beside the engine's writer.
pub fn count(db: &Path, sql: &str) -> i64 {
    match url(db) {
        Some(url) => on_postgres(url, sql, |client, sql| {
            let row = client.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
            // SQLite answers a comparison with 0 or 1, PostgreSQL with a boolean.
            match (row.try_get::<_, i64>(0), row.try_get::<_, bool>(0)) {
                (Ok(n), _) => n,
                (_, Ok(b)) => b.into(),
                _ => row.get::<_, i32>(0).into(),
            }
        }),
        None => sqlite(db).query_row(sql, [], |r| r.get(0)).expect(sql),
    }
}

/// Every row of a query, each value as text (NULL as ""), read from either store: what the
/// invariant checker and the CLI tests compare, whichever database the commands used.
pub fn rows(db: &Path, sql: &str) -> Vec<Vec<String>> {
    match url(db) {
        Some(url) => on_postgres(url, sql, |client, sql| {
            let rows = client.query(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
            rows.iter().map(|row| (0..row.len()).map(|i| pg_text(row, i)).collect()).collect()
        }),
        None => {
            use rusqlite::types::ValueRef;
            let conn = sqlite(db);
            let mut stmt = conn.prepare(sql).expect(sql);
            let columns = stmt.column_count();
            let text = |v: ValueRef| match v {
                ValueRef::Null => String::new(),
                ValueRef::Integer(n) => n.to_string(),
                ValueRef::Real(x) => x.to_string(),
                ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
            };
            stmt.query_map([], |r| (0..columns).map(|i| Ok(text(r.get_ref(i)?))).collect())
                .expect(sql)
                .map(Result::unwrap)
                .collect()
        }
    }
}

/// The first row's first value as text, from either store.
pub fn text(db: &Path, sql: &str) -> String {
    let rows = rows(db, sql);
    rows.first().and_then(|r| r.first()).cloned().unwrap_or_else(|| panic!("no row: {sql}"))
}

/// One PostgreSQL value as text, whichever of the schema's types it has.
fn pg_text(row: &postgres::Row, i: usize) -> String {
    if let Ok(v) = row.try_get::<_, Option<String>>(i) {
        return v.unwrap_or_default();
    }
    if let Ok(v) = row.try_get::<_, Option<i64>>(i) {
        return v.map(|n| n.to_string()).unwrap_or_default();
    }
    if let Ok(v) = row.try_get::<_, Option<i32>>(i) {
        return v.map(|n| n.to_string()).unwrap_or_default();
    }
    if let Ok(v) = row.try_get::<_, Option<bool>>(i) {
        return v.map(|b| i64::from(b).to_string()).unwrap_or_default();
    }
    let v: Option<f64> = row.get(i);
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// Runs statements on either store (a test's own change to the database).
pub fn execute(db: &Path, sql: &str) {
    match url(db) {
        Some(url) => on_postgres(url, sql, |client, sql| {
            client.batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
        }),
        None => sqlite(db).execute_batch(sql).expect(sql),
    }
}

/// Runs `f` with a fresh client of the test database, on a thread of its own: the client's
/// private runtime cannot start inside a test's.
fn on_postgres<T: Send + 'static>(
    url: &str,
    sql: &str,
    f: impl FnOnce(&mut postgres::Client, &str) -> T + Send + 'static,
) -> T {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let mut client = url
            .parse::<postgres::Config>()
            .and_then(|c| c.connect(postgres::NoTls))
            .expect("connect to the test database");
        f(&mut client, &sql)
    })
    .join()
    .expect("the test database's thread panicked")
}

/// A connection to the SQLite file, waiting out the engine's writes.
fn sqlite(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).expect("open test db");
    conn.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    conn
}

/// The URL when `db` names a PostgreSQL database.
pub fn url(db: &Path) -> Option<&str> {
    db.to_str().filter(|d| nightshift_actors::is_postgres_url(d))
}

/// A scratch PostgreSQL database as the engine's `db`, or `None` when no server is there.
pub fn postgres(test: &str) -> Option<(ScratchDb, PathBuf)> {
    let scratch = ScratchDb::create(test)?;
    let path = PathBuf::from(scratch.url());
    Some((scratch, path))
}

/// Declares a test once and runs it on both stores: `both_stores! { #[tokio::test] async fn
/// name(db: TempDb) { ... } }` becomes `name::sqlite` and `name::postgres`; CLI tests take a
/// `w: Workdir` instead, as `fn` or `async fn` (a trailing comma after the argument, as rustfmt
/// writes long signatures, is accepted).
#[macro_export]
macro_rules! both_stores {
    ($(#[$meta:meta])* async fn $name:ident($db:ident: TempDb $(,)?) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($db: $crate::util::TempDb) $body

            $(#[$meta])*
            async fn sqlite() {
                body($crate::util::TempDb::new()).await
            }

            $(#[$meta])*
            async fn postgres() {
                let name = concat!(module_path!(), "::postgres");
                if let Some(db) = $crate::util::TempDb::postgres(name) {
                    body(db).await
                }
            }
        }
    };
    ($(#[$meta:meta])* async fn $name:ident($w:ident: Workdir $(,)?) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($w: $crate::util::cli::Workdir) $body

            $(#[$meta])*
            async fn sqlite() {
                body($crate::util::cli::Workdir::new()).await
            }

            $(#[$meta])*
            async fn postgres() {
                let name = concat!(module_path!(), "::postgres");
                if let Some(w) = $crate::util::cli::Workdir::postgres(name) {
                    body(w).await
                }
            }
        }
    };
    ($(#[$meta:meta])* fn $name:ident($w:ident: Workdir $(,)?) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($w: $crate::util::cli::Workdir) $body

            $(#[$meta])*
            fn sqlite() {
                body($crate::util::cli::Workdir::new())
            }

            $(#[$meta])*
            fn postgres() {
                let name = concat!(module_path!(), "::postgres");
                if let Some(w) = $crate::util::cli::Workdir::postgres(name) {
                    body(w)
                }
            }
        }
    };
}
