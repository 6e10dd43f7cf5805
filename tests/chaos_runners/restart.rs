//! The PostgreSQL server restarted under a running runner, then crashed: on a cluster of the
//! test's own (`util::pg_cluster`), never the shared server other tests use.
//!
//! What a runner does: its Store finds the connection closed within a watch tick and starts
//! again at once, while the server is still going down or not yet up; that connect fails and
//! the runner exits 1 naming the server's refusal, for systemd or Fly to start it again. A
//! Store that came back in time would go on instead; both endings are accepted, as for cut
//! connections.

use std::process::ExitStatus;
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
    let start = |n: usize| {
        let log = format!("runner-{n}.log");
        (w.spawn_logged(&["run", "--workers", "2", "--", &agent], &log), log)
    };
    let (mut runner, mut log) = start(0);
    // A planned restart, then a crash (every backend killed without a goodbye), each while
    // handlers run and the runner holds leases.
    let (mut restarts, mut exits) = (Vec::new(), Vec::new());
    for (round, stop) in [Stop::Fast, Stop::Immediate].into_iter().enumerate() {
        if !working(&w, &mut runner) {
            // The last restart made it give up. It is started again as systemd or Fly would,
            // so the next fault meets a live runner too.
            let status = runner.wait().unwrap();
            assert!(round > 0, "the runner exited before any fault: {status}");
            exits.push(gave_up(&w, &log, status));
            (runner, log) = start(round);
            assert!(working(&w, &mut runner), "the runner started after {status} works");
        }
        let down = Instant::now();
        cluster.restart(stop);
        restarts.push((stop, down.elapsed()));
        // Jobs enqueued after the restart must be picked up too.
        enqueue_mix(&w, &mut history, 100 * (round + 1)..100 * (round + 1) + 4);
    }
    if let Some(status) = finish(&w, &mut runner, &log, &agent) {
        exits.push(gave_up(&w, &log, status));
    }
    let (done, dead) = check::check(&w, &history);
    assert_eq!((done, dead), (history.acked.len(), 0), "every job done");
    eprintln!(
        "{name}: pg_ctl restarts {restarts:?}; runners exited with {exits:?}; {} jobs, {} \
         rescued after a lease expired",
        history.acked.len(),
        rescued(&w)
    );
}

/// A runner that exited after a restart: non-zero, saying that its Store could not connect
/// and what the server answered (not the client's bare "db error"). Its exit code.
fn gave_up(w: &Workdir, log: &str, status: ExitStatus) -> i32 {
    assert!(!status.success(), "a runner that lost its database exited 0");
    let text = std::fs::read_to_string(w.path().join(log)).unwrap();
    let why = text.lines().last().unwrap_or_default();
    assert!(
        why.contains("could not restart Store: cannot connect to") && !why.contains("db error"),
        "{why}"
    );
    status.code().unwrap_or(-1)
}
