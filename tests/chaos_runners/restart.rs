//! The PostgreSQL server restarted under a running runner, then crashed: on a cluster of the
//! test's own (`util::pg_cluster`), never the shared server other tests use.
//!
//! What a runner does: its Store finds the connection closed within a watch tick and starts
//! again at once, while the server is still going down or not yet up; that connect fails, and
//! the Supervisor tries again with backoff (`store_reconnecting`) until the server is back, the
//! tree up meanwhile. The runner goes on working the queue: it must not exit.

use std::time::Instant;

use super::{CONFIG, check, enqueue_mix, finish, rescued, working};
use crate::util::checker::History;
use crate::util::cli::Workdir;
use crate::util::pg_cluster::{PgCluster, Stop};

#[test]
fn a_postgres_server_restarted_and_crashed_mid_run_loses_no_outcome() {
    let name = "chaos_runners::postgres_restart";
    let Some(cluster) = PgCluster::start(name) else { return };
    let w = Workdir::postgres_at(&cluster.create_database("nightshift"));
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", CONFIG);
    let agent = check::agent(&w);
    let mut history = History::default();
    enqueue_mix(&w, &mut history, 0..36);
    let log = "runner.log";
    let mut runner = w.spawn_logged(&["run", "--workers", "2", "--", &agent], log);
    let read_log = || std::fs::read_to_string(w.path().join(log)).unwrap_or_default();
    // A planned restart, then a crash (every backend killed without a goodbye), each while
    // handlers run and the runner holds leases.
    let mut restarts = Vec::new();
    for (round, stop) in [Stop::Fast, Stop::Immediate].into_iter().enumerate() {
        assert!(working(&w, &mut runner), "round {round}: the runner exited:\n{}", read_log());
        let down = Instant::now();
        cluster.restart(stop);
        restarts.push((stop, down.elapsed()));
        // Jobs enqueued after the restart must be picked up too.
        enqueue_mix(&w, &mut history, 100 * (round + 1)..100 * (round + 1) + 4);
    }
    let exited = finish(&w, &mut runner, log, &agent);
    assert!(exited.is_none(), "the runner gave up on its database:\n{}", read_log());
    let (done, dead) = check::check(&w, &history);
    assert_eq!((done, dead), (history.acked.len(), 0), "every job done");
    eprintln!(
        "{name}: pg_ctl restarts {restarts:?}; {} tries to reconnect; {} jobs, {} rescued after \
         a lease expired",
        read_log().matches("store_reconnecting").count(),
        history.acked.len(),
        rescued(&w)
    );
}
