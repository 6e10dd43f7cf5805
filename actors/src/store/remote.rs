//! The Store's PostgreSQL side: the same operations and the same group commit, over a
//! connection on a thread of its own (`pg::Link`).
//!
//! One batch is on the connection's thread at a time: while it commits, the writes that arrive
//! gather in the Store's buffer, and when the thread reports `Flushed` the Store sends them as
//! the next batch. Reads go to the thread as they come, so they run after every write sent
//! before them. A batch is answered on the thread, after COMMIT, exactly as on SQLite.
//!
//! Other processes' commits are seen through LISTEN/NOTIFY: an enqueue or a replay notifies
//! channel `nightshift` in its transaction; the Store listens on its own connection and, at
//! each watch tick, takes the notifications that arrived (no round trip when there are none).
//! The Dispatcher's rescan stays the fallback. The client reads the socket only while it
//! waits on the server, so a look after work was sent finds what arrived meanwhile, but a look
//! on an idle connection must wait a moment (a millisecond) for the client to read at all. A connection found closed (the server restarted,
//! its backend terminated) stops the Store with an error, and the Supervisor starts it again on
//! a new connection; the batch in flight was answered with the error, its outcome unknown.

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use ractor::ActorRef;

use super::db::Db;
use super::op::{self, PauseStateArgs};
use super::pg::Link;
use super::{ExternalCommit, StoreCtx, StoreMsg};
use crate::error::StoreError;

/// The channel enqueues, replays and pause changes notify on (`Db::notify`).
const CHANNEL: &str = "nightshift";

/// How long a look on an idle connection lets the client read the socket.
const IDLE_LOOK: Duration = Duration::from_millis(1);

pub(crate) struct Remote {
    link: Link,
    /// A batch is on the connection's thread.
    busy: bool,
    /// This connection's backend: its own notifications are not news.
    own_pid: i32,
    /// Work was sent since the last watch: the client has read the socket since.
    sent: std::cell::Cell<bool>,
}

impl Remote {
    /// Connects (creating the schema when the database is empty) and listens.
    pub(crate) fn open(url: &str, ctx: StoreCtx) -> Result<Remote, StoreError> {
        let link = Link::open(url, true, ctx)?;
        let own_pid = link.run(|pg, _| -> Result<i32, StoreError> {
            let mut pg = pg.borrow_mut();
            pg.client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
            Ok(pg.client.query_one("SELECT pg_backend_pid()", &[])?.get(0))
        })??;
        Ok(Remote { link, busy: false, own_pid, sent: std::cell::Cell::new(false) })
    }

    /// Runs a read after every write already sent. A read that finds the connection gone
    /// restarts the Store as a write would: an idle runner reads (rescans, status) and may
    /// not write for a long time.
    pub(crate) fn read(&self, op: op::Op, myself: &ActorRef<StoreMsg>) {
        // Dropped unsent (the thread is gone), `op` answers its caller `Unavailable`.
        self.sent.set(true);
        let myself = myself.clone();
        self.link.send(move |pg, ctx| {
            op::read(Db::Pg(pg), ctx, op);
            said_lost(pg, &myself);
        });
    }

    /// Sends `buf` as the next batch, unless one is still committing (then `Flushed` will).
    pub(crate) fn flush(&mut self, buf: &mut Vec<op::Op>, myself: &ActorRef<StoreMsg>) {
        if self.busy || buf.is_empty() {
            return;
        }
        self.busy = true;
        self.sent.set(true);
        let mut batch = std::mem::take(buf);
        let myself = myself.clone();
        self.link.send(move |pg, ctx| {
            op::commit(Db::Pg(pg), ctx, &mut batch);
            let lost = pg.borrow().client.is_closed();
            let _ = myself.cast(if lost { StoreMsg::Lost } else { StoreMsg::Flushed });
        });
    }

    /// The batch on the thread is answered.
    pub(crate) fn flushed(&mut self) {
        self.busy = false;
    }

    /// Sends what is buffered and waits until the thread has answered everything sent: the
    /// Store stopping.
    pub(crate) fn finish(&mut self, buf: &mut Vec<op::Op>) {
        let mut batch = std::mem::take(buf);
        let _ = self.link.run(move |pg, ctx| {
            if !batch.is_empty() {
                op::commit(Db::Pg(pg), ctx, &mut batch);
            }
        });
    }

    /// Calls `wake` with the kill switch if another process notified since the last look.
    pub(crate) fn watch(&self, wake: &ExternalCommit, myself: &ActorRef<StoreMsg>) {
        let (wake, own, myself) = (wake.clone(), self.own_pid, myself.clone());
        // Idle since the last look: nothing made the client read the socket.
        let wait = if self.sent.replace(false) { Duration::ZERO } else { IDLE_LOOK };
        self.link.send(move |pg, ctx| {
            let news = {
                let mut pg = pg.borrow_mut();
                let mut pending = pg.client.notifications();
                let mut notes = pending.timeout_iter(wait);
                let mut news = false;
                // Stops at the first error: a closed connection is seen just below.
                while let Ok(Some(note)) = notes.next() {
                    news |= note.process_id() != own;
                }
                news
            };
            if !said_lost(pg, &myself)
                && news
                && let Ok((paused, reason)) = op::run(Db::Pg(pg), ctx, PauseStateArgs)
            {
                wake(paused, reason.as_deref());
            }
        });
    }
}

/// Whether the connection is gone; if so, tells the Store (which then restarts on a new one).
fn said_lost(pg: &std::cell::RefCell<super::pg::Pg>, myself: &ActorRef<StoreMsg>) -> bool {
    let lost = pg.borrow().client.is_closed();
    if lost {
        let _ = myself.cast(StoreMsg::Lost);
    }
    lost
}
