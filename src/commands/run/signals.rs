//! SIGTERM and SIGINT for `run`, in either mode: the first asks for an ordered shutdown (claim
//! nothing more, let jobs in flight finish within the grace), the second cuts the grace short.

use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::Failure;

pub(super) struct Signals {
    term: Signal,
    int: Signal,
    grace: Duration,
    /// Whether the first signal has arrived.
    requested: bool,
}

impl Signals {
    /// Starts listening; registered before the engine starts, so no signal is lost meanwhile.
    pub(super) fn listen(grace: Duration) -> Result<Self, Failure> {
        let error = |e: std::io::Error| Failure::Failed(format!("cannot listen for signals: {e}"));
        let term = signal(SignalKind::terminate()).map_err(error)?;
        let int = signal(SignalKind::interrupt()).map_err(error)?;
        Ok(Self { term, int, grace, requested: false })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }

    /// Resolves on the first signal, and says what happens now: in the event log
    /// (`shutdown_requested`) and on stderr for the person who pressed Ctrl-C.
    pub(super) async fn first(&mut self) {
        let name = self.recv().await;
        self.requested = true;
        let grace_ms = self.grace.as_millis() as u64;
        tracing::warn!(target: "nightshift", event = "shutdown_requested", signal = name,
            grace_ms = grace_ms,
            reason = "claiming stopped; jobs in flight may finish within the grace period");
        eprintln!(
            "nightshift: {name}: claiming no more jobs; jobs in flight have {} to finish, then \
             they are stopped and given back (a second Ctrl-C stops them now)",
            humantime::format_duration(self.grace)
        );
    }

    /// Resolves on the next signal: the one that cuts the shutdown's grace short.
    pub(super) async fn hurry(&mut self) {
        let name = self.recv().await;
        let reason = if self.requested {
            "second signal: jobs in flight are stopped now"
        } else {
            "signal during shutdown: jobs in flight are stopped now"
        };
        tracing::warn!(target: "nightshift", event = "shutdown_hurried", signal = name,
            reason = reason);
        eprintln!("nightshift: {name}: stopping the jobs in flight now");
    }
}
