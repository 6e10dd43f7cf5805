//! The dead letter: read, replay (back to `jobs` with attempts reset, due at once) and purge.
//! Each moves or deletes rows in one transaction, so a key is never in both tables nor lost.

use super::breaker::Breaker;
use super::db::{Clauses, Db, Row, ps};
use super::op::ReplaySteps;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::{DeadFilter, DeadJob, DeadQuery, Selector};

const COLUMNS: &str = "key, queue, payload, error, attempts, died, reason, errors";

fn from_row(r: &Row<'_>) -> Result<DeadJob, StoreError> {
    let key: String = r.get(0)?;
    let errors =
        super::fail::attempt_errors(&format!("dead letter {key:?}"), &r.get::<String>(7)?)?;
    Ok(DeadJob {
        key,
        queue: r.get(1)?,
        payload: r.get(2)?,
        error: r.get(3)?,
        attempts: r.get(4)?,
        died: Timestamp::from_secs(r.get(5)?),
        reason: r.get(6)?,
        errors,
    })
}

/// One dead-lettered job.
pub(crate) fn get(db: Db<'_>, key: &str) -> Result<Option<DeadJob>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM dead_letter WHERE key = ?1");
    db.opt(&sql, ps![key], from_row)
}

/// The conditions of a [`DeadFilter`].
fn filters(filter: &DeadFilter) -> Clauses<'_> {
    let mut w = Clauses::default();
    if let Some(queue) = &filter.queue {
        w.add("queue = ?", &[queue]);
    }
    if let Some(reason) = &filter.reason {
        w.add("reason = ?", &[reason]);
    }
    w
}

/// Dead-lettered jobs that `q` filters, newest first (the key breaks ties), after the row
/// `q.after` names.
pub(crate) fn list(db: Db<'_>, q: &DeadQuery) -> Result<Vec<DeadJob>, StoreError> {
    let mut w = filters(&q.filter);
    let after = q.after.as_ref().map(|(died, key)| (died.as_secs(), key));
    if let Some((died, key)) = &after {
        w.add("died < ? OR (died = ? AND key > ?)", &[died, died, key]);
    }
    let limit = w.placeholder(&q.limit);
    let sql = format!(
        "SELECT {COLUMNS} FROM dead_letter {} ORDER BY died DESC, key LIMIT {limit}",
        w.sql()
    );
    db.query(&sql, w.params(), from_row)
}

/// Moves the selected rows back into `jobs`: pending, attempts 0, due now. Returns the keys
/// moved; keys not in the dead letter are skipped (reported by their absence).
pub(crate) fn replay(
    db: Db<'_>,
    which: &Selector,
    steps: ReplaySteps,
    now: Timestamp,
) -> Result<Vec<String>, StoreError> {
    let keys = revive(db, which, now)?;
    if steps == ReplaySteps::Forget {
        for key in &keys {
            super::steps::forget(db, key)?;
        }
    }
    if !keys.is_empty() {
        // A replay is an operator saying the cause is fixed: failures counted before the fix
        // must not open (or keep open) the breaker on the replayed jobs' first new failure,
        // the global one nor those of the limits they count against.
        Breaker::Global.reset(db)?;
        let mut limits = std::collections::BTreeSet::new();
        for key in &keys {
            let name: Option<Option<String>> =
                db.opt("SELECT limit_name FROM jobs WHERE key = ?1", ps![key], |r| r.get(0))?;
            limits.extend(name.flatten());
        }
        for name in limits {
            super::limits::close_breaker(db, &name, now)?;
        }
        db.notify()?;
    }
    Ok(keys)
}

/// The rows moving part of [`replay`].
fn revive(db: Db<'_>, which: &Selector, now: Timestamp) -> Result<Vec<String>, StoreError> {
    let keys = selected(db, which)?;
    for key in &keys {
        db.exec(
            "INSERT INTO jobs (key, queue, payload, status, attempts, max_attempts, priority, run_at,
                               timeout_ms, created_at, updated_at, limit_name)
             SELECT key, queue, payload, 'pending', 0, max_attempts, priority, ?2, timeout_ms, ?2, ?2,
                    limit_name
             FROM dead_letter WHERE key = ?1",
            ps![key, now],
        )?;
        db.exec("DELETE FROM dead_letter WHERE key = ?1", ps![key])?;
    }
    Ok(keys)
}

/// Deletes the selected rows for good. Returns the keys deleted.
pub(crate) fn purge(db: Db<'_>, which: &Selector) -> Result<Vec<String>, StoreError> {
    let keys = selected(db, which)?;
    for key in &keys {
        db.exec("DELETE FROM dead_letter WHERE key = ?1", ps![key])?;
        super::steps::forget(db, key)?;
    }
    Ok(keys)
}

fn selected(db: Db<'_>, which: &Selector) -> Result<Vec<String>, StoreError> {
    match which {
        Selector::All => {
            db.query("SELECT key FROM dead_letter ORDER BY died, key", ps![], |r| r.get(0))
        }
        Selector::Matching(filter) => {
            let w = filters(filter);
            let sql = format!("SELECT key FROM dead_letter {} ORDER BY died, key", w.sql());
            db.query(&sql, w.params(), |r| r.get(0))
        }
        Selector::Keys(keys) => {
            let mut found = Vec::with_capacity(keys.len());
            for key in keys {
                let exists = db.exists("SELECT 1 FROM dead_letter WHERE key = ?1", ps![key])?;
                if exists && !found.contains(key) {
                    found.push(key.clone());
                }
            }
            Ok(found)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Synchronous;
    use crate::job::DeadReason;
    use crate::store::both::on_both;
    use crate::store::op::{self, PurgeDeadArgs, ReplayArgs};
    use crate::store::retention::tests::keys;

    fn bury(db: Db<'_>, key: &str, reason: &str, died_secs: i64) {
        db.exec(
            "INSERT INTO dead_letter (key, queue, payload, error, attempts, max_attempts, died,
                                      errors, reason)
             VALUES (?1, 'default', '{}', 'boom', 1, 1, ?2, '[]', ?3)",
            ps![key, died_secs, reason],
        )
        .unwrap();
    }

    fn page(limit: u32) -> DeadQuery {
        DeadQuery { limit, ..DeadQuery::default() }
    }

    fn sel(keys: &[&str]) -> Selector {
        Selector::Keys(keys.iter().map(|k| k.to_string()).collect())
    }

    #[test]
    fn every_reason_is_stored_as_its_word_and_read_back() {
        on_both(
            "dead::reasons",
            |_| {},
            |db, _| {
                for reason in DeadReason::ALL {
                    bury(db, reason.as_str(), reason.as_str(), 0);
                    let word: String = db
                        .value(
                            "SELECT reason FROM dead_letter WHERE key = ?1",
                            ps![reason.as_str()],
                        )
                        .unwrap();
                    assert_eq!(word, reason.as_str());
                    assert_eq!(get(db, reason.as_str()).unwrap().unwrap().reason, reason);
                }
            },
        );
    }

    #[test]
    fn an_unknown_reason_is_refused_naming_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            super::super::open::open(&dir.path().join("t.db"), Synchronous::Full, false).unwrap();
        // Only a foreign writer gets past the column's CHECK.
        conn.pragma_update(None, "ignore_check_constraints", true).unwrap();
        bury(Db::Lite(&conn), "k", "eaten", 0);
        let refused = get((&conn).into(), "k").unwrap_err().to_string();
        assert!(refused.contains("unknown dead-letter reason \"eaten\""), "{refused}");
        assert!(refused.contains("exhausted, permanent, crashed"), "{refused}");
    }

    #[test]
    fn listed_newest_first_and_read_whole() {
        on_both(
            "dead::list",
            |_| {},
            |db, _| {
                bury(db, "b", "exhausted", 20);
                bury(db, "a", "permanent", 20);
                bury(db, "old", "crashed", 10);
                let listed: Vec<String> =
                    list(db, &page(10)).unwrap().into_iter().map(|d| d.key).collect();
                assert_eq!(listed, ["a", "b", "old"]);
                assert_eq!(list(db, &page(1)).unwrap().len(), 1);
                let old = get(db, "old").unwrap().unwrap();
                assert_eq!((old.died, old.reason), (Timestamp::from_secs(10), DeadReason::Crashed));
                assert!(get(db, "nobody").unwrap().is_none());
            },
        );
    }

    #[test]
    fn revived_by_keys_or_all_back_to_pending_and_out_of_the_dead_letter() {
        on_both(
            "dead::revive",
            |_| {},
            |db, _| {
                let now = Timestamp::from_millis(7_000);
                for (key, died) in [("x", 3), ("y", 1), ("z", 2)] {
                    bury(db, key, "exhausted", died);
                }
                // Duplicates and keys not buried are skipped.
                assert_eq!(revive(db, &sel(&["y", "nobody", "y"]), now).unwrap(), ["y"]);
                let row: (String, u32, Timestamp) = db
                    .one("SELECT status, attempts, run_at FROM jobs WHERE key = 'y'", ps![], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .unwrap();
                assert_eq!(row, ("pending".to_owned(), 0, now));
                // All, the oldest death first.
                assert_eq!(revive(db, &Selector::All, now).unwrap(), ["z", "x"]);
                assert!(keys(db, "SELECT key FROM dead_letter").is_empty());
                assert_eq!(keys(db, "SELECT key FROM jobs ORDER BY key"), ["x", "y", "z"]);
                assert!(revive(db, &Selector::All, now).unwrap().is_empty());
            },
        );
    }

    #[test]
    fn purged_by_keys_or_all_for_good() {
        on_both(
            "dead::purge",
            |_| {},
            |db, ctx| {
                for (key, died) in [("x", 3), ("y", 1), ("z", 2)] {
                    bury(db, key, "exhausted", died);
                }
                let which = sel(&["x", "x", "nobody"]);
                assert_eq!(op::run(db, ctx, PurgeDeadArgs { which }).unwrap(), ["x"]);
                assert_eq!(keys(db, "SELECT key FROM dead_letter ORDER BY key"), ["y", "z"]);
                let all = op::run(db, ctx, PurgeDeadArgs { which: Selector::All }).unwrap();
                assert_eq!(all, ["y", "z"]);
                assert!(keys(db, "SELECT key FROM dead_letter").is_empty());
                assert!(keys(db, "SELECT key FROM jobs").is_empty());
            },
        );
    }

    #[test]
    fn filtered_by_queue_and_reason_and_paged_after_a_row() {
        on_both(
            "dead::filter",
            |_| {},
            |db, ctx| {
                for (key, reason, died) in [
                    ("a", "crashed", 3),
                    ("b", "crashed", 3),
                    ("c", "permanent", 2),
                    ("d", "crashed", 1),
                ] {
                    bury(db, key, reason, died);
                }
                db.exec("UPDATE dead_letter SET queue = 'mail' WHERE key != 'b'", ps![]).unwrap();
                let crashed = DeadFilter {
                    queue: Some("mail".to_owned()),
                    reason: Some(DeadReason::Crashed),
                };
                let first = DeadQuery { filter: crashed.clone(), after: None, limit: 1 };
                let listed = list(db, &first).unwrap();
                assert_eq!(listed.iter().map(|d| &d.key).collect::<Vec<_>>(), ["a"]);
                let rest = DeadQuery { after: first.next(&listed), limit: 5, ..first.clone() };
                let listed = list(db, &rest).unwrap();
                assert_eq!(listed.iter().map(|d| &d.key).collect::<Vec<_>>(), ["d"]);
                assert_eq!(rest.next(&listed), None);
                let which = Selector::Matching(crashed);
                assert_eq!(op::run(db, ctx, PurgeDeadArgs { which }).unwrap(), ["d", "a"]);
                assert_eq!(keys(db, "SELECT key FROM dead_letter ORDER BY key"), ["b", "c"]);
            },
        );
    }

    #[test]
    fn a_replay_closes_the_breaker() {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            super::super::open::open(&dir.path().join("t.db"), Synchronous::Full, false).unwrap();
        let ctx = crate::store::StoreCtx::from_config(&crate::config::EngineConfig::new(
            dir.path().join("t.db"),
        ));
        let db = Db::Lite(&conn);
        bury(db, "k", "exhausted", 0);
        db.exec("UPDATE control SET breaker_failures = 3 WHERE id = 1", ps![]).unwrap();
        let now = Timestamp::from_millis(1_000);
        let replayed =
            op::run(db, &ctx, ReplayArgs { which: sel(&["k"]), now, steps: ReplaySteps::Keep })
                .unwrap();
        assert_eq!(replayed, ["k"]);
        let failures: u32 =
            db.value("SELECT breaker_failures FROM control WHERE id = 1", ps![]).unwrap();
        assert_eq!(failures, 0);
    }
}
