//! One operation in flight: its arguments, its answer once applied, and where that answer goes
//! once the batch's fate is known. It never runs SQL itself; `Op::apply` does.

use ractor::RpcReplyPort;

use crate::error::StoreError;

/// Where an operation's answer goes once its batch's fate is known.
pub(crate) enum Reply<T> {
    /// A caller awaiting the answer.
    Port(RpcReplyPort<Result<T, StoreError>>),
    /// A function that casts the answer to an actor's mailbox (the Dispatcher's rounds and
    /// heartbeats: it keeps handing out jobs while they commit).
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

/// An operation's arguments `A` and its typed answer `T`.
pub(crate) struct Call<A, T> {
    pub(super) args: A,
    out: Option<Result<T, StoreError>>,
    /// Taken when answered; a call dropped unanswered (its Store was killed with it in the
    /// mailbox or the buffer) answers `Unavailable` as it drops, so no caller waits forever.
    reply: Option<Reply<T>>,
}

impl<A, T> Call<A, T> {
    pub(super) fn new(args: A, reply: Reply<T>) -> Self {
        Self { args, out: None, reply: Some(reply) }
    }

    /// Runs the operation's function over its arguments and keeps the answer for later; false
    /// when it failed, so its savepoint must roll back.
    pub(super) fn run(&mut self, f: impl FnOnce(&A) -> Result<T, StoreError>) -> bool {
        let out = f(&self.args);
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    /// Answers the caller with what the operation returned, or with why its batch did not
    /// commit (the operation's own error when it has one: it explains more).
    pub(super) fn answer(mut self, commit: Result<(), &StoreError>) {
        let answer = match (commit, self.out.take()) {
            (Ok(()), Some(out)) => out.map_err(StoreError::named),
            (Err(_), Some(Err(e))) => Err(e.named()),
            (Err(e), _) => Err(e.clone()),
            (Ok(()), None) => Err(StoreError::Inconsistent("the operation never ran".to_owned())),
        };
        if let Some(reply) = self.reply.take() {
            reply.send(answer);
        }
    }
}

impl<A, T> Drop for Call<A, T> {
    fn drop(&mut self) {
        if let Some(reply) = self.reply.take() {
            let gone = "the store stopped before this operation committed".to_owned();
            reply.send(Err(StoreError::Unavailable(gone)));
        }
    }
}
