//! The typed calls other actors make on the Store: each builds one `op::Op` from its arguments
//! and waits for (or casts) its answer. They hold no logic of their own.

use std::time::Duration;

use super::fail::Recovery;
use super::op::*;
use super::{AlertRow, DeliveryFailed, Failed, HeldAlert, Round, RoundOut, StoreHandle, read};
use super::{Charge, StepRead, StepWrite};
use crate::alerts::AlertKind;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::{
    DeadJob, DeadQuery, Enqueued, JobQuery, JobRecord, JobStatus, NewJob, Selector, Status,
};

impl StoreHandle {
    pub(crate) async fn enqueue(
        &self,
        job: NewJob,
        now: Timestamp,
    ) -> Result<Enqueued, StoreError> {
        self.call(EnqueueArgs { job, now }).await
    }

    /// Sends a Dispatcher round; `answer` gets its outcome after the batch commits.
    pub(crate) fn round(
        &self,
        round: Round,
        now: Timestamp,
        answer: impl FnOnce(Result<RoundOut, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        self.cast(RoundArgs { round, now }, answer)
    }

    /// A round whose answer is awaited (the Dispatcher's last one, as it stops).
    pub(crate) async fn round_now(
        &self,
        round: Round,
        now: Timestamp,
    ) -> Result<RoundOut, StoreError> {
        self.call(RoundArgs { round, now }).await
    }

    /// [`StoreHandle::heartbeat`] whose answer is cast instead of awaited.
    pub(crate) fn heartbeat_cast(
        &self,
        leases: Vec<(String, String)>,
        lease: Duration,
        now: Timestamp,
        answer: impl FnOnce(Result<Vec<bool>, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        self.cast(HeartbeatArgs { leases, lease, now }, answer)
    }

    /// Extends the leases `(key, token)`; whether each is still held.
    pub(crate) async fn heartbeat(
        &self,
        leases: Vec<(String, String)>,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<bool>, StoreError> {
        self.call(HeartbeatArgs { leases, lease, now }).await
    }

    /// Whether the lease `(key, token)` is still held: a read, answered at once (a cancel
    /// clears the lease).
    pub(crate) async fn lease_held(&self, key: String, token: String) -> Result<bool, StoreError> {
        self.call(LeaseHeldArgs { key, token }).await
    }

    pub(crate) async fn fail_owner(
        &self,
        owner: String,
        error: String,
        now: Timestamp,
    ) -> Result<Vec<(String, Failed)>, StoreError> {
        self.call(FailOwnerArgs { owner, error, now }).await
    }

    pub(crate) async fn recover(
        &self,
        which: Recovery,
        now: Timestamp,
    ) -> Result<Vec<(String, Failed)>, StoreError> {
        self.call(RecoverArgs { which, now }).await
    }

    pub(crate) async fn replay(
        &self,
        which: Selector,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        self.call(ReplayArgs { which, now, steps: ReplaySteps::Keep }).await
    }

    /// Reads a running job's step, extending its lease.
    pub(crate) async fn step_get(
        &self,
        key: String,
        token: String,
        name: String,
        lease: Duration,
        now: Timestamp,
    ) -> Result<StepRead, StoreError> {
        self.call(StepGetArgs { key, token, name, lease, now }).await
    }

    /// Records a running job's step and charges its cost, extending its lease.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn step_put(
        &self,
        key: String,
        token: String,
        name: String,
        output: String,
        charge: Charge,
        lease: Duration,
        now: Timestamp,
    ) -> Result<StepWrite, StoreError> {
        self.call(StepPutArgs { key, token, name, output, charge, lease, now }).await
    }

    pub(crate) async fn purge(&self, which: Selector) -> Result<Vec<String>, StoreError> {
        self.call(PurgeDeadArgs { which }).await
    }

    pub(crate) async fn set_paused(
        &self,
        paused: bool,
        reason: Option<String>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.call(SetPausedArgs { paused, reason, now }).await
    }

    /// Records the cap this runner holds claims to (see `control::record_cap`).
    pub(crate) async fn record_cap(
        &self,
        set_by: Option<String>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.call(RecordCapArgs { set_by, now }).await
    }

    pub(crate) async fn alerts_due(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<(Vec<AlertRow>, Option<Timestamp>), StoreError> {
        self.call(AlertsDueArgs { now, limit }).await
    }

    /// Every dead-letter alert held for the DeadLetter actor's decision.
    pub(crate) async fn alerts_held(&self) -> Result<Vec<HeldAlert>, StoreError> {
        self.call(AlertsHeldArgs).await
    }

    /// Releases held dead-letter alerts to the Alert actor: each alone, or as one digest.
    pub(crate) async fn alerts_release(
        &self,
        ids: Vec<i64>,
        digest: Option<i64>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.call(AlertsReleaseArgs { ids, digest, now }).await
    }

    /// Makes alerts taken by a killed Alert actor due again at `now`.
    pub(crate) async fn alerts_give_back(
        &self,
        leases: Vec<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.call(AlertsGiveBackArgs { leases, now }).await
    }

    pub(crate) async fn owe_alert(
        &self,
        kind: AlertKind,
        body: serde_json::Value,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        self.call(OweAlertArgs { kind, body, now }).await
    }

    pub(crate) async fn alert_delivered(&self, id: i64, now: Timestamp) -> Result<(), StoreError> {
        self.call(AlertDeliveredArgs { id, now }).await
    }

    pub(crate) async fn alert_failed(&self, failed: DeliveryFailed) -> Result<(), StoreError> {
        self.call(failed).await
    }

    /// The kill switch and its reason.
    /// Writes or refreshes this runner's row (PostgreSQL; nothing on SQLite).
    pub(crate) async fn runner_beat(
        &self,
        me: super::runners::RunnerRow,
    ) -> Result<(), StoreError> {
        self.call(RunnerBeatArgs { me }).await
    }

    /// Removes this runner's row (PostgreSQL; nothing on SQLite).
    pub(crate) async fn runner_gone(&self, instance: String) -> Result<(), StoreError> {
        self.call(RunnerGoneArgs { instance }).await
    }

    pub(crate) async fn pause_state(&self) -> Result<(bool, Option<String>), StoreError> {
        self.call(PauseStateArgs).await
    }

    pub(crate) async fn status(&self, now: Timestamp) -> Result<Status, StoreError> {
        self.call(StatusArgs { now }).await
    }

    pub(crate) async fn job(&self, key: String) -> Result<Option<JobRecord>, StoreError> {
        self.call(JobArgs { key }).await
    }

    pub(crate) async fn jobs(
        &self,
        status: Option<JobStatus>,
        queue: Option<String>,
        limit: u32,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let query = JobQuery { status, queue, limit, ..JobQuery::default() };
        Ok(self.call(JobsArgs { query }).await?.jobs)
    }

    pub(crate) async fn dead(&self, key: String) -> Result<Option<DeadJob>, StoreError> {
        self.call(DeadLetterArgs { key }).await
    }

    pub(crate) async fn dead_list(&self, limit: u32) -> Result<Vec<DeadJob>, StoreError> {
        self.call(DeadLettersArgs { query: DeadQuery { limit, ..DeadQuery::default() } }).await
    }

    pub(crate) async fn drain_state(&self, now: Timestamp) -> Result<read::DrainState, StoreError> {
        self.call(DrainStateArgs { now }).await
    }

    pub(crate) async fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        self.call(NextDueArgs).await
    }

    /// The earliest deadline of a waiting job.
    pub(crate) async fn next_wait(&self) -> Result<Option<Timestamp>, StoreError> {
        self.call(NextWaitArgs).await
    }
}
