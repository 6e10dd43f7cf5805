//! Runs a store test on both databases: a fresh SQLite file, then a fresh PostgreSQL database
//! (when a server is there; see `pg::scratch`). The test gets a [`Db`] inside no transaction;
//! it calls operations as the Store does (`op::run` for one in a transaction of its own).

use std::sync::Arc;

use super::StoreCtx;
use super::db::Db;
use crate::config::{EngineConfig, Synchronous};

/// Runs `test` on SQLite, then on PostgreSQL when a server is there. `setup` shapes the
/// engine's configuration (retry policy, cap, breaker) both stores' contexts are built from.
pub(crate) fn on_both(
    name: &str,
    setup: impl Fn(&mut EngineConfig),
    test: impl Fn(Db<'_>, &StoreCtx) + Send + Sync + 'static,
) {
    let test = Arc::new(test);
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path().join("t.db"));
    setup(&mut config);
    let conn = super::open::open(&config.db, Synchronous::Normal, false).unwrap();
    test(Db::Lite(&conn), &StoreCtx::from_config(&config));
    let Some(scratch) = super::pg::scratch::ScratchDb::create(name) else { return };
    let link = super::pg::Link::open(scratch.url(), true, StoreCtx::from_config(&config)).unwrap();
    let run = test.clone();
    // A panic on the connection's thread ends it: the answer never comes, and says so.
    link.run(move |pg, ctx| run(Db::Pg(pg), ctx))
        .unwrap_or_else(|e| panic!("{name} failed on PostgreSQL: {e}"));
}

#[cfg(test)]
mod tests {
    use super::on_both;
    use crate::clock::Timestamp;
    use crate::job::{Enqueued, NewJob};
    use crate::store::op::{self, EnqueueArgs, NextDueArgs};

    #[test]
    fn an_operation_runs_alike_on_both_stores() {
        on_both(
            "both::an_operation_runs_alike",
            |_| {},
            |db, ctx| {
                let now = Timestamp::from_millis(5_000);
                let job = NewJob::new("k", "{}");
                let first = op::run(db, ctx, EnqueueArgs { job: job.clone(), now }).unwrap();
                assert_eq!(first, Enqueued::Enqueued);
                assert_eq!(op::run(db, ctx, NextDueArgs).unwrap(), Some(now));
            },
        );
    }
}
