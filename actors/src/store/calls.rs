//! The typed calls other actors make on the Store, one per operation file.

use std::time::Duration;

use super::{AlertRow, Claim, ClaimArgs, DeliveryFailed, FailKind, Failed, StoreHandle};
use super::{alerts, claim, control, dead, enqueue, fail, lease, read};
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

    pub(crate) async fn claim(&self, args: ClaimArgs, now: Timestamp) -> Result<Claim, StoreError> {
        self.write(move |c, ctx| claim::run(c, ctx, &args, now)).await
    }

    pub(crate) async fn heartbeat(
        &self,
        key: String,
        token: String,
        lease: Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.write(move |c, _| lease::heartbeat(c, &key, &token, lease, now)).await
    }

    /// Completes the job and, with `next`, claims the worker's next one in the same write:
    /// one round trip and one savepoint per job instead of two.
    pub(crate) async fn complete(
        &self,
        key: String,
        token: String,
        result: Option<String>,
        cost_micros: i64,
        now: Timestamp,
        next: Option<ClaimArgs>,
    ) -> Result<(bool, Option<Claim>), StoreError> {
        self.write(move |c, ctx| {
            let done = lease::complete(c, ctx, &key, &token, result.as_deref(), cost_micros, now)?;
            Ok((done, next.map(|args| claim::run(c, ctx, &args, now)).transpose()?))
        })
        .await
    }

    /// Fails the attempt and, with `next`, claims the worker's next job in the same write.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn fail(
        &self,
        key: String,
        token: String,
        error: String,
        kind: FailKind,
        cost_micros: i64,
        now: Timestamp,
        next: Option<ClaimArgs>,
    ) -> Result<(Failed, Option<Claim>), StoreError> {
        self.write(move |c, ctx| {
            let failed = fail::run(c, ctx, &key, &token, &error, kind, cost_micros, now)?;
            Ok((failed, next.map(|args| claim::run(c, ctx, &args, now)).transpose()?))
        })
        .await
    }

    pub(crate) async fn release(
        &self,
        key: String,
        token: String,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.write(move |c, _| lease::release(c, &key, &token, now)).await
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

    pub(crate) async fn alerts_untried(
        &self,
        kind: &'static str,
        limit: u32,
    ) -> Result<Vec<AlertRow>, StoreError> {
        self.read(move |c, _| alerts::untried(c, kind, limit)).await
    }

    pub(crate) async fn owe_alert(
        &self,
        kind: &'static str,
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
