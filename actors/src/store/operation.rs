//! One buffered Store operation: a closure over the connection plus where its answer goes. The
//! Store applies it inside the batch's transaction and answers only after COMMIT: to a caller
//! awaiting a reply port, or as a message cast to an actor that must not wait (the Dispatcher
//! keeps handing out jobs while its settle-and-claim round commits).

use ractor::RpcReplyPort;
use rusqlite::Connection;

use super::StoreCtx;
use crate::error::StoreError;

/// A write or read the Store runs for a caller.
pub(crate) trait Operation: Send {
    /// Runs the SQL; false when it failed and its savepoint must roll back.
    fn apply(&mut self, conn: &Connection, ctx: &StoreCtx) -> bool;
    /// Answers the caller once the batch's fate is known.
    fn reply(self: Box<Self>, commit: Result<(), &StoreError>);
}

/// Where an operation's answer goes once its batch's fate is known.
pub(crate) enum Reply<T> {
    /// A caller awaiting the answer.
    Port(RpcReplyPort<Result<T, StoreError>>),
    /// A function that casts the answer to an actor's mailbox.
    Cast(Box<dyn FnOnce(Result<T, StoreError>) + Send>),
}

impl<T> Reply<T> {
    fn send(self, answer: Result<T, StoreError>) {
        match self {
            // The caller may have timed out and gone; nothing to do then.
            Reply::Port(port) => {
                let _ = port.send(answer);
            }
            Reply::Cast(cast) => cast(answer),
        }
    }
}

/// An [`Operation`] built from a function returning `T`.
pub(crate) struct Op<T, F> {
    run: Option<F>,
    out: Option<Result<T, StoreError>>,
    /// Taken when answered; an operation dropped unanswered (its Store was killed with it in
    /// the mailbox or the buffer) answers `Unavailable` as it drops, so no caller waits forever.
    reply: Option<Reply<T>>,
}

impl<T, F> Op<T, F> {
    pub(crate) fn new(run: F, reply: RpcReplyPort<Result<T, StoreError>>) -> Self {
        Self::with_reply(run, Reply::Port(reply))
    }

    pub(crate) fn with_reply(run: F, reply: Reply<T>) -> Self {
        Self { run: Some(run), out: None, reply: Some(reply) }
    }
}

impl<T, F> Operation for Op<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection, &StoreCtx) -> Result<T, StoreError> + Send + 'static,
{
    fn apply(&mut self, conn: &Connection, ctx: &StoreCtx) -> bool {
        let Some(run) = self.run.take() else { return false };
        let out = run(conn, ctx);
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    fn reply(mut self: Box<Self>, commit: Result<(), &StoreError>) {
        let answer = match (commit, self.out.take()) {
            (Ok(()), Some(out)) => out,
            // The op's own error explains more than the rolled-back commit.
            (Err(_), Some(Err(e))) => Err(e),
            // Keep the kind a caller decides by: a full disk names its fix, and a busy database
            // (another process holding the write lock past busy_timeout) is worth a retry.
            (Err(e), _) => Err(e.for_each_caller()),
            (Ok(()), None) => Err(StoreError::Commit("the operation never ran".to_owned())),
        };
        if let Some(reply) = self.reply.take() {
            reply.send(answer);
        }
    }
}

impl<T, F> Drop for Op<T, F> {
    fn drop(&mut self) {
        if let Some(reply) = self.reply.take() {
            let gone = "the store stopped before this operation committed".to_owned();
            reply.send(Err(StoreError::Unavailable(gone)));
        }
    }
}
