//! The yardstick on PostgreSQL: the same lifecycle with the raw synchronous `postgres` client
//! (the one the engine's Store drives on its own thread), on a connection of its own.

use postgres::types::ToSql;
use postgres::{Client, Statement};

use super::{BATCH, COMPLETE, DONE, INSERT, LEASE, LEASE_MS, Lifecycle, Tokens, timed};
use crate::Failure;

/// Seconds for the whole lifecycle of `jobs` jobs in the scratch database `client` is
/// connected to, whose schema nightshift created.
pub(in super::super) fn lifecycle(mut client: Client, jobs: usize) -> Result<f64, Failure> {
    let prepare = |client: &mut Client, sql: &str| client.prepare(sql).map_err(super::failed);
    let claim = "SELECT key, queue, payload, attempts, max_attempts, timeout_ms
                 FROM jobs
                 WHERE status = 'pending' AND run_at <= $1
                 ORDER BY priority DESC, run_at, seq LIMIT $2
                 FOR UPDATE SKIP LOCKED";
    // Prepared once, as the engine's Store keeps its statements.
    let mut db = Pg {
        insert: prepare(&mut client, &numbered(INSERT))?,
        claim: prepare(&mut client, claim)?,
        lease: prepare(&mut client, &numbered(LEASE))?,
        complete: prepare(&mut client, &numbered(COMPLETE))?,
        client,
    };
    timed(&mut db, jobs, "raw postgres")
}

struct Pg {
    client: Client,
    insert: Statement,
    claim: Statement,
    lease: Statement,
    complete: Statement,
}

/// `sql` with PostgreSQL's placeholders.
fn numbered(sql: &str) -> String {
    sql.replace('?', "$")
}

impl Lifecycle for Pg {
    type Error = postgres::Error;

    fn insert(&mut self, keys: &[String], now: i64) -> Result<(), postgres::Error> {
        let mut tx = self.client.transaction()?;
        for key in keys {
            let (queue, payload, max_attempts, priority) = ("default", "{}", 4i64, 0i64);
            let timeout: Option<i64> = None;
            let params: [&(dyn ToSql + Sync); 8] =
                [key, &queue, &payload, &max_attempts, &priority, &now, &timeout, &now];
            tx.execute(&self.insert, &params)?;
        }
        tx.commit()
    }

    fn claim(
        &mut self,
        now: i64,
        tokens: &mut Tokens,
    ) -> Result<Vec<(String, String)>, postgres::Error> {
        let mut tx = self.client.transaction()?;
        let rows = tx.query(&self.claim, &[&now, &(BATCH as i64)])?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            // Every column read, as the engine reads them to hand the job to its handler.
            let _job: (String, String, i64, i64, Option<i64>) =
                (row.get(1), row.get(2), row.get(3), row.get(4), row.get(5));
            let key: String = row.get(0);
            let token = tokens.next();
            let expires = now + LEASE_MS;
            let params: [&(dyn ToSql + Sync); 5] = [&key, &token, &"raw", &expires, &now];
            tx.execute(&self.lease, &params)?;
            claimed.push((key, token));
        }
        tx.commit()?;
        Ok(claimed)
    }

    fn complete(&mut self, claimed: &[(String, String)], now: i64) -> Result<(), postgres::Error> {
        let mut tx = self.client.transaction()?;
        let result: Option<String> = None;
        for (key, token) in claimed {
            let params: [&(dyn ToSql + Sync); 4] = [key, token, &result, &now];
            tx.execute(&self.complete, &params)?;
        }
        tx.commit()
    }

    fn done(&mut self) -> Result<i64, postgres::Error> {
        Ok(self.client.query_one(DONE, &[])?.get(0))
    }
}
