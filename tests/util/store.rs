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
        Some(url) => {
            let (url, sql) = (url.to_owned(), sql.to_owned());
            // On a thread of its own: the client's private runtime cannot start in a test's.
            std::thread::spawn(move || {
                let mut client = url
                    .parse::<postgres::Config>()
                    .and_then(|c| c.connect(postgres::NoTls))
                    .expect("connect to the test database");
                let row = client.query_one(&sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
                match row.try_get::<_, i64>(0) {
                    Ok(n) => n,
                    Err(_) => row.get::<_, i32>(0).into(),
                }
            })
            .join()
            .expect("the query's thread panicked")
        }
        None => {
            let conn = rusqlite::Connection::open(db).expect("open test db");
            conn.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
            conn.query_row(sql, [], |r| r.get(0)).expect(sql)
        }
    }
}

/// Runs statements on either store (a test's own change to the database).
pub fn execute(db: &Path, sql: &str) {
    match url(db) {
        Some(url) => {
            let (url, sql) = (url.to_owned(), sql.to_owned());
            std::thread::spawn(move || {
                let mut client = url
                    .parse::<postgres::Config>()
                    .and_then(|c| c.connect(postgres::NoTls))
                    .expect("connect to the test database");
                client.batch_execute(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            })
            .join()
            .expect("the statement's thread panicked");
        }
        None => {
            let conn = rusqlite::Connection::open(db).expect("open test db");
            conn.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
            conn.execute_batch(sql).expect(sql);
        }
    }
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
/// name(db: TempDb) { ... } }` becomes `name::sqlite` and `name::postgres` (a trailing comma
/// after the argument, as rustfmt writes long signatures, is accepted).
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
