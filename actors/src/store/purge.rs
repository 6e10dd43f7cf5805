//! Purge from `jobs`: deletes pending and finished rows for good, so their keys can be enqueued
//! afresh. A running row is refused (its worker holds a lease and will settle it); dead letters
//! are `dead::purge`'s.

use super::db::{Db, ps};

use crate::error::StoreError;
use crate::job::{JobStatus, PurgedJobs};

/// Deletes the rows of `keys` that are not running, in one transaction with the checks, so a
/// job a runner claims meanwhile is either refused here or never claimed. Each key is reported
/// once, in the order given.
pub(crate) fn jobs(db: Db<'_>, keys: &[String]) -> Result<PurgedJobs, StoreError> {
    let mut out = PurgedJobs::default();
    for key in keys {
        let seen = [&out.purged, &out.running, &out.missing];
        if seen.iter().any(|list| list.contains(key)) {
            continue;
        }
        // On PostgreSQL the row stays locked to the end of the transaction, so a claim by
        // another runner waits for this purge instead of running what is being deleted.
        match locked_status(db, key)? {
            None => out.missing.push(key.clone()),
            Some(JobStatus::Running) => out.running.push(key.clone()),
            Some(
                JobStatus::Pending | JobStatus::Done | JobStatus::Waiting | JobStatus::Cancelled,
            ) => {
                db.exec("DELETE FROM jobs WHERE key = ?1", ps![key])?;
                super::steps::forget(db, key)?;
                out.purged.push(key.clone());
            }
        }
    }
    Ok(out)
}

/// A job's status, its row locked to the end of the transaction on PostgreSQL (so no other
/// runner claims or settles it meanwhile); `None` when the key is not in `jobs`.
pub(crate) fn locked_status(db: Db<'_>, key: &str) -> Result<Option<JobStatus>, StoreError> {
    let status: Option<String> = db.opt(
        db.pick(
            "SELECT status FROM jobs WHERE key = ?1",
            "SELECT status FROM jobs WHERE key = ?1 FOR UPDATE",
        ),
        ps![key],
        |r| r.get(0),
    )?;
    Ok(status.as_deref().and_then(JobStatus::parse))
}

#[cfg(test)]
mod tests {
    use crate::clock::Timestamp;
    use crate::job::PurgedJobs;
    use crate::store::both::on_both;
    use crate::store::op::{self, PurgeJobsArgs};
    use crate::store::retention::tests::{job, keys};

    #[test]
    fn pending_and_done_jobs_go_running_ones_are_refused_each_key_once() {
        on_both(
            "purge::jobs",
            |_| {},
            |db, ctx| {
                job(db, "waiting", "pending", None);
                job(db, "finished", "done", Some(Timestamp::from_millis(1)));
                job(db, "busy", "running", None);
                let keys_given = ["busy", "waiting", "nobody", "waiting", "finished", "busy"];
                let purged = op::run(
                    db,
                    ctx,
                    PurgeJobsArgs { keys: keys_given.iter().map(|k| k.to_string()).collect() },
                )
                .unwrap();
                let owned = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>();
                let expected = PurgedJobs {
                    purged: owned(&["waiting", "finished"]),
                    running: owned(&["busy"]),
                    missing: owned(&["nobody"]),
                };
                assert_eq!(purged, expected);
                assert_eq!(keys(db, "SELECT key FROM jobs"), ["busy"]);
            },
        );
    }
}
