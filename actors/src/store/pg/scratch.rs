//! A fresh PostgreSQL database per test (or per `bench` run), dropped afterwards, so the
//! suites run against both stores. The server is the one `NIGHTSHIFT_TEST_PG` names (an admin URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`); without it, the local server on
//! 127.0.0.1:5432 if one answers. With the variable set, a server that does not answer fails
//! the test; without it, the test says in one line that it was not run, and passes.

use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the server the PostgreSQL tests use; CI sets it, so they must run.
pub const TEST_URL_VAR: &str = "NIGHTSHIFT_TEST_PG";

const LOCAL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database of its own for one test; dropped (with everything in it) when this drops.
pub struct ScratchDb {
    admin: String,
    name: String,
    url: String,
}

impl ScratchDb {
    /// Creates a new empty database, or `None` (having said so on stderr) when no server is
    /// configured or found. Panics when `NIGHTSHIFT_TEST_PG` names a server that fails.
    pub fn create(test: &str) -> Option<ScratchDb> {
        let (admin, required) = match std::env::var(TEST_URL_VAR) {
            Ok(url) if !url.is_empty() => (url, true),
            _ => (LOCAL.to_owned(), false),
        };
        if let Err(e) = super::tls::config(&admin) {
            panic!("{TEST_URL_VAR} is not a usable URL: {e}");
        }
        match Self::made(&admin, "nightshift_test") {
            Ok(db) => Some(db),
            Err((name, e)) if required || e.as_db_error().is_some() => {
                panic!("cannot create test database {name} through {TEST_URL_VAR}'s server: {e}")
            }
            Err(_) => {
                eprintln!(
                    "{test}: PostgreSQL part not run (no server at 127.0.0.1:5432; set \
                     {TEST_URL_VAR} to run it)"
                );
                None
            }
        }
    }

    /// Creates a new empty database named `prefix_...` on the server `server` names, through
    /// the database the URL names (left as it is). The error names the fix.
    pub fn on(server: &str, prefix: &str) -> Result<ScratchDb, String> {
        super::tls::config(server).map_err(|e| e.to_string())?;
        Self::made(server, prefix).map_err(|(name, e)| {
            format!(
                "cannot create a scratch database ({name}) on {}: {}; the URL's role needs \
                 the CREATEDB privilege there (ALTER ROLE ... CREATEDB)",
                super::redact(server),
                crate::error::pg_message(&e)
            )
        })
    }

    fn made(admin: &str, prefix: &str) -> Result<ScratchDb, (String, postgres::Error)> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "{prefix}_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        match admin_sql(admin, format!("CREATE DATABASE {name}")) {
            Ok(()) => {
                let url = with_dbname(admin, &name);
                Ok(ScratchDb { admin: admin.to_owned(), name, url })
            }
            Err(e) => Err((name, e)),
        }
    }

    /// A connection of its own to the database, with nightshift's TLS settings. Not from
    /// inside an async runtime: the client drives one of its own.
    pub fn client(&self) -> Result<postgres::Client, String> {
        let (config, tls) = super::tls::config(&self.url).map_err(|e| e.to_string())?;
        config.connect(tls).map_err(|e| crate::error::pg_message(&e))
    }

    /// Makes the database refuse every new connection and cuts the ones it has, as a server
    /// that lost it would (dropping it instead races a client connecting again).
    pub fn refuse_connections(&self) {
        let name = &self.name;
        let sql = format!(
            "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
        );
        admin_sql(&self.admin, sql).expect("refuse connections to a scratch database");
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = admin_sql(&self.admin, drop);
    }
}

/// Runs `sql` on the admin database, connecting on a thread of its own: the client drives a
/// private runtime, which cannot start (or stop) inside a test's.
fn admin_sql(admin: &str, sql: String) -> Result<(), postgres::Error> {
    let admin = admin.to_owned();
    std::thread::spawn(move || {
        // Through nightshift's own TLS settings, so the URL may ask for TLS (checked by the
        // callers before).
        let (config, tls) = super::tls::config(&admin).expect("a URL checked before");
        let mut client = config.connect(tls)?;
        client.batch_execute(&sql)
    })
    .join()
    .expect("the admin connection's thread panicked")
}

/// `url` naming database `name` instead of its own.
fn with_dbname(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(super::with_dbname("postgres://u@h:1/postgres", "x"), "postgres://u@h:1/x");
        assert_eq!(
            super::with_dbname("postgres://u@h/p?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(super::with_dbname("postgres://h", "x"), "postgres://h/x");
    }
}
