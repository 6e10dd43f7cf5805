//! [`Database`]: how the API reaches the database. An `Admin`, the CLI's own access, used on
//! tokio's blocking threads: a call may wait on SQLite's `busy_timeout` or on PostgreSQL, and
//! the async threads serving other requests must never wait with it.
//!
//! One `Admin` serves the requests one after another (a dashboard and a scraper, not a hot
//! path). A call that fails on the database itself (not on the client's input) drops the
//! `Admin`; the next call opens another, so a PostgreSQL server that restarted, or a SQLite file
//! that was missing, is picked up again without restarting `serve`.

use std::sync::{Arc, Mutex, PoisonError};

use nightshift_actors::{Admin, EngineConfig, Enqueued, NewJob, Selector, StoreError};

use super::ApiError;

/// The database, as the handlers see it. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    config: Arc<EngineConfig>,
    // A std Mutex: it is only ever locked on a blocking thread, never across an await.
    admin: Arc<Mutex<Option<Admin>>>,
}

impl Database {
    /// Opens the database now (a missing one is refused as the commands refuse it). Call it
    /// outside the async runtime.
    pub fn open(config: EngineConfig) -> Result<Self, StoreError> {
        let admin = Admin::open(&config)?;
        Ok(Self { config: Arc::new(config), admin: Arc::new(Mutex::new(Some(admin))) })
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
        self.call(move |admin| {
            let outcome = admin.enqueue(&job)?;
            let differs_at = match outcome {
                Enqueued::Conflict { .. } => admin.job(&job.key).ok().flatten().map(|stored| {
                    crate::commands::enqueue::differs_at(&stored.payload, &job.payload)
                }),
                _ => None,
            };
            Ok((outcome, differs_at))
        })
        .await
    }

    /// Moves dead-lettered jobs back to the queue; returns the keys moved.
    pub async fn replay(&self, which: Selector) -> Result<Vec<String>, ApiError> {
        self.call(move |admin| admin.replay(&which)).await
    }

    /// Turns the kill switch on or off; returns whether it changed.
    pub async fn set_paused(&self, paused: bool, reason: Option<String>) -> Result<bool, ApiError> {
        self.call(move |admin| admin.set_paused(paused, reason.as_deref())).await
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
