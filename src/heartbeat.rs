//! The dead-man's switch (`[heartbeat] url`): `run` pings an outside monitor, so a runner that
//! stopped altogether (a reclaimed VM, a crash loop past its restart policy) is noticed by
//! something that did not stop with it.
//!
//! The pings follow the healthchecks.io convention, which most monitors accept as it is:
//!
//! - `<url>/start` when `run --once` begins;
//! - `<url>` when `run --once` ends with exit 0, and from a continuous runner when it starts and
//!   every `[heartbeat] interval` while it is healthy;
//! - `<url>/fail` when `run` ends non-zero, in either mode.
//!
//! Each is a POST whose short text body says what happened (the exit status and the first line
//! of the reason for a failure; never a secret), with a 5 s timeout. A ping that fails is a
//! `heartbeat_failed` warning naming the monitor's scheme and host only, and changes nothing
//! else: pings never fail a run.
//!
//! Nor do they delay one. The pings go out from a thread of their own, with its own small
//! runtime, one at a time and in order (a `/start` still on its way is never overtaken by the
//! run's last ping). A hung DNS lookup or TLS handshake therefore holds neither the runner's
//! runtime nor its shutdown, and at exit the runner waits at most [`EXIT_WAIT`] for the last
//! ping before it leaves without it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::Url;

use crate::Failure;
use crate::config;

/// How long one ping may take, connecting included.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// The most a run's exit waits for its pings to finish.
pub const EXIT_WAIT: Duration = Duration::from_secs(2);

/// The most of a failure's reason a `/fail` ping carries.
const REASON_MAX: usize = 500;

/// One ping.
pub enum Ping {
    /// `run --once` begins.
    Start,
    /// A continuous runner is healthy.
    Alive,
    /// `run --once` ended with exit 0.
    Success,
    /// `run` ended non-zero.
    Fail { code: u8, reason: String },
}

impl Ping {
    /// The `/fail` ping for a run that ended with `failure`.
    pub fn failed(failure: &Failure) -> Self {
        let reason = crate::output::one_line(&failure.to_string(), REASON_MAX);
        Ping::Fail { code: failure.code(), reason }
    }

    /// The name events give it.
    fn name(&self) -> &'static str {
        match self {
            Ping::Start => "start",
            Ping::Alive => "alive",
            Ping::Success => "success",
            Ping::Fail { .. } => "fail",
        }
    }

    /// `base` with this ping's suffix added to its path (its query, if any, kept).
    fn url(&self, base: &Url) -> Url {
        let suffix = match self {
            Ping::Start => "start",
            Ping::Fail { .. } => "fail",
            Ping::Alive | Ping::Success => return base.clone(),
        };
        let mut url = base.clone();
        let path = format!("{}/{suffix}", base.path().trim_end_matches('/'));
        url.set_path(&path);
        url
    }

    fn body(&self) -> String {
        match self {
            Ping::Start => "nightshift run --once started".to_owned(),
            Ping::Alive => "nightshift runner healthy".to_owned(),
            Ping::Success => "nightshift run --once ended: exit 0".to_owned(),
            Ping::Fail { code, reason } => format!("nightshift run ended: exit {code}: {reason}"),
        }
    }
}

/// The pinging thread's end of a run. Dropping it without [`Heartbeat::finish`] abandons what
/// is still queued.
pub struct Heartbeat {
    queue: Option<mpsc::Sender<Ping>>,
    /// Pings queued or on their way; an `Alive` ping is skipped while one is.
    in_flight: Arc<AtomicUsize>,
    /// Closed when the thread has sent everything and ended.
    ended: mpsc::Receiver<()>,
}

impl Heartbeat {
    /// Starts the pinging thread for `settings`. `None` (with a warning) if it cannot start:
    /// the run goes on without its heartbeat.
    pub fn start(settings: &config::HeartbeatSettings) -> Option<Self> {
        let (queue, pings) = mpsc::channel();
        let (ended_tx, ended) = mpsc::channel::<()>();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let sender = Sender { url: settings.url.clone(), host: settings.shown() };
        let counter = in_flight.clone();
        let spawned = std::thread::Builder::new().name("heartbeat".to_owned()).spawn(move || {
            sender.work(&pings, &counter);
            drop(ended_tx);
        });
        if let Err(e) = spawned {
            tracing::warn!(target: "nightshift", event = "heartbeat_failed", ping = "none",
                host = settings.shown(), error = %format!("cannot start its thread: {e}"),
                reason = "the run goes on without its heartbeat");
            return None;
        }
        Some(Self { queue: Some(queue), in_flight, ended })
    }

    /// Queues `ping`; returns at once.
    pub fn ping(&self, ping: Ping) {
        if let Some(queue) = &self.queue {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            if queue.send(ping).is_err() {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Queues an `Alive` ping, unless one is still on its way (a slow monitor gets no backlog).
    pub fn alive(&self) {
        if self.in_flight.load(Ordering::SeqCst) == 0 {
            self.ping(Ping::Alive);
        }
    }

    /// Sends `last`, if any, after what is queued, and waits for them at most [`EXIT_WAIT`].
    pub fn finish(mut self, last: Option<Ping>) {
        if let Some(ping) = last {
            self.ping(ping);
        }
        self.queue = None;
        let waited = self.ended.recv_timeout(EXIT_WAIT);
        if !matches!(waited, Err(mpsc::RecvTimeoutError::Timeout)) {
            return;
        }
        tracing::warn!(target: "nightshift", event = "heartbeat_unfinished",
            pending = self.in_flight.load(Ordering::SeqCst),
            reason = "the heartbeat's host did not answer in time; the run ends without waiting \
                      for it");
    }
}

/// The pinging thread: sends each ping in turn until the runner closes the queue.
struct Sender {
    url: Url,
    /// The scheme and host, all of the URL events may name.
    host: String,
}

impl Sender {
    fn work(&self, pings: &mpsc::Receiver<Ping>, in_flight: &AtomicUsize) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        let client = reqwest::Client::builder()
            .timeout(PING_TIMEOUT)
            .connect_timeout(PING_TIMEOUT)
            .user_agent(concat!("nightshift/", env!("CARGO_PKG_VERSION")))
            .build();
        let (runtime, client) = match (runtime, client) {
            (Ok(runtime), Ok(client)) => (runtime, client),
            (Err(e), _) => return self.cannot_ping(&e.to_string()),
            (_, Err(e)) => return self.cannot_ping(&e.without_url().to_string()),
        };
        while let Ok(ping) = pings.recv() {
            runtime.block_on(self.send(&client, &ping));
            in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    async fn send(&self, client: &reqwest::Client, ping: &Ping) {
        let sent = client
            .post(ping.url(&self.url))
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(ping.body())
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().is_success() => {}
            Ok(answer) => {
                tracing::warn!(target: "nightshift", event = "heartbeat_failed",
                    ping = ping.name(), host = %self.host, status = answer.status().as_u16(),
                    reason = "the monitor refused the ping; check HEARTBEAT_URL / [heartbeat] url");
            }
            Err(e) => {
                let error = nightshift_actors::alerts::request_error(e, "heartbeat");
                tracing::warn!(target: "nightshift", event = "heartbeat_failed",
                    ping = ping.name(), host = %self.host, error = %error,
                    reason = "the ping did not reach the monitor; the run goes on");
            }
        }
    }

    fn cannot_ping(&self, error: &str) {
        tracing::warn!(target: "nightshift", event = "heartbeat_failed", ping = "none",
            host = %self.host, error = %format!("cannot start the HTTP client: {error}"),
            reason = "the run goes on without its heartbeat");
    }
}

/// Whether the monitor's host answers, without pinging it (a ping would tell the monitor a run
/// happened): a HEAD request to the root of its host, which names no check, redirects not
/// followed. Any HTTP answer will do. `Ok` is how long the answer took.
pub fn probe(settings: &config::HeartbeatSettings) -> Result<Duration, String> {
    let mut root = settings.url.clone();
    root.set_path("/");
    root.set_query(None);
    root.set_fragment(None);
    let _ = root.set_username("");
    let _ = root.set_password(None);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let client = reqwest::Client::builder()
        .timeout(PING_TIMEOUT)
        .connect_timeout(PING_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?;
    let started = Instant::now();
    // The request is made inside the runtime: its timeout is a tokio timer.
    match runtime.block_on(async { client.head(root).send().await }) {
        Ok(_) => Ok(started.elapsed()),
        Err(e) => Err(nightshift_actors::alerts::request_error(e, "heartbeat")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_go_on_the_path_and_keep_the_query() {
        let base = Url::parse("https://hc-ping.com/abc/").unwrap();
        assert_eq!(Ping::Start.url(&base).as_str(), "https://hc-ping.com/abc/start");
        assert_eq!(Ping::Success.url(&base).as_str(), "https://hc-ping.com/abc/");
        let base = Url::parse("https://hc-ping.com/key/slug?create=1").unwrap();
        let fail = Ping::Fail { code: 1, reason: "r".to_owned() };
        assert_eq!(fail.url(&base).as_str(), "https://hc-ping.com/key/slug/fail?create=1");
    }

    #[test]
    fn a_failure_ping_carries_the_exit_status_and_one_line_of_reason() {
        let ping = Ping::failed(&Failure::Locked("held by pid 7\nmore".to_owned()));
        assert_eq!(ping.body(), "nightshift run ended: exit 3: held by pid 7");
    }
}
