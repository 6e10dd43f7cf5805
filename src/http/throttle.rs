//! [`Throttle`]: the login form's limit on wrong tokens, so the token cannot be guessed through
//! it. A client (its IP address) that sent [`MAX_FAILURES`] wrong tokens within [`WINDOW`] is
//! refused (429, `Retry-After`) until the oldest of them is older than the window, whatever it
//! sends, the right token included. A login that succeeds forgets the client's failures.
//!
//! The address is the connection's peer. Behind a proxy (Fly's) every client shares the
//! proxy's address, so the limit holds for all of them together: a guesser is still held to
//! five tries a minute, and the cost is that the operator may wait a minute behind one. A
//! forwarded header is not trusted for this: without the proxy, anyone could send a new one
//! with each guess.
//!
//! In memory, like the sessions: a restart forgets the failures (and takes a few seconds).
//! The time is given to each call, so the tests drive the window without waiting.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Wrong tokens a client may send within [`WINDOW`].
pub const MAX_FAILURES: usize = 5;

/// How long a wrong token counts against its client.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Clients tracked at most; past it, the client whose failures are oldest is forgotten first.
const MAX_CLIENTS: usize = 4096;

/// The failures of each client within the window.
#[derive(Default)]
pub struct Throttle {
    // A std Mutex: held for a map update, never across an await.
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl Throttle {
    /// `Err(wait)` when `client` must wait `wait` before trying again.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(times) = failures.get_mut(&client) else { return Ok(()) };
        forget_old(times, now);
        match times.front() {
            Some(&oldest) if times.len() >= MAX_FAILURES => {
                Err((oldest + WINDOW).saturating_duration_since(now))
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong token from `client`.
    pub fn failed(&self, client: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() >= MAX_CLIENTS && !failures.contains_key(&client) {
            failures.retain(|_, times| {
                forget_old(times, now);
                !times.is_empty()
            });
            if failures.len() >= MAX_CLIENTS {
                let oldest =
                    failures.iter().min_by_key(|(_, t)| t.back().copied()).map(|(ip, _)| *ip);
                if let Some(ip) = oldest {
                    failures.remove(&ip);
                }
            }
        }
        let times = failures.entry(client).or_default();
        forget_old(times, now);
        times.push_back(now);
    }

    /// Forgets `client`'s failures (it logged in).
    pub fn succeeded(&self, client: IpAddr) {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner).remove(&client);
    }
}

/// Drops the failures older than the window.
fn forget_old(times: &mut VecDeque<Instant>, now: Instant) {
    while times.front().is_some_and(|&t| now.saturating_duration_since(t) >= WINDOW) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 8));

    #[test]
    fn the_sixth_try_within_a_minute_waits_until_the_first_failure_is_a_minute_old() {
        let throttle = Throttle::default();
        let start = Instant::now();
        for i in 0..5 {
            let at = start + Duration::from_secs(i * 10);
            assert_eq!(throttle.check(CLIENT, at), Ok(()), "try {}", i + 1);
            throttle.failed(CLIENT, at);
        }
        let sixth = start + Duration::from_secs(45);
        assert_eq!(throttle.check(CLIENT, sixth), Err(Duration::from_secs(15)));
        // Another client is not held back by this one.
        assert_eq!(throttle.check(OTHER, sixth), Ok(()));
        // A minute after the first failure, one more try is allowed; it fails, and the next
        // waits for the second failure to age out.
        let later = start + WINDOW;
        assert_eq!(throttle.check(CLIENT, later), Ok(()));
        throttle.failed(CLIENT, later);
        assert_eq!(throttle.check(CLIENT, later), Err(Duration::from_secs(10)));
    }

    #[test]
    fn a_login_forgets_the_failures() {
        let throttle = Throttle::default();
        let now = Instant::now();
        for _ in 0..4 {
            throttle.failed(CLIENT, now);
        }
        throttle.succeeded(CLIENT);
        for _ in 0..4 {
            throttle.failed(CLIENT, now);
        }
        assert_eq!(throttle.check(CLIENT, now), Ok(()), "four failures since the login");
    }

    #[test]
    fn the_map_stays_bounded() {
        let throttle = Throttle::default();
        let now = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 10) {
            throttle.failed(IpAddr::V4(i.into()), now + Duration::from_millis(u64::from(i)));
        }
        let tracked = throttle.failures.lock().unwrap().len();
        assert_eq!(tracked, MAX_CLIENTS);
    }
}
