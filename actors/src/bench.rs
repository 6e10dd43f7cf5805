//! The Store's own operations for criterion benchmarks (`benches/store_ops.rs`): a database
//! opened as the Store opens it, and enqueue, claim and settle built as the typed operations the
//! Store applies and committed through its one path (`store::op::commit`: `BEGIN IMMEDIATE`, the
//! batch applied whole and again guarded if an operation failed, COMMIT, then the answers). So a
//! figure measured here is the Store's own work on a batch, with no actor, mailbox or group
//! commit timing around it.
//!
//! Hidden from the docs and not part of the API a host program uses: it exists so a bench in
//! `benches/` (a separate crate) can reach the crate's internal operations. It never runs SQL of
//! its own and never decides anything the Store decides (gates, leases, retries).

use rusqlite::Connection;
use std::cell::Cell;
use std::path::Path;

use crate::clock::{Clock, SystemClock};
use crate::config::{EngineConfig, Synchronous};
use crate::error::StoreError;
use crate::job::{Enqueued, NewJob};
use crate::store::op::{self, Args, EnqueueAllArgs, EnqueueArgs, Reply, RoundArgs};
use crate::store::{Charge, Claim, ClaimArgs, Round, RoundOut, Settle, Settled, StoreCtx, open};

/// A database and the Store's context, applying the Store's operations one batch (one
/// transaction) at a time, as the Store does on one flush.
pub struct StoreOps {
    conn: Connection,
    ctx: StoreCtx,
    /// Who claims, for how long: the engine's defaults, owner `bench`.
    claim: ClaimArgs,
    /// The next job key's number: every job written is a new row.
    next: Cell<u64>,
}

impl StoreOps {
    /// Opens (creating if missing) the database at `db` as the Store opens it, at
    /// `synchronous`; every other setting is the engine's default.
    pub fn open(db: &Path, synchronous: Synchronous) -> Result<Self, StoreError> {
        let mut config = EngineConfig::new(db);
        config.synchronous = synchronous;
        let conn = open::open(db, synchronous, false)?;
        let claim =
            ClaimArgs { owner: "bench".to_owned(), lease: config.lease, timeout: config.timeout };
        Ok(Self { conn, ctx: StoreCtx::from_config(&config), claim, next: Cell::new(0) })
    }

    /// Enqueues `n` new jobs as `n` enqueue operations in one batch, one transaction, as the
    /// Store commits a burst of `EngineHandle::enqueue` calls. Answers how many were new rows.
    pub fn enqueue(&self, n: usize) -> Result<usize, StoreError> {
        let now = SystemClock.now();
        let ops = (0..n).map(|_| EnqueueArgs { job: self.new_job(), now }).collect();
        let answers = self.commit(ops)?;
        Ok(answers.into_iter().filter(|a| matches!(a, Enqueued::Enqueued)).count())
    }

    /// Writes `n` pending jobs, due now, in one operation (`enqueue --batch`'s): setup for a
    /// claim, not the figure measured.
    pub fn fill(&self, n: usize) -> Result<(), StoreError> {
        let jobs = (0..n).map(|_| self.new_job()).collect();
        let written = self.run(EnqueueAllArgs { jobs, now: SystemClock.now() })?;
        let new = written.iter().filter(|a| matches!(a, Enqueued::Enqueued)).count();
        if new != n {
            return Err(StoreError::Inconsistent(format!("{new} of {n} jobs were new rows")));
        }
        Ok(())
    }

    /// Claims up to `n` due jobs in one round (one transaction), as the Dispatcher claims for
    /// `n` free workers; answers each claimed job's `(key, lease token)`, fewer when fewer are
    /// due. A gate holding every claim (the kill switch, the daily cap, the breaker) is an
    /// error: a bench must not measure a claim that took nothing.
    pub fn claim(&self, n: usize) -> Result<Vec<(String, String)>, StoreError> {
        let round = Round { claim: Some((self.claim.clone(), n)), ..Round::default() };
        let claimed = self.round(round)?.claimed;
        match claimed {
            Some(Ok(Claim::Jobs { jobs, .. })) => {
                Ok(jobs.into_iter().map(|c| (c.job.key, c.token)).collect())
            }
            Some(Ok(Claim::Gated { .. })) => Err(StoreError::Inconsistent(
                "a gate holds every claim: the bench's database is paused, capped or its \
                 breaker is open"
                    .to_owned(),
            )),
            Some(Err(e)) => Err(e),
            None => Err(StoreError::Inconsistent("the round answered no claim".to_owned())),
        }
    }

    /// Completes the attempts `leases` (`(key, lease token)`, as [`StoreOps::claim`] answers)
    /// in one round (one transaction), as the Dispatcher settles what its workers reported.
    /// Answers how many were completed; a lease no longer held completes nothing.
    pub fn complete(&self, leases: Vec<(String, String)>) -> Result<usize, StoreError> {
        let settles = leases
            .into_iter()
            .map(|(key, token)| Settle::Complete {
                key,
                token,
                result: None,
                charge: Charge::default(),
            })
            .collect();
        let mut completed = 0;
        for settled in self.round(Round { settles, ..Round::default() })?.settled {
            completed += usize::from(matches!(settled?, Settled::Completed(true)));
        }
        Ok(completed)
    }

    fn new_job(&self) -> NewJob {
        let n = self.next.get();
        self.next.set(n + 1);
        NewJob::new(format!("bench-{n}"), "{}")
    }

    fn round(&self, round: Round) -> Result<RoundOut, StoreError> {
        self.run(RoundArgs { round, now: SystemClock.now() })
    }

    /// One operation, a transaction of its own.
    fn run<A: Args>(&self, args: A) -> Result<A::Out, StoreError> {
        op::run(crate::store::db::Db::Lite(&self.conn), &self.ctx, args)
    }

    /// Write operations `args` as one batch, one transaction; every answer, or the first error.
    fn commit<A: Args>(&self, args: Vec<A>) -> Result<Vec<A::Out>, StoreError> {
        let (mut ops, mut answers) = (Vec::with_capacity(args.len()), Vec::new());
        for a in args {
            let (port, answer) = ractor::concurrency::oneshot();
            ops.push(a.into_op(Reply::Port(port.into())));
            answers.push(answer);
        }
        op::commit(crate::store::db::Db::Lite(&self.conn), &self.ctx, &mut ops);
        // Every operation is answered before `commit` returns (or as it drops, unanswered).
        answers
            .into_iter()
            .map(|mut answer| {
                answer.try_recv().unwrap_or_else(|_| {
                    Err(StoreError::Unavailable("the operation was dropped unanswered".to_owned()))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobStatus, Status};
    use crate::store::op::{JobArgs, SetPausedArgs, StatusArgs};

    fn now() -> crate::clock::Timestamp {
        SystemClock.now()
    }

    fn ops(dir: &tempfile::TempDir) -> StoreOps {
        StoreOps::open(&dir.path().join("t.db"), Synchronous::Normal).unwrap()
    }

    fn status(s: &StoreOps) -> Status {
        s.run(StatusArgs { now: now() }).unwrap()
    }

    fn job_status(s: &StoreOps, key: &str) -> JobStatus {
        s.run(JobArgs { key: key.to_owned() }).unwrap().expect("the job exists").status
    }

    #[test]
    fn enqueue_writes_n_new_pending_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let s = ops(&dir);
        assert_eq!(s.enqueue(32).unwrap(), 32);
        assert_eq!(s.enqueue(1).unwrap(), 1, "keys are never repeated");
        assert_eq!(status(&s).pending, 33);
    }

    #[test]
    fn claim_leases_n_pending_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let s = ops(&dir);
        s.fill(5).unwrap();
        assert_eq!(status(&s).pending, 5);
        let leases = s.claim(3).unwrap();
        assert_eq!(leases.len(), 3);
        for (key, token) in &leases {
            assert_eq!(job_status(&s, key), JobStatus::Running, "{key} claimed");
            assert!(!token.is_empty(), "{key} has a lease token");
        }
        let st = status(&s);
        assert_eq!((st.pending, st.running), (2, 3));
        // Fewer due than asked for: the claim takes what there is, never a job twice.
        let rest = s.claim(32).unwrap();
        assert_eq!(rest.len(), 2);
        assert!(rest.iter().all(|r| !leases.contains(r)));
        assert!(s.claim(1).unwrap().is_empty());
    }

    #[test]
    fn complete_makes_claimed_jobs_done() {
        let dir = tempfile::tempdir().unwrap();
        let s = ops(&dir);
        s.fill(4).unwrap();
        let leases = s.claim(4).unwrap();
        assert_eq!(s.complete(leases.clone()).unwrap(), 4);
        for (key, _) in &leases {
            assert_eq!(job_status(&s, key), JobStatus::Done, "{key} done");
        }
        let st = status(&s);
        assert_eq!((st.pending, st.running, st.done), (0, 0, 4));
        // Fenced on the lease: the same outcome again changes nothing.
        assert_eq!(s.complete(leases).unwrap(), 0);
    }

    #[test]
    fn a_gated_claim_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = ops(&dir);
        s.fill(1).unwrap();
        let pause = SetPausedArgs { paused: true, reason: None, now: now() };
        s.run(pause).unwrap();
        assert!(matches!(s.claim(1), Err(StoreError::Inconsistent(_))));
        assert_eq!(status(&s).pending, 1, "nothing claimed");
    }
}
