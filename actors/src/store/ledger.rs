//! The spend ledger: one row per attempt that cost something or reported a model's usage, with
//! its job's queue, and the reads `spend` makes of it (per day in `read.rs`, per model or queue
//! here).

use super::db::{Db, ps};
use crate::clock::{Timestamp, utc_day};
use crate::error::StoreError;
use crate::job::{GroupSpend, SpendBy, Usage};

/// What an attempt is charged: its cost, and what it used of a model if the handler said.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Charge {
    /// Micro-dollars.
    pub(crate) micros: i64,
    pub(crate) usage: Option<Usage>,
}

impl Charge {
    /// A cost alone.
    #[cfg(test)]
    pub(crate) fn micros(micros: i64) -> Self {
        Self { micros, usage: None }
    }
}

/// Records attempt `attempt` of `key`'s charge, under its job's queue (read from `jobs`, so the
/// job must still be there). Nothing for an attempt that cost nothing and reported no usage.
pub(crate) fn record(
    db: Db<'_>,
    key: &str,
    attempt: u32,
    charge: &Charge,
    now: Timestamp,
) -> Result<(), StoreError> {
    let usage = charge.usage.as_ref().filter(|u| !u.is_empty());
    if charge.micros <= 0 && usage.is_none() {
        return Ok(());
    }
    let tokens = |n: Option<u64>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let model = usage.and_then(|u| u.model.as_deref());
    let tokens_in = tokens(usage.and_then(|u| u.tokens_in));
    let tokens_out = tokens(usage.and_then(|u| u.tokens_out));
    db.exec(
        "INSERT INTO spend (day, key, attempt, micros, at, queue, model, tokens_in, tokens_out,
                            limit_name)
         VALUES (?1, ?2, ?3, ?4, ?5, (SELECT queue FROM jobs WHERE key = ?2), ?6, ?7, ?8,
                 (SELECT limit_name FROM jobs WHERE key = ?2))",
        ps![utc_day(now), key, attempt, charge.micros.max(0), now, model, tokens_in, tokens_out],
    )?;
    Ok(())
}

/// The ledger of the `days` UTC days up to `now`'s, per model or per queue, the costliest
/// first. Sums saturate at `i64::MAX`, as the daily sums do.
pub(crate) fn by(
    db: Db<'_>,
    by: SpendBy,
    days: u32,
    now: Timestamp,
) -> Result<Vec<GroupSpend>, StoreError> {
    let back = std::time::Duration::from_secs(86_400) * days.saturating_sub(1);
    let since = utc_day(now - back);
    let column = by.column();
    // SQLite's total() is a float, which CAST saturates; PostgreSQL's sum() is numeric, which
    // a CAST past bigint's range refuses: saturate first.
    let sum = |c: &str| match db.is_pg() {
        true => format!("CAST(LEAST(coalesce(sum({c}), 0), 9223372036854775807) AS BIGINT)"),
        false => format!("CAST(total({c}) AS INTEGER)"),
    };
    let sql = format!(
        "SELECT {column}, {}, count(*), {}, {} FROM spend WHERE day >= ?1
         GROUP BY {column} ORDER BY 2 DESC, 1",
        sum("micros"),
        sum("tokens_in"),
        sum("tokens_out")
    );
    db.query(&sql, ps![since], |r| {
        Ok(GroupSpend {
            name: r.get(0)?,
            micros: r.get(1)?,
            attempts: r.get(2)?,
            tokens_in: r.get(3)?,
            tokens_out: r.get(4)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::both::on_both;

    fn row(name: Option<&str>, micros: i64, attempts: u64, tokens: (i64, i64)) -> GroupSpend {
        let name = name.map(str::to_owned);
        GroupSpend { name, micros, attempts, tokens_in: tokens.0, tokens_out: tokens.1 }
    }

    #[test]
    fn the_ledger_groups_cost_and_tokens_by_model_and_queue() {
        on_both(
            "ledger::by",
            |_| {},
            |db, _| {
                let at = Timestamp::from_millis(1_700_000_000_000);
                for (key, queue) in [("a", "mail"), ("b", "triage")] {
                    db.exec(
                        "INSERT INTO jobs (key, queue, payload, status, max_attempts, run_at,
                                       created_at, updated_at)
                     VALUES (?1, ?2, '{}', 'pending', 3, 0, 0, 0)",
                        ps![key, queue],
                    )
                    .unwrap();
                }
                let used = |m: &str, i, o| Some(Usage::model(m).tokens(i, o));
                record(db, "a", 1, &Charge { micros: 300, usage: used("big", 100, 10) }, at)
                    .unwrap();
                record(db, "a", 2, &Charge { micros: 100, usage: used("small", 5, 1) }, at)
                    .unwrap();
                record(db, "b", 1, &Charge { micros: 200, usage: used("big", 50, 5) }, at).unwrap();
                record(db, "b", 2, &Charge::micros(7), at).unwrap();
                record(db, "b", 3, &Charge::default(), at).unwrap();
                assert_eq!(
                    by(db, SpendBy::Model, 1, at).unwrap(),
                    [
                        row(Some("big"), 500, 2, (150, 15)),
                        row(Some("small"), 100, 1, (5, 1)),
                        row(None, 7, 1, (0, 0))
                    ]
                );
                assert_eq!(
                    by(db, SpendBy::Queue, 1, at).unwrap(),
                    [row(Some("mail"), 400, 2, (105, 11)), row(Some("triage"), 207, 2, (50, 5))]
                );
            },
        );
    }
}
