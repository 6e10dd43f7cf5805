//! One SQL surface over both databases, so each Store operation is written once. An operation
//! takes a [`Db`] (SQLite's connection, or the PostgreSQL connection of `store/pg.rs`) and runs
//! its statements through [`Db::exec`], [`Db::query`] and friends, with parameters as
//! [`Param`]s and columns read as [`Col`]s. Statements are written with SQLite's numbered
//! placeholders (`?1`); for PostgreSQL they become `$1` once, when first prepared, and each
//! connection keeps its prepared statements (rusqlite's cache on SQLite, a map on PostgreSQL).
//! Where the two dialects differ (an index hint, `FOR UPDATE SKIP LOCKED`, insertion order),
//! the operation chooses with [`Db::pick`]; everything else is the same text on both.
//!
//! Values cross as integers, text or NULL only: PostgreSQL's columns are all `bigint` or
//! `text` (payloads byte for byte), so one conversion serves every column on both.

use std::cell::RefCell;
use std::collections::HashMap;

use rusqlite::Connection;

use crate::error::StoreError;

mod clauses;
mod values;

pub(crate) use clauses::Clauses;

/// The connection an operation runs on, inside the caller's transaction for a write.
#[derive(Clone, Copy)]
pub(crate) enum Db<'c> {
    Lite(&'c Connection),
    Pg(&'c RefCell<super::pg::Pg>),
}

/// SQLite's connection as a [`Db`], for a caller still holding a `&Connection`.
impl<'c> From<&'c Connection> for Db<'c> {
    fn from(conn: &'c Connection) -> Self {
        Db::Lite(conn)
    }
}

/// A parameter as both databases take it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Int(i64),
    Text(&'a str),
    Null,
}

/// A Rust value that binds as a parameter.
pub(crate) trait Param {
    fn value(&self) -> Value<'_>;
}

/// Parameters for a statement: `ps![a, b]` is `&[&a, &b]` as `&[&dyn Param]`.
macro_rules! ps {
    () => { &[] as &[&dyn $crate::store::db::Param] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::store::db::Param),+] };
}
pub(crate) use ps;

/// A row being read.
pub(crate) enum Row<'r> {
    Lite(&'r rusqlite::Row<'r>),
    Pg(&'r postgres::Row),
}

impl Row<'_> {
    /// Column `i` (from 0) as `T`.
    pub(crate) fn get<T: Col>(&self, i: usize) -> Result<T, StoreError> {
        T::read(self, i)
    }
}

/// A Rust value a column reads into.
pub(crate) trait Col: Sized {
    fn read(row: &Row<'_>, i: usize) -> Result<Self, StoreError>;
}

impl<'c> Db<'c> {
    /// SQLite's connection, for a test's own SQL (`Op::Probe`).
    #[cfg(test)]
    pub(crate) fn lite(&self) -> Result<&'c Connection, StoreError> {
        match self {
            Db::Lite(c) => Ok(c),
            Db::Pg(_) => Err(StoreError::InvalidValue(
                "this operation is not available on PostgreSQL".to_owned(),
            )),
        }
    }

    /// Whether this is PostgreSQL.
    pub(crate) fn is_pg(&self) -> bool {
        matches!(self, Db::Pg(_))
    }

    /// The statement for this dialect, where the two differ.
    pub(crate) fn pick(&self, lite: &'static str, pg: &'static str) -> &'static str {
        if self.is_pg() { pg } else { lite }
    }

    /// Runs a statement; the number of rows it changed.
    pub(crate) fn exec(&self, sql: &str, params: &[&dyn Param]) -> Result<u64, StoreError> {
        match self {
            Db::Lite(c) => Ok(c.prepare_cached(sql)?.execute(lite_params(params))? as u64),
            Db::Pg(pg) => pg.borrow_mut().execute(sql, params),
        }
    }

    /// Every row of a query, each read by `f`.
    pub(crate) fn query<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        match self {
            Db::Lite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(lite_params(params))?;
                while let Some(r) = rows.next()? {
                    out.push(f(&Row::Lite(r))?);
                }
            }
            Db::Pg(pg) => {
                for r in pg.borrow_mut().query(sql, params)? {
                    out.push(f(&Row::Pg(&r))?);
                }
            }
        }
        Ok(out)
    }

    /// The first row of a query, read by `f`, if there is one.
    pub(crate) fn opt<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        match self {
            Db::Lite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(lite_params(params))?;
                match rows.next()? {
                    Some(r) => f(&Row::Lite(r)).map(Some),
                    None => Ok(None),
                }
            }
            Db::Pg(pg) => {
                let rows = pg.borrow_mut().query(sql, params)?;
                rows.first().map(|r| f(&Row::Pg(r))).transpose()
            }
        }
    }

    /// The one row a query must return, read by `f`.
    pub(crate) fn one<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.opt(sql, params, f)?.ok_or_else(|| {
            StoreError::Inconsistent(format!("no row where one was expected: {}", first_line(sql)))
        })
    }

    /// The first column of the one row a query must return.
    pub(crate) fn value<T: Col>(&self, sql: &str, params: &[&dyn Param]) -> Result<T, StoreError> {
        self.one(sql, params, |r| r.get(0))
    }

    /// Whether a query returns any row.
    pub(crate) fn exists(&self, sql: &str, params: &[&dyn Param]) -> Result<bool, StoreError> {
        Ok(self.opt(sql, params, |_| Ok(()))?.is_some())
    }

    /// Tells the other runners of a PostgreSQL database that work came (an enqueue, a replay,
    /// a resume): delivered when this transaction commits, once however often it is called
    /// in it. Nothing on SQLite, whose runner sees any other process's commit by itself.
    pub(crate) fn notify(&self) -> Result<(), StoreError> {
        if self.is_pg() {
            self.exec(concat!("NOTIFY ", "nightshift"), &[])?;
        }
        Ok(())
    }

    /// Runs statements with no parameters, uncached (transaction control, a migration).
    pub(crate) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        match self {
            Db::Lite(c) => Ok(c.execute_batch(sql)?),
            Db::Pg(pg) => Ok(pg.borrow_mut().client.batch_execute(sql)?),
        }
    }
}

fn first_line(sql: &str) -> &str {
    sql.trim().lines().next().unwrap_or_default()
}

fn lite_params<'p>(
    params: &'p [&'p dyn Param],
) -> rusqlite::ParamsFromIter<impl Iterator<Item = Value<'p>>> {
    rusqlite::params_from_iter(params.iter().map(|p| p.value()))
}

/// A statement cache keyed by the statement's SQLite text, for PostgreSQL.
#[derive(Default)]
pub(crate) struct Statements(HashMap<String, postgres::Statement>);

impl Statements {
    /// The prepared statement for `sql` (in SQLite's form), preparing it on first use.
    pub(crate) fn get(
        &mut self,
        client: &mut postgres::Client,
        sql: &str,
    ) -> Result<postgres::Statement, postgres::Error> {
        if let Some(stmt) = self.0.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = client.prepare(&dollar_placeholders(sql))?;
        self.0.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

/// `?1` as PostgreSQL's `$1`, outside quoted text.
pub(crate) fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => quoted = !quoted,
            '?' if !quoted => {
                out.push('$');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(
            dollar_placeholders("SELECT '?1' FROM t WHERE a = ?1 AND b = ?12"),
            "SELECT '?1' FROM t WHERE a = $1 AND b = $12"
        );
    }

    #[test]
    fn sqlite_reads_and_writes_through_the_one_surface() {
        let conn = Connection::open_in_memory().unwrap();
        let db = Db::Lite(&conn);
        db.batch("CREATE TABLE t (a INTEGER, b TEXT, c INTEGER)").unwrap();
        let none: Option<i64> = None;
        assert_eq!(db.exec("INSERT INTO t VALUES (?1, ?2, ?3)", ps![7u32, "x", none]).unwrap(), 1);
        let (a, b, c): (u32, String, Option<i64>) = db
            .one("SELECT a, b, c FROM t", ps![], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap();
        assert_eq!((a, b.as_str(), c), (7, "x", None));
        assert!(db.exists("SELECT 1 FROM t WHERE b = ?1", ps!["x"]).unwrap());
        assert!(
            db.opt("SELECT a FROM t WHERE b = ?1", ps!["y"], |r| r.get::<i64>(0))
                .unwrap()
                .is_none()
        );
        let negative: Result<u32, _> = db.value("SELECT -1", ps![]);
        assert!(matches!(negative, Err(StoreError::Inconsistent(_))), "{negative:?}");
    }
}
