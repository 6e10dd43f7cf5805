//! One armed wake-up timer per actor: re-armed only for an earlier time, clamped so a far-off
//! time is found again by the actor's own rescan instead of a timer that sleeps for months.
//! The wait is the injected clock's distance to the wall-clock time, slept on tokio's timer
//! (see `clock`); its deadline is fixed when it is armed, not when the timer task first runs,
//! so on paused tokio time it fires exactly when the engine's clock reaches that time.

use std::time::Duration;

use ractor::concurrency::JoinHandle;
use ractor::{ActorRef, Message, MessagingErr};

use crate::clock::Timestamp;

/// The longest a wake-up timer sleeps.
const LONGEST: Duration = Duration::from_secs(3_600);

/// A running timer task: sleeps, then casts.
type Timer<M> = JoinHandle<Result<(), MessagingErr<M>>>;

pub(crate) struct Wakeup<M: Message> {
    armed: Option<(Timestamp, Timer<M>)>,
}

impl<M: Message> Wakeup<M> {
    pub(crate) fn new() -> Self {
        Self { armed: None }
    }

    /// Sends `msg` to `myself` at `at`, unless a live timer already fires no later.
    pub(crate) fn arm<F>(&mut self, myself: &ActorRef<M>, at: Timestamp, now: Timestamp, msg: F)
    where
        F: FnOnce() -> M + Send + 'static,
    {
        if self.armed.as_ref().is_some_and(|(t, h)| *t <= at && !h.is_finished()) {
            return;
        }
        self.cancel();
        let sleep = tokio::time::sleep((at - now).min(LONGEST));
        let me = myself.clone();
        let timer = ractor::concurrency::spawn(async move {
            sleep.await;
            me.cast(msg())
        });
        self.armed = Some((at, timer));
    }

    /// Forgets the timer that just fired.
    pub(crate) fn fired(&mut self) {
        self.armed = None;
    }

    pub(crate) fn cancel(&mut self) {
        if let Some((_, h)) = self.armed.take() {
            h.abort();
        }
    }
}
