//! The typed calls other actors make on the Store, one per operation file.

use std::time::Duration;

use super::{AlertRow, DeliveryFailed, Failed, HeldAlert, Round, RoundOut, StoreHandle};
use super::{alerts, claim, control, dead, enqueue, fail, lease, read, round};
use crate::alerts::AlertKind;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::{DeadJob, Enqueued, JobRecord, JobStatus, NewJob, Selector, Status};

impl StoreHandle {
    pub(crate) async fn enqueue(
        &self,
        job: NewJob,
        now: Timestamp,
    ) -> Result<Enqueued, StoreError> {
        self.write(move |c, ctx| enqueue::run(c, ctx, &job, now)).await
    }

    /// Sends a Dispatcher round; `answer` gets its outcome after the batch commits.
    pub(crate) fn round(
        &self,
        round: Round,
        now: Timestamp,
        answer: impl FnOnce(Result<RoundOut, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        self.write_cast(move |c, ctx| round::run(c, ctx, &round, now), answer)
    }

    /// A round whose answer is awaited (the Dispatcher's last one, as it stops).
    pub(crate) async fn round_now(
        &self,
        round: Round,
        now: Timestamp,
    ) -> Result<RoundOut, StoreError> {
        self.write(move |c, ctx| round::run(c, ctx, &round, now)).await
    }

    /// [`StoreHandle::heartbeat`] whose answer is cast instead of awaited.
    pub(crate) fn heartbeat_cast(
        &self,
        leases: Vec<(String, String)>,
        lease: Duration,
        now: Timestamp,
        answer: impl FnOnce(Result<Vec<bool>, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        self.write_cast(move |c, _| lease::heartbeat(c, &leases, lease, now), answer)
    }

    /// Extends the leases `(key, token)`; whether each is still held.
    pub(crate) async fn heartbeat(
        &self,
        leases: Vec<(String, String)>,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Vec<bool>, StoreError> {
        self.write(move |c, _| lease::heartbeat(c, &leases, lease, now)).await
    }

    pub(crate) async fn fail_owner(
        &self,
        owner: String,
        error: String,
        now: Timestamp,
    ) -> Result<Vec<(String, Failed)>, StoreError> {
        self.write(move |c, ctx| fail::fail_owner(c, ctx, &owner, &error, now)).await
    }

    pub(crate) async fn recover(
        &self,
        all: bool,
        now: Timestamp,
    ) -> Result<Vec<(String, Failed)>, StoreError> {
        self.write(move |c, ctx| fail::recover(c, ctx, all, now)).await
    }

    pub(crate) async fn replay(
        &self,
        which: Selector,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        self.write(move |c, _| dead::replay(c, &which, now)).await
    }

    pub(crate) async fn purge(&self, which: Selector) -> Result<Vec<String>, StoreError> {
        self.write(move |c, _| dead::purge(c, &which)).await
    }

    pub(crate) async fn set_paused(
        &self,
        paused: bool,
        reason: Option<String>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.write(move |c, _| control::set_paused(c, paused, reason.as_deref(), now)).await
    }

    /// Records the cap this runner holds claims to (see `control::record_cap`).
    pub(crate) async fn record_cap(
        &self,
        set_by: Option<String>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.write(move |c, ctx| {
            control::record_cap(c, ctx.daily_cap_micros, set_by.as_deref(), now)
        })
        .await
    }

    pub(crate) async fn alerts_due(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<(Vec<AlertRow>, Option<Timestamp>), StoreError> {
        self.read(move |c, _| alerts::due(c, now, limit)).await
    }

    /// Every dead-letter alert held for the DeadLetter actor's decision.
    pub(crate) async fn alerts_held(&self) -> Result<Vec<HeldAlert>, StoreError> {
        self.read(move |c, _| alerts::held(c)).await
    }

    /// Releases held dead-letter alerts to the Alert actor: each alone, or as one digest.
    pub(crate) async fn alerts_release(
        &self,
        ids: Vec<i64>,
        digest: Option<i64>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.write(move |c, _| alerts::release(c, &ids, digest, now)).await
    }

    pub(crate) async fn owe_alert(
        &self,
        kind: AlertKind,
        body: serde_json::Value,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        self.write(move |c, _| alerts::owe(c, kind, None, &body, now, now)).await
    }

    pub(crate) async fn alert_delivered(&self, id: i64, now: Timestamp) -> Result<(), StoreError> {
        self.write(move |c, _| alerts::delivered(c, id, now)).await
    }

    pub(crate) async fn alert_failed(&self, failed: DeliveryFailed) -> Result<(), StoreError> {
        self.write(move |c, _| alerts::failed(c, &failed)).await
    }

    /// The kill switch and its reason.
    pub(crate) async fn pause_state(&self) -> Result<(bool, Option<String>), StoreError> {
        self.read(move |c, _| {
            let control = super::gates::load_control(c)?;
            Ok((control.paused, control.pause_reason))
        })
        .await
    }

    pub(crate) async fn status(&self, now: Timestamp) -> Result<Status, StoreError> {
        self.read(move |c, ctx| read::status(c, ctx, now)).await
    }

    pub(crate) async fn job(&self, key: String) -> Result<Option<JobRecord>, StoreError> {
        self.read(move |c, _| read::job(c, &key)).await
    }

    pub(crate) async fn jobs(
        &self,
        status: Option<JobStatus>,
        queue: Option<String>,
        limit: u32,
    ) -> Result<Vec<JobRecord>, StoreError> {
        self.read(move |c, _| read::jobs(c, status, queue.as_deref(), limit)).await
    }

    pub(crate) async fn dead(&self, key: String) -> Result<Option<DeadJob>, StoreError> {
        self.read(move |c, _| dead::get(c, &key)).await
    }

    pub(crate) async fn dead_list(&self, limit: u32) -> Result<Vec<DeadJob>, StoreError> {
        self.read(move |c, _| dead::list(c, limit)).await
    }

    pub(crate) async fn drain_state(&self, now: Timestamp) -> Result<read::DrainState, StoreError> {
        self.read(move |c, ctx| read::drain_state(c, ctx, now)).await
    }

    pub(crate) async fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        self.read(|c, _| claim::next_due(c)).await
    }
}
