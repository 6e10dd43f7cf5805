//! The PostgreSQL connection: chosen when the database is a `postgres://` URL.
//!
//! Client: the synchronous `postgres` crate, because the Store's operations are synchronous
//! functions over a connection (as with rusqlite) and one set of them serves both databases
//! (`store/db.rs`). That crate drives a private tokio runtime of its own, which cannot run on a
//! thread already inside a runtime (the Store's thread is one), so the connection lives on a
//! thread of its own, a [`Link`]: the Store (and `Admin`) send it work and it runs that work in
//! order, one batch at a time. The Store keeps at most one batch there at once and gathers the
//! next meanwhile, so group commit works as on SQLite.
//!
//! Schema: versioned like SQLite's, in `pg/000N_*.sql`, the version in `nightshift_schema`,
//! migrations serialised across runners by an advisory lock. A database that holds tables of
//! nightshift's names but no version is someone else's and is refused.

use std::cell::RefCell;
use std::sync::mpsc;

use super::StoreCtx;
use super::db::{Param, Statements};
use crate::error::StoreError;

/// The schema, one entry per version.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("pg/0001_initial.sql"),
    include_str!("pg/0002_steps.sql"),
    include_str!("pg/0003_snoozes.sql"),
    include_str!("pg/0004_attempt_details.sql"),
    include_str!("pg/0005_waits_cancel.sql"),
    include_str!("pg/0006_limits.sql"),
    include_str!("pg/0007_limit_probe.sql"),
    include_str!("pg/0008_dead_limit.sql"),
];

pub(crate) mod scratch;
pub(crate) mod tls;

/// The advisory lock key nightshift's migrations (and retention) take: "nshift" in ASCII.
const MIGRATE_LOCK: i64 = 0x6e_73_68_69_66_74;

/// An open connection and its prepared statements.
pub(crate) struct Pg {
    pub(crate) client: postgres::Client,
    statements: Statements,
}

impl Pg {
    /// Connects to `url`, checks the schema and migrates it (with `create`, an empty database
    /// gets nightshift's schema; without, it is refused as not initialised).
    pub(crate) fn connect(url: &str, create: bool) -> Result<Pg, StoreError> {
        let (mut config, tls) = tls::config(url)?;
        // A host that does not answer is reported in seconds, not after the system's TCP
        // timeout (minutes); a connection whose peer vanished is found by keepalives within a
        // minute or so. The URL's own settings win.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        if config.get_keepalives_idle() == std::time::Duration::from_secs(2 * 60 * 60) {
            config.keepalives_idle(std::time::Duration::from_secs(30));
        }
        let client = config.connect(tls).map_err(|e| connect_failure(url, &e))?;
        let mut pg = Pg { client, statements: Statements::default() };
        pg.migrate(url, create)?;
        Ok(pg)
    }

    fn migrate(&mut self, url: &str, create: bool) -> Result<(), StoreError> {
        let mut tx = self.client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])?;
        let has = |tx: &mut postgres::Transaction<'_>, table: &str| -> Result<bool, StoreError> {
            let row = tx.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])?;
            Ok(row.get(0))
        };
        let version: i64 = if has(&mut tx, "nightshift_schema")? {
            tx.query_one("SELECT version FROM nightshift_schema", &[])?.get(0)
        } else {
            let foreign: Vec<&str> = ["jobs", "dead_letter", "control", "spend", "alerts"]
                .into_iter()
                .filter(|t| has(&mut tx, t).unwrap_or(true))
                .collect();
            if !foreign.is_empty() {
                return Err(StoreError::Open(format!(
                    "{} holds tables named {} that nightshift did not create; nightshift will \
                     not touch them. Give it a database (or a schema, with ?options=-csearch_path=...) \
                     of its own",
                    redact(url),
                    foreign.join(", ")
                )));
            }
            if !create {
                return Err(StoreError::Missing(format!(
                    "{} has no nightshift schema; run `nightshift init` to create it",
                    redact(url)
                )));
            }
            tx.batch_execute("CREATE TABLE nightshift_schema (version BIGINT NOT NULL)")?;
            tx.execute("INSERT INTO nightshift_schema (version) VALUES (0)", &[])?;
            0
        };
        if version as usize > MIGRATIONS.len() {
            return Err(StoreError::Open(format!(
                "{} has schema version {version}, newer than this nightshift knows ({}); \
                 upgrade nightshift",
                redact(url),
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            tx.batch_execute(sql)?;
            tx.execute("UPDATE nightshift_schema SET version = $1", &[&(i as i64 + 1)])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Runs a statement (SQLite's text, translated once) with `params`.
    pub(crate) fn execute(&mut self, sql: &str, params: &[&dyn Param]) -> Result<u64, StoreError> {
        self.with_params(sql, params, |client, stmt, refs| client.execute(stmt, refs))
    }

    /// Runs a query (SQLite's text, translated once) with `params`.
    pub(crate) fn query(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<Vec<postgres::Row>, StoreError> {
        self.with_params(sql, params, |client, stmt, refs| client.query(stmt, refs))
    }

    /// Prepares `sql` (once per connection), binds `params` and hands both to `run`.
    fn with_params<T>(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
        run: impl FnOnce(
            &mut postgres::Client,
            &postgres::Statement,
            &[&(dyn postgres::types::ToSql + Sync)],
        ) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let stmt = self.statements.get(&mut self.client, sql)?;
        let values: Vec<_> = params.iter().map(|p| p.value()).collect();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn postgres::types::ToSql + Sync)).collect();
        Ok(run(&mut self.client, &stmt, &refs)?)
    }
}

/// Why connecting to `url` failed, and what to do: TLS failures carry their own advice.
fn connect_failure(url: &str, e: &postgres::Error) -> StoreError {
    let refused = std::error::Error::source(e).and_then(|s| s.downcast_ref::<tls::Refused>());
    let advice = match refused {
        Some(refused) => refused.to_string(),
        // The crate's words when sslmode asks for TLS and the server answers it has none.
        None if e.to_string().contains("server does not support TLS") => {
            "the server does not offer TLS, which the URL's sslmode requires; turn ssl on in \
             the server's postgresql.conf, or use sslmode=prefer on a private network"
                .to_owned()
        }
        None => format!(
            "{}; check that the server runs and the URL (--db, NIGHTSHIFT_DB or db in \
             nightshift.toml) names it",
            crate::error::pg_message(e)
        ),
    };
    StoreError::Open(format!("cannot connect to {}: {advice}", redact(url)))
}

/// Work for the connection's thread: the connection, and the context operations read.
type Task = Box<dyn FnOnce(&RefCell<Pg>, &StoreCtx) + Send>;

/// A connection on a thread of its own, running the work sent to it in order.
pub(crate) struct Link {
    tasks: mpsc::Sender<Task>,
}

impl Link {
    /// Starts the thread and connects (see [`Pg::connect`]); fails as the connection does.
    pub(crate) fn open(url: &str, create: bool, ctx: StoreCtx) -> Result<Link, StoreError> {
        let (tasks, inbox) = mpsc::channel::<Task>();
        let (ready, opened) = mpsc::channel();
        let url = url.to_owned();
        std::thread::Builder::new()
            .name("nightshift-pg".to_owned())
            .spawn(move || {
                let pg = match Pg::connect(&url, create) {
                    Ok(pg) => {
                        let _ = ready.send(Ok(()));
                        RefCell::new(pg)
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                // Ends when every sender is gone; a task in progress always finishes first.
                for task in inbox {
                    task(&pg, &ctx);
                }
            })
            .map_err(|e| StoreError::Open(format!("cannot start the database thread: {e}")))?;
        opened.recv().map_err(|_| {
            StoreError::Open("the database thread stopped while connecting".into())
        })??;
        Ok(Link { tasks })
    }

    /// Sends work to the connection's thread; false when the thread is gone.
    pub(crate) fn send(&self, task: impl FnOnce(&RefCell<Pg>, &StoreCtx) + Send + 'static) -> bool {
        self.tasks.send(Box::new(task)).is_ok()
    }

    /// Runs `f` on the connection and waits for its answer (the CLI's way, blocking).
    pub(crate) fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&RefCell<Pg>, &StoreCtx) -> R + Send + 'static,
    ) -> Result<R, StoreError> {
        let (answer, answered) = mpsc::sync_channel(1);
        if !self.send(move |pg, ctx| {
            let _ = answer.send(f(pg, ctx));
        }) {
            return Err(StoreError::Unavailable("the database connection has closed".into()));
        }
        answered
            .recv()
            .map_err(|_| StoreError::Unavailable("the database connection has closed".into()))
    }
}

/// Whether `db` names a PostgreSQL database rather than a SQLite file.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// The URL in `db` when it names a PostgreSQL database (the engine's `db` holds a path or a
/// URL).
pub(crate) fn url_of(db: &std::path::Path) -> Option<&str> {
    db.to_str().filter(|d| is_url(d))
}

/// `url` with its password (in the user part, or a `password=` parameter) replaced by `***`,
/// the only form of a database URL nightshift ever shows.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail: Vec<String> = tail
        .split('&')
        .map(|part| match part.find("password=") {
            Some(i) if i == 0 || part[..i].ends_with('?') => format!("{}password=***", &part[..i]),
            _ => part.to_owned(),
        })
        .collect();
    format!("{scheme}://{authority}{}", tail.join("&"))
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(redact("postgres://u:s3cret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("postgresql://h/db?user=u&password=s3cret&sslmode=require"),
            "postgresql://h/db?user=u&password=***&sslmode=require"
        );
        assert_eq!(redact("postgres://h/db?password=x"), "postgres://h/db?password=***");
        assert!(!redact("postgres://u:p%40ss@h/db").contains("p%40ss"));
    }
}
