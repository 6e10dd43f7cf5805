//! Memoized steps as a handler sees them: [`Job::step`] runs a piece of work once per job, and
//! [`Steps`] is the attempt's handle on the `steps` table that the command handler's step
//! socket serves to a subprocess.
//!
//! # Names
//!
//! A step is kept under its job's key and its name as counted within one attempt, Inngest's
//! rule: the first use of `fetch` in an attempt is `fetch`, the second `fetch:2`, the third
//! `fetch:3`, so a loop over the same step records each turn. The count is per attempt (per
//! lease token), shared by every clone of the attempt's `Job` and by every connection that
//! names its lease. A read ([`Steps::get`]) counts a use; a record ([`Steps::put`]) takes the
//! name of the read of that name it follows, or counts a use of its own when there is none
//! open (a put with no get before it).
//!
//! # Fencing and cost
//!
//! Every read and record goes through the Store (one writer), extends the attempt's lease, and
//! is refused with [`StepError::LeaseLost`] once the lease is no longer held (the attempt timed
//! out, was reaped, or a newer one runs). A recorded step's cost is charged to the spend ledger
//! once, in the transaction that records it; an attempt that reads a recorded output pays
//! nothing for it. A job not run by an engine (a test building a [`Job`] by hand) has detached
//! steps: nothing is read or recorded, and each step simply runs.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::{Job, Usage};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::shared::Shared;
use crate::store::{Charge, StepRead, StepWrite, retry_transient};

/// The longest step name, in bytes (before a `:N` suffix).
pub const MAX_STEP_NAME: usize = 200;

/// A recorded step, as `jobs show` lists it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepRecord {
    /// The name, with its `:N` suffix past the first use in an attempt.
    pub name: String,
    /// The output recorded.
    pub output: String,
    /// What the step cost when it was recorded, micro-dollars.
    pub cost_micros: i64,
    /// When it was recorded.
    pub recorded_at: Timestamp,
}

/// What a step's work produced: its output, what it cost, and the model and tokens it used.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    /// Kept as the step's output and returned to every later attempt.
    pub output: String,
    /// Money the work spent, in US dollars, charged once when the step is recorded.
    pub cost_usd: f64,
    /// The model and tokens the work used, recorded in the spend ledger with its cost (for
    /// `spend --by model`); empty when unknown.
    pub usage: Usage,
}

impl StepOutput {
    /// An output and its cost.
    pub fn new(output: impl Into<String>, cost_usd: f64) -> Self {
        Self { output: output.into(), cost_usd, usage: Usage::default() }
    }

    /// With the model and tokens the work used.
    pub fn usage(self, usage: Usage) -> Self {
        Self { usage, ..self }
    }
}

impl From<String> for StepOutput {
    fn from(output: String) -> Self {
        Self::new(output, 0.0)
    }
}

impl From<&str> for StepOutput {
    fn from(output: &str) -> Self {
        output.to_owned().into()
    }
}

/// Why a step could not be read or recorded.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The attempt's lease is no longer held: it timed out or another attempt took over. This
    /// attempt's outcome will be discarded; stop.
    #[error(
        "the step was refused: this attempt no longer holds the job's lease (it timed out or \
         another attempt took over)"
    )]
    LeaseLost,
    /// The name is empty, too long, or has a control character.
    #[error(
        "bad step name {0:?}: give 1 to {MAX_STEP_NAME} bytes of text without control characters"
    )]
    BadName(String),
    /// The Store could not answer (it is restarting, or the database failed).
    #[error("the step could not be read or recorded: {0}")]
    Store(#[from] StoreError),
}

/// A step as read or recorded: its counted name and the output that stands, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepAnswer {
    /// The name counted within the attempt (`fetch`, `fetch:2`, ...).
    pub name: String,
    /// The output recorded under it; `None` from a read that found nothing.
    pub output: Option<String>,
}

/// One attempt's handle on its job's steps; cheap to clone, every clone counting names alike.
#[derive(Clone, Default)]
pub struct Steps {
    lease: Option<Arc<Lease>>,
}

/// The attempt the steps belong to.
struct Lease {
    shared: Arc<Shared>,
    key: String,
    token: String,
    /// Uses of each name in this attempt.
    names: Mutex<HashMap<String, Uses>>,
}

#[derive(Debug, Default)]
struct Uses {
    count: u32,
    /// A read counted the last use and no record has taken its name yet.
    open: bool,
}

impl Steps {
    /// The steps of the attempt holding lease `token` on `key`.
    pub(crate) fn attached(shared: Arc<Shared>, key: String, token: String) -> Self {
        let names = Mutex::new(HashMap::new());
        Self { lease: Some(Arc::new(Lease { shared, key, token, names })) }
    }

    /// The attempt's lease token (what `NIGHTSHIFT_LEASE` carries); `None` when detached.
    pub fn lease_token(&self) -> Option<&str> {
        self.lease.as_ref().map(|l| l.token.as_str())
    }

    /// Reads the step `name`, counting a use of the name; extends the lease.
    pub async fn get(&self, name: &str) -> Result<StepAnswer, StepError> {
        let counted = self.count(name, Use::Read)?;
        let output = self.read(&counted).await?;
        if output.is_some() {
            self.close(name);
        }
        Ok(StepAnswer { name: counted, output })
    }

    /// Records the step `name` (the use a read of it opened, or a new one) with `output` and
    /// its cost; extends the lease. A step already recorded keeps its output, returned here.
    pub async fn put(&self, name: &str, output: StepOutput) -> Result<StepAnswer, StepError> {
        let name = self.count(name, Use::Record)?;
        let output = self.record(&name, output).await?;
        Ok(StepAnswer { name, output: Some(output) })
    }

    /// Counts a use of `name`; the name counted.
    fn count(&self, name: &str, how: Use) -> Result<String, StepError> {
        if name.is_empty() || name.len() > MAX_STEP_NAME || name.chars().any(char::is_control) {
            return Err(StepError::BadName(name.to_owned()));
        }
        let Some(lease) = &self.lease else { return Ok(name.to_owned()) };
        let mut names = lease.names.lock().unwrap_or_else(|e| e.into_inner());
        let uses = names.entry(name.to_owned()).or_default();
        match how {
            Use::Record if uses.open => uses.open = false,
            Use::Record => uses.count += 1,
            Use::Read => {
                uses.count += 1;
                uses.open = true;
            }
        }
        Ok(if uses.count <= 1 { name.to_owned() } else { format!("{name}:{}", uses.count) })
    }

    /// Marks the open use of `name` as settled (its output was found, or recorded).
    fn close(&self, name: &str) {
        let Some(lease) = &self.lease else { return };
        let mut names = lease.names.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(uses) = names.get_mut(name) {
            uses.open = false;
        }
    }

    async fn read(&self, name: &str) -> Result<Option<String>, StepError> {
        let Some(lease) = &self.lease else { return Ok(None) };
        let shared = &lease.shared;
        let read = retry_transient(|| {
            let (key, token) = (lease.key.clone(), lease.token.clone());
            shared.store.step_get(key, token, name.to_owned(), shared.config.lease, shared.now())
        })
        .await?;
        match read {
            StepRead::Recorded(output) => Ok(Some(output)),
            StepRead::Missing => Ok(None),
            StepRead::LeaseLost => Err(StepError::LeaseLost),
        }
    }

    async fn record(&self, name: &str, output: StepOutput) -> Result<String, StepError> {
        let Some(lease) = &self.lease else { return Ok(output.output) };
        let shared = &lease.shared;
        let micros = crate::events::cost_micros(&lease.key, output.cost_usd);
        let usage =
            (!output.usage.is_empty()).then(|| Usage { limit: None, ..output.usage.clone() });
        let charge = Charge { micros, usage };
        // Safe to repeat: a record already made inserts nothing and charges nothing again.
        let written = retry_transient(|| {
            let (key, token) = (lease.key.clone(), lease.token.clone());
            let text = output.output.clone();
            let (lease_for, now) = (shared.config.lease, shared.now());
            shared.store.step_put(key, token, name.to_owned(), text, charge.clone(), lease_for, now)
        })
        .await?;
        match written {
            StepWrite::Recorded => Ok(output.output),
            StepWrite::Kept(kept) => Ok(kept),
            StepWrite::LeaseLost => Err(StepError::LeaseLost),
        }
    }
}

/// How a name is used.
#[derive(Debug, Clone, Copy)]
enum Use {
    Read,
    Record,
}

impl std::fmt::Debug for Steps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token: it is the attempt's capability.
        match &self.lease {
            Some(lease) => write!(f, "Steps({:?})", lease.key),
            None => f.write_str("Steps(detached)"),
        }
    }
}

/// Two handles are equal when they belong to the same attempt (or are both detached).
impl PartialEq for Steps {
    fn eq(&self, other: &Self) -> bool {
        self.lease_token() == other.lease_token()
    }
}

impl Eq for Steps {}

impl Job {
    /// Runs `work` as the step `name` of this job, once: when an earlier attempt recorded it,
    /// its output is returned and `work` is not run; otherwise `work` runs and its output is
    /// recorded (its cost charged) before it is returned. A failed `work` records nothing and
    /// its error is returned as it is, so the next attempt runs it again.
    ///
    /// ```no_run
    /// # use nightshift_actors::{Job, Outcome, StepError, StepOutput};
    /// # async fn ask_model(_: &str) -> Result<(String, f64), StepError> { todo!() }
    /// # async fn run(job: Job) -> Result<Outcome, StepError> {
    /// let outline = job
    ///     .step("outline", async {
    ///         let (text, cost) = ask_model("outline").await?;
    ///         Ok::<_, StepError>(StepOutput::new(text, cost))
    ///     })
    ///     .await?;
    /// # let _ = outline; Ok(Outcome::success()) }
    /// ```
    pub async fn step<F, E>(&self, name: &str, work: F) -> Result<String, E>
    where
        F: Future<Output = Result<StepOutput, E>>,
        E: From<StepError>,
    {
        let counted = self.steps.count(name, Use::Read)?;
        if let Some(output) = self.steps.read(&counted).await? {
            self.steps.close(name);
            return Ok(output);
        }
        let done = work.await?;
        let output = self.steps.record(&counted, done).await?;
        self.steps.close(name);
        Ok(output)
    }
}

#[cfg(test)]
mod tests;
