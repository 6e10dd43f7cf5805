//! One buffered Store operation: a closure over the connection plus the caller's reply port.
//! The Store applies it inside the batch's transaction and answers only after COMMIT.

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

/// An [`Operation`] built from a function returning `T`.
pub(crate) struct Op<T, F> {
    run: Option<F>,
    out: Option<Result<T, StoreError>>,
    reply: RpcReplyPort<Result<T, StoreError>>,
}

impl<T, F> Op<T, F> {
    pub(crate) fn new(run: F, reply: RpcReplyPort<Result<T, StoreError>>) -> Self {
        Self { run: Some(run), out: None, reply }
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

    fn reply(self: Box<Self>, commit: Result<(), &StoreError>) {
        let answer = match (commit, self.out) {
            (Ok(()), Some(out)) => out,
            // The op's own error explains more than the rolled-back commit.
            (Err(_), Some(Err(e))) => Err(e),
            // Keep the kind a caller decides by (a full disk names its fix).
            (Err(e), _) if e.is_disk_full() => Err(StoreError::disk_full(None, e)),
            (Err(e), _) => Err(StoreError::Commit(e.to_string())),
            (Ok(()), None) => Err(StoreError::Commit("the operation never ran".to_owned())),
        };
        // The caller may have timed out and gone; nothing to do then.
        let _ = self.reply.send(answer);
    }
}
