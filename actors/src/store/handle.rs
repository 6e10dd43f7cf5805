//! `StoreHandle`: how every other actor reaches the Store. It holds the current `ActorRef`
//! behind a lock the Supervisor swaps when it restarts the Store, so callers never keep a dead
//! ref for longer than one failed call.

use std::sync::{Arc, RwLock};

use ractor::rpc::CallResult;
use ractor::{ActorRef, MessagingErr};
use rusqlite::Connection;

use super::operation::{Op, Reply};
use super::{CALL_TIMEOUT, StoreCtx, StoreMsg};
use crate::error::StoreError;

/// Repeats a Store call while the Store is restarting or the database is busy, backing off up
/// to a second, for at most 30 s. Only for calls a repeat cannot harm: keyed by an idempotency
/// key (enqueue) or fenced by a lease token (complete, fail, release).
pub(crate) async fn retry_transient<T, F, Fut>(mut call: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let give_up = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut pause = std::time::Duration::from_millis(10);
    loop {
        match call().await {
            Err(e) if e.is_transient() && tokio::time::Instant::now() < give_up => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(1));
            }
            other => return other,
        }
    }
}

/// A cloneable, swappable reference to the Store.
#[derive(Clone)]
pub(crate) struct StoreHandle {
    current: Arc<RwLock<Option<ActorRef<StoreMsg>>>>,
}

impl StoreHandle {
    /// A handle with no Store yet; calls fail as unavailable until [`StoreHandle::replace`].
    pub(crate) fn empty() -> Self {
        Self { current: Arc::new(RwLock::new(None)) }
    }

    /// Points every clone at a (re)started Store.
    pub(crate) fn replace(&self, store: ActorRef<StoreMsg>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(store);
    }

    /// The Store's current ref.
    pub(crate) fn actor(&self) -> Option<ActorRef<StoreMsg>> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A buffered write, answered after its batch commits.
    pub(crate) async fn write<T, F>(&self, run: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &StoreCtx) -> Result<T, StoreError> + Send + 'static,
    {
        self.call(|reply| StoreMsg::Write(Box::new(Op::new(run, reply)))).await
    }

    /// A buffered write whose answer, after its batch commits, is handed to `answer` (which
    /// casts it to an actor) instead of awaited: the caller goes on at once. Fails at once, with
    /// nothing written, when no Store runs.
    pub(crate) fn write_cast<T, F>(
        &self,
        run: F,
        answer: impl FnOnce(Result<T, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &StoreCtx) -> Result<T, StoreError> + Send + 'static,
    {
        let op = Op::with_reply(run, Reply::Cast(Box::new(answer)));
        let store = self
            .actor()
            .ok_or_else(|| StoreError::Unavailable("the store has not started".to_owned()))?;
        store
            .cast(StoreMsg::Write(Box::new(op)))
            .map_err(|_| StoreError::Unavailable("the store is not running".to_owned()))
    }

    /// A read from the writer's connection (it sees every acknowledged write).
    pub(crate) async fn read<T, F>(&self, run: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &StoreCtx) -> Result<T, StoreError> + Send + 'static,
    {
        self.call(|reply| StoreMsg::Read(Box::new(Op::new(run, reply)))).await
    }

    async fn call<T, B>(&self, build: B) -> Result<T, StoreError>
    where
        T: Send + 'static,
        B: FnOnce(ractor::RpcReplyPort<Result<T, StoreError>>) -> StoreMsg,
    {
        let Some(store) = self.actor() else {
            return Err(StoreError::Unavailable("the store has not started".to_owned()));
        };
        match store.call(build, Some(CALL_TIMEOUT)).await {
            Ok(CallResult::Success(answer)) => answer,
            Ok(CallResult::Timeout) => {
                Err(StoreError::Unavailable("no answer within the call timeout".to_owned()))
            }
            Ok(CallResult::SenderError) => {
                Err(StoreError::Unavailable("the store stopped before answering".to_owned()))
            }
            Err(MessagingErr::SendErr(_)) | Err(MessagingErr::ChannelClosed) => {
                Err(StoreError::Unavailable("the store is not running".to_owned()))
            }
            Err(e) => Err(StoreError::Unavailable(e.to_string())),
        }
    }
}
