//! `StoreHandle`: how every other actor reaches the Store. It holds the current `ActorRef`
//! behind a lock the Supervisor swaps when it restarts the Store, so callers never keep a dead
//! ref for longer than one failed call.

use std::sync::{Arc, RwLock};

use super::op::{Args, Reply};
use super::{CALL_TIMEOUT, StoreMsg};
use crate::error::StoreError;
use ractor::rpc::CallResult;
use ractor::{ActorRef, MessagingErr};

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

    /// Sends an operation and waits for its answer: a write's after its batch commits, a
    /// read's at once.
    pub(crate) async fn call<A: Args>(&self, args: A) -> Result<A::Out, StoreError> {
        self.send(|reply| StoreMsg::Op(args.into_op(Reply::Port(reply)))).await
    }

    /// Sends an operation whose answer, once known (a write's after its batch commits), is
    /// handed to `answer` (which casts it to an actor) instead of awaited: the caller goes on
    /// at once. Fails at once, with nothing written, when no Store runs.
    pub(crate) fn cast<A: Args>(
        &self,
        args: A,
        answer: impl FnOnce(Result<A::Out, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        let op = args.into_op(Reply::Cast(Box::new(answer)));
        let store = self
            .actor()
            .ok_or_else(|| StoreError::Unavailable("the store has not started".to_owned()))?;
        store
            .cast(StoreMsg::Op(op))
            .map_err(|_| StoreError::Unavailable("the store is not running".to_owned()))
    }

    async fn send<T, B>(&self, build: B) -> Result<T, StoreError>
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
