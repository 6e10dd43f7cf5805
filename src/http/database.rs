//! [`Database`]: how the API reaches the database. Reads go through an `Admin`, the CLI's own
//! access, used on tokio's blocking threads: a call may wait on SQLite's `busy_timeout` or on PostgreSQL, and
//! the async threads serving other requests must never wait with it.
//!
//! One `Admin` serves the requests one after another (a dashboard and a scraper, not a hot
//! path). A call that fails on the database itself (not on the client's input) drops the
//! `Admin`; the next call opens another, so a PostgreSQL server that restarted, or a SQLite file
//! that was missing, is picked up again without restarting `serve`.
//!
//! The writes (enqueue, replay, purge, pause/resume) go where the process's writes go: for
//! `serve`, through the same `Admin`; inside a runner (`run --http`), through the engine's
//! [`Operator`] to the Store actor's mailbox, so the runner stays its database's one writer and
//! its workers hear at once of a job enqueued, replayed or let through.

use std::sync::{Arc, Mutex, PoisonError};

use nightshift_actors::{
    Admin, EngineConfig, EngineError, Enqueued, NewJob, Operator, Selector, StoreError,
};

use super::ApiError;

/// The database, as the handlers see it. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    config: Arc<EngineConfig>,
    // A std Mutex: it is only ever locked on a blocking thread, never across an await.
    admin: Arc<Mutex<Option<Admin>>>,
    writer: Writer,
}

/// Who takes the writes.
#[derive(Clone)]
enum Writer {
    /// `serve`: the `Admin`, as the CLI's commands write.
    Admin,
    /// `run --http`: the runner's engine.
    Engine(Operator),
}

impl Database {
    /// Opens the database now (a missing one is refused as the commands refuse it). Call it
    /// outside the async runtime.
    pub fn open(config: EngineConfig) -> Result<Self, StoreError> {
        let admin = Admin::open(&config)?;
        let admin = Arc::new(Mutex::new(Some(admin)));
        Ok(Self { config: Arc::new(config), admin, writer: Writer::Admin })
    }

    /// Inside a runner: reads as [`Database::open`] does, writes through `engine`. Call it
    /// outside the async runtime, once the engine has started (and brought the schema up to
    /// date).
    pub fn beside(config: EngineConfig, engine: Operator) -> Result<Self, StoreError> {
        Ok(Self { writer: Writer::Engine(engine), ..Self::open(config)? })
    }

    /// Reads: runs `f` with the `Admin` on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Admin) -> Result<T, StoreError> + Send + 'static,
    {
        self.call(move |admin| f(admin)).await
    }

    /// Runs `f` with the `Admin` on a blocking thread, opening one first if the last call
    /// dropped it.
    async fn call<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Admin) -> Result<T, StoreError> + Send + 'static,
    {
        let (config, admin) = (self.config.clone(), self.admin.clone());
        let joined = tokio::task::spawn_blocking(move || {
            let mut slot = admin.lock().unwrap_or_else(PoisonError::into_inner);
            let admin = match slot.as_mut() {
                Some(admin) => admin,
                None => slot.insert(Admin::open(&config)?),
            };
            let result = f(admin);
            if result.as_ref().is_err_and(|e| !is_input(e)) {
                *slot = None;
            }
            result
        })
        .await;
        match joined {
            Ok(result) => Ok(result?),
            Err(e) => Err(ApiError::internal(&e)),
        }
    }

    /// Enqueues one job; for a conflict, also where the stored payload differs from it (`None`
    /// when the row went away meanwhile).
    pub async fn enqueue(&self, job: NewJob) -> Result<(Enqueued, Option<usize>), ApiError> {
        let engine = match &self.writer {
            Writer::Engine(engine) => engine,
            Writer::Admin => {
                return self
                    .call(move |admin| {
                        let outcome = admin.enqueue(&job)?;
                        let differs = differs_at(admin, &job, &outcome);
                        Ok((outcome, differs))
                    })
                    .await;
            }
        };
        let outcome = engine.enqueue(job.clone()).await.map_err(engine_error)?;
        if !matches!(outcome, Enqueued::Conflict { .. }) {
            return Ok((outcome, None));
        }
        let reported = outcome.clone();
        let differs = self.read(move |admin| Ok(differs_at(admin, &job, &reported))).await?;
        Ok((outcome, differs))
    }

    /// Enqueues jobs that were all checked first (`NewJob::validate`), in order; for each, as
    /// [`Database::enqueue`] answers. Through an `Admin`, in one transaction; through the
    /// engine, one after another (a store failing midway leaves the jobs before it enqueued:
    /// sending the batch again is safe, as enqueues are idempotent on their keys).
    pub async fn enqueue_all(
        &self,
        jobs: Vec<NewJob>,
    ) -> Result<Vec<(Enqueued, Option<usize>)>, ApiError> {
        if let Writer::Engine(_) = &self.writer {
            let mut outcomes = Vec::with_capacity(jobs.len());
            for job in jobs {
                outcomes.push(self.enqueue(job).await?);
            }
            return Ok(outcomes);
        }
        self.call(move |admin| {
            let outcomes = admin.enqueue_all(&jobs)?;
            Ok(jobs
                .iter()
                .zip(outcomes)
                .map(|(job, outcome)| {
                    let differs = differs_at(admin, job, &outcome);
                    (outcome, differs)
                })
                .collect())
        })
        .await
    }

    /// Moves dead-lettered jobs back to the queue; returns the keys moved.
    pub async fn replay(&self, which: Selector) -> Result<Vec<String>, ApiError> {
        self.act_on_dead(DeadAction::Replay, which).await
    }

    /// Replays or purges dead-lettered jobs; returns the keys replayed or purged.
    pub async fn act_on_dead(
        &self,
        action: DeadAction,
        which: Selector,
    ) -> Result<Vec<String>, ApiError> {
        use DeadAction::{Purge, Replay};
        match (&self.writer, action) {
            (Writer::Admin, Replay) => self.call(move |admin| admin.replay(&which)).await,
            (Writer::Admin, Purge) => self.call(move |admin| admin.purge(&which)).await,
            (Writer::Engine(engine), Replay) => engine.replay(which).await.map_err(engine_error),
            (Writer::Engine(engine), Purge) => engine.purge(which).await.map_err(engine_error),
        }
    }

    /// Signals the job `key` waiting for `name` (`nightshift signal`).
    pub async fn signal(
        &self,
        key: String,
        name: String,
        payload: String,
    ) -> Result<nightshift_actors::Signalled, ApiError> {
        match &self.writer {
            Writer::Admin => self.call(move |admin| admin.signal(&key, &name, &payload)).await,
            Writer::Engine(engine) => {
                engine.signal(&key, &name, &payload).await.map_err(engine_error)
            }
        }
    }

    /// Cancels the job `key` (`nightshift cancel`).
    pub async fn cancel(&self, key: String) -> Result<nightshift_actors::Cancelled, ApiError> {
        let mut answers = match &self.writer {
            Writer::Admin => self.call(move |admin| admin.cancel(&[key], None)).await?,
            Writer::Engine(engine) => engine.cancel(&[&key]).await.map_err(engine_error)?,
        };
        answers.pop().ok_or_else(|| ApiError::internal(&"the cancel answered nothing"))
    }

    /// Turns the kill switch on or off; returns whether it changed.
    pub async fn set_paused(&self, paused: bool, reason: Option<String>) -> Result<bool, ApiError> {
        match &self.writer {
            Writer::Admin => {
                self.call(move |admin| admin.set_paused(paused, reason.as_deref())).await
            }
            Writer::Engine(engine) if paused => {
                engine.pause(reason.as_deref()).await.map_err(engine_error)
            }
            Writer::Engine(engine) => engine.resume().await.map_err(engine_error),
        }
    }
}

/// What is done to dead letters: back to the queue, or deleted for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadAction {
    Replay,
    Purge,
}

impl DeadAction {
    /// The verb, as the forms and the paths spell it (`replay`, `purge`).
    pub fn verb(self) -> &'static str {
        match self {
            DeadAction::Replay => "replay",
            DeadAction::Purge => "purge",
        }
    }

    /// The word `dlq replay --json` and `dlq purge --json` key their list by.
    pub fn done(self) -> &'static str {
        match self {
            DeadAction::Replay => "replayed",
            DeadAction::Purge => "purged",
        }
    }
}

/// For a conflict: where the stored payload differs from `job`'s (`None` when the row went
/// away meanwhile, or for any other outcome).
fn differs_at(admin: &Admin, job: &NewJob, outcome: &Enqueued) -> Option<usize> {
    match outcome {
        Enqueued::Conflict { .. } => admin
            .job(&job.key)
            .ok()
            .flatten()
            .map(|stored| crate::commands::enqueue::differs_at(&stored.payload, &job.payload)),
        _ => None,
    }
}

/// The engine's failures as the API answers them: the Store's as from an `Admin`, a runner
/// shutting down as unavailable.
fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::Store(e) => e.into(),
        EngineError::Stopped(_) => {
            ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, "the runner is stopping")
        }
        e => ApiError::internal(&e),
    }
}

/// Whether the store refused the client's input rather than failing itself.
fn is_input(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::InvalidKey(_)
            | StoreError::PayloadTooLarge { .. }
            | StoreError::InvalidValue(_)
    )
}
