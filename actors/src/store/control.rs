//! The `control` row's kill switch (pause) and the cap the runner records at start; the
//! breaker's state beside them is `gates`'.

use super::db::{Db, ps};
use crate::clock::Timestamp;
use crate::error::StoreError;

/// Turns the kill switch on (with a reason) or off. Returns whether it changed. One statement
/// that decides and writes, so it needs no lock of the row on PostgreSQL either.
pub(crate) fn set_paused(
    db: Db<'_>,
    paused: bool,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let changed = db.exec(
        "UPDATE control SET paused = ?1, pause_reason = ?2, paused_at = ?3
         WHERE id = 1 AND paused != ?1",
        ps![paused, reason.filter(|_| paused), paused.then_some(now)],
    )?;
    if changed == 1 {
        db.notify()?;
    }
    Ok(changed == 1)
}

/// Records the daily cap a starting runner holds claims to (`None`: no cap), and where it came
/// from, for every other process to read as the cap in force.
pub(crate) fn record_cap(
    db: Db<'_>,
    cap_micros: Option<i64>,
    set_by: Option<&str>,
    now: Timestamp,
) -> Result<(), StoreError> {
    // Written only when it changed: a runner started by cron every few minutes with the same
    // cap then commits nothing here, and an unchanged commit costs no sync to disk.
    db.exec(
        db.pick(
            "UPDATE control SET cap_micros = ?1, cap_set_by = ?2, cap_recorded_at = ?3
             WHERE id = 1
               AND (cap_recorded_at IS NULL OR cap_micros IS NOT ?1 OR cap_set_by IS NOT ?2)",
            // PostgreSQL's `IS NOT` takes only NULL or a truth value.
            "UPDATE control SET cap_micros = ?1, cap_set_by = ?2, cap_recorded_at = ?3
             WHERE id = 1
               AND (cap_recorded_at IS NULL OR cap_micros IS DISTINCT FROM ?1
                    OR cap_set_by IS DISTINCT FROM ?2)",
        ),
        ps![cap_micros, set_by, now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{record_cap, set_paused};
    use crate::clock::Timestamp;
    use crate::store::both::on_both;
    use crate::store::db::{Db, ps};
    use crate::store::op::{self, PauseStateArgs};

    type CapRow = (Option<i64>, Option<String>, Option<Timestamp>);

    fn cap_row(db: Db<'_>) -> CapRow {
        db.one("SELECT cap_micros, cap_set_by, cap_recorded_at FROM control", ps![], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap()
    }

    #[test]
    fn a_cap_is_written_only_when_it_changed() {
        on_both(
            "control::cap_written_only_when_changed",
            |_| {},
            |db, _| {
                let at = Timestamp::from_millis;
                let changes = || match db {
                    Db::Lite(c) => c.total_changes(),
                    Db::Pg(_) => 0,
                };
                record_cap(db, None, None, at(1)).unwrap();
                assert_eq!(cap_row(db), (None, None, Some(at(1))), "no cap is recorded too");
                let before = changes();
                record_cap(db, None, None, at(2)).unwrap();
                assert_eq!(cap_row(db), (None, None, Some(at(1))), "the same cap again");
                assert_eq!(changes(), before, "the same cap again writes nothing");
                record_cap(db, Some(5), Some("DAILY_CAP_USD"), at(3)).unwrap();
                assert_eq!(cap_row(db), (Some(5), Some("DAILY_CAP_USD".to_owned()), Some(at(3))));
                record_cap(db, Some(5), Some("DAILY_CAP_USD"), at(4)).unwrap();
                assert_eq!(cap_row(db).2, Some(at(3)), "the same cap and source again");
                record_cap(db, Some(5), Some("--daily-cap"), at(5)).unwrap();
                let row = cap_row(db);
                assert_eq!(
                    row,
                    (Some(5), Some("--daily-cap".to_owned()), Some(at(5))),
                    "new source"
                );
                record_cap(db, None, Some("--daily-cap"), at(6)).unwrap();
                assert_eq!(
                    cap_row(db),
                    (None, Some("--daily-cap".to_owned()), Some(at(6))),
                    "lifted"
                );
            },
        );
    }

    #[test]
    fn the_kill_switch_is_set_once_and_read_back() {
        on_both(
            "control::kill_switch",
            |_| {},
            |db, ctx| {
                let now = Timestamp::from_millis(7);
                let state = || op::run(db, ctx, PauseStateArgs).unwrap();
                assert_eq!(state(), (false, None));
                assert!(set_paused(db, true, Some("deploy"), now).unwrap());
                assert!(!set_paused(db, true, Some("again"), now).unwrap(), "already paused");
                assert_eq!(state(), (true, Some("deploy".to_owned())));
                let at: Option<Timestamp> =
                    db.value("SELECT paused_at FROM control WHERE id = 1", ps![]).unwrap();
                assert_eq!(at, Some(now));
                assert!(set_paused(db, false, Some("ignored"), now).unwrap());
                assert_eq!(state(), (false, None), "resuming clears the reason");
                assert!(!set_paused(db, false, None, now).unwrap());
            },
        );
    }
}
