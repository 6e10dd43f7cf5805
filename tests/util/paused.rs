//! Driving an engine on paused tokio time (`#[tokio::test(start_paused = true)]`), with the
//! engine's wall clock a `TokioClock`, so moving tokio's clock moves both.
//!
//! The Store answers from its own OS thread. Left to itself, a paused runtime that waits for
//! that answer finds nothing to run and jumps its clock to the next timer, again and again, so
//! leases, cooldowns and call timeouts could pass while one commit is written. [`Frozen`] keeps
//! the clock where it is until the test moves it: tokio never jumps a paused clock while a
//! blocking task is running, and the guard is one such task, parked until dropped. Time then
//! moves only by [`pass`], and waits are on conditions with a real-time
//! deadline ([`settle`]), never on a tokio sleep (which would never end).

use std::future::Future;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// While alive, tokio's paused clock moves only when the test moves it.
pub struct Frozen {
    release: Option<mpsc::Sender<()>>,
}

/// Freezes the paused clock of the current runtime.
pub fn freeze() -> Frozen {
    let (release, parked) = mpsc::channel::<()>();
    tokio::task::spawn_blocking(move || {
        // Returns when the guard drops its sender.
        let _ = parked.recv();
    });
    Frozen { release: Some(release) }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        self.release.take();
    }
}

/// A short real-time pause that lets the Store's thread answer without moving tokio's clock.
async fn nap() {
    let _ = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(1))).await;
}

/// Waits, without moving tokio's clock, until `cond` holds; panics naming `what` after 20 s of
/// real time.
pub async fn settle<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        nap().await;
    }
}

/// Moves tokio's clock (and the engine's) forward by `by`, firing the timers due by then.
pub async fn pass(by: Duration) {
    tokio::time::advance(by).await;
}
