//! The runners working a PostgreSQL database: each writes its row when it starts, keeps its
//! heartbeat fresh at every lease sweep, and removes it when it stops. `status` counts a runner
//! alive while its heartbeat is younger than the lease. On SQLite the lock file says the same
//! thing (one runner at most), so these operations do nothing there.

use super::db::{Db, ps};
use crate::clock::Timestamp;
use crate::error::StoreError;

/// A runner, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerRow {
    /// The runner's instance id (also the `lease_owner` of the jobs it holds).
    pub instance: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// When it started.
    pub started_at: Timestamp,
    /// Its last heartbeat.
    pub heartbeat_at: Timestamp,
}

/// Writes or refreshes this runner's row.
pub(crate) fn beat(db: Db<'_>, me: &RunnerRow) -> Result<(), StoreError> {
    if !db.is_pg() {
        return Ok(());
    }
    db.exec(
        "INSERT INTO runners (instance, host, pid, started_at, heartbeat_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (instance) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
        ps![me.instance, me.host, me.pid, me.started_at, me.heartbeat_at],
    )?;
    Ok(())
}

/// Removes this runner's row: it stopped.
pub(crate) fn gone(db: Db<'_>, instance: &str) -> Result<(), StoreError> {
    if db.is_pg() {
        db.exec("DELETE FROM runners WHERE instance = ?1", ps![instance])?;
    }
    Ok(())
}

/// The runners whose heartbeat is at or after `since`, oldest first.
pub(crate) fn alive(db: Db<'_>, since: Timestamp) -> Result<Vec<RunnerRow>, StoreError> {
    if !db.is_pg() {
        return Ok(Vec::new());
    }
    db.query(
        "SELECT instance, host, pid, started_at, heartbeat_at FROM runners
         WHERE heartbeat_at >= ?1 ORDER BY started_at, instance",
        ps![since],
        |r| {
            Ok(RunnerRow {
                instance: r.get(0)?,
                host: r.get(1)?,
                pid: r.get(2)?,
                started_at: r.get(3)?,
                heartbeat_at: r.get(4)?,
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::both::on_both;

    #[test]
    fn a_runner_is_alive_while_its_heartbeat_is_fresh_and_gone_once_removed() {
        on_both(
            "runners::alive",
            |_| {},
            |db, _| {
                let at = Timestamp::from_millis;
                let mut me = RunnerRow {
                    instance: "ns-1".into(),
                    host: "h".into(),
                    pid: 7,
                    started_at: at(1_000),
                    heartbeat_at: at(1_000),
                };
                beat(db, &me).unwrap();
                if !db.is_pg() {
                    assert_eq!(alive(db, at(0)).unwrap(), vec![], "SQLite keeps no rows");
                    return;
                }
                assert_eq!(alive(db, at(500)).unwrap(), vec![me.clone()]);
                assert_eq!(alive(db, at(1_001)).unwrap(), vec![], "stale: no heartbeat since");
                me.heartbeat_at = at(5_000);
                beat(db, &me).unwrap();
                let seen = alive(db, at(4_000)).unwrap();
                assert_eq!(seen[0].started_at, at(1_000), "a heartbeat keeps the start");
                assert_eq!(seen[0].heartbeat_at, at(5_000));
                gone(db, "ns-1").unwrap();
                assert_eq!(alive(db, at(0)).unwrap(), vec![]);
            },
        );
    }
}
