//! How one actor reaches another that a restart may replace: a [`Slot`] per actor, made and kept
//! current by the Supervisor (filled when the actor starts, emptied when it dies), a clone handed
//! to exactly the actors and front ends that send to it. [`Notices`] bundles the two slots that
//! whoever settles a failure needs.
//!
//! A slot holds one ref, never a table: there is no place here to look up any actor by name,
//! and nothing here starts, stops or restarts anything (the Supervisor does).

use std::sync::{Arc, RwLock};

use ractor::{ActorRef, Message};

use crate::clock::Timestamp;
use crate::dead_letter::DeadLetterMsg;
use crate::dispatcher::DispatcherMsg;
use crate::retry::RetryMsg;
use crate::store::HeldAlert;

/// A cloneable handle to the current instance of one actor; empty while it is not running.
pub(crate) struct Slot<M: Message> {
    current: Arc<RwLock<Option<ActorRef<M>>>>,
}

impl<M: Message> Clone for Slot<M> {
    fn clone(&self) -> Self {
        Self { current: self.current.clone() }
    }
}

impl<M: Message> Slot<M> {
    /// An empty slot, filled by the Supervisor when the actor starts.
    pub(crate) fn new() -> Self {
        Self { current: Arc::new(RwLock::new(None)) }
    }

    /// Points every clone at a (re)started actor. Only the Supervisor calls this.
    pub(crate) fn set(&self, actor: ActorRef<M>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(actor);
    }

    /// Empties the slot: the actor died. Only the Supervisor calls this.
    pub(crate) fn clear(&self) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The actor's current ref, when one runs.
    pub(crate) fn get(&self) -> Option<ActorRef<M>> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sends `msg` without waiting; false when no actor runs to take it (the message is lost,
    /// as a cast to a dead actor is).
    pub(crate) fn cast(&self, msg: M) -> bool {
        self.get().is_some_and(|a| a.cast(msg).is_ok())
    }
}

impl Slot<DispatcherMsg> {
    /// Tells the Dispatcher that jobs may be due.
    pub(crate) fn wake(&self) {
        self.cast(DispatcherMsg::Wake);
    }
}

/// Who hears what a settled failure became: the Retry scheduler (a due time) and DeadLetter (a
/// burial). Handed to the Dispatcher, the Rescuer and the Supervisor's own recovery.
#[derive(Clone)]
pub(crate) struct Notices {
    pub(crate) retry: Slot<RetryMsg>,
    pub(crate) dead_letter: Slot<DeadLetterMsg>,
}

impl Notices {
    /// A job falls due at `at`: the Retry scheduler arms its timer.
    pub(crate) fn retry_due(&self, at: Timestamp) {
        self.retry.cast(RetryMsg::Due { at });
    }

    /// A job was buried (its alert row is held in the outbox). A DeadLetter that is not
    /// running finds the row when it starts, or at its next look at the outbox.
    pub(crate) fn dead_arrived(&self, alert: HeldAlert) {
        self.dead_letter.cast(DeadLetterMsg::Buried(alert));
    }
}
