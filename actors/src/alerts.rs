//! Alert delivery targets: one generic message rendered for Slack, Discord, ntfy, Telegram or
//! plain JSON, posted with a bounded timeout. The URL usually carries a token, so it is never
//! part of an error or a log line: reqwest's errors are stripped of it.

mod render;

use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

pub use render::Message;

/// What an alert reports. The text ([`AlertKind::as_str`]) is what the `alerts` table's `kind`
/// column and the JSON format's `kind` field hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// One dead-lettered job.
    DeadLetter,
    /// Several dead-lettered jobs in one message (a storm), naming every key.
    Digest,
    /// The daily spend cap was reached.
    CapHit,
    /// The circuit breaker opened.
    BreakerOpened,
    /// The runner gave up restarting its actors.
    CrashLoop,
    /// `nightshift alert test`.
    Test,
    /// A job waits for a signal (`nightshift signal KEY NAME -` continues it).
    Waiting,
}

impl AlertKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [AlertKind; 7] = [
        AlertKind::DeadLetter,
        AlertKind::Digest,
        AlertKind::CapHit,
        AlertKind::BreakerOpened,
        AlertKind::CrashLoop,
        AlertKind::Test,
        AlertKind::Waiting,
    ];

    /// The stored and posted word.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertKind::DeadLetter => "dead_letter",
            AlertKind::Digest => "dead_letter_digest",
            AlertKind::CapHit => "cap_hit",
            AlertKind::BreakerOpened => "breaker_opened",
            AlertKind::CrashLoop => "crash_loop",
            AlertKind::Test => "test",
            AlertKind::Waiting => "waiting",
        }
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AlertKind {
    type Err = String;

    /// Reads a stored word back; any other text is refused, naming the words known.
    fn from_str(s: &str) -> Result<AlertKind, String> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            let known: Vec<&str> = AlertKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown alert kind {s:?} (known: {})", known.join(", "))
        })
    }
}

/// The configured body format: a service, or `auto` to pick one by the webhook's URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertFormat {
    /// Pick by the URL's host ([`AlertFormat::resolve`]).
    #[default]
    Auto,
    /// Always [`Format::Slack`].
    Slack,
    /// Always [`Format::Discord`].
    Discord,
    /// Always [`Format::Ntfy`].
    Ntfy,
    /// Always [`Format::Telegram`].
    Telegram,
    /// Always [`Format::Json`].
    Json,
}

impl AlertFormat {
    /// Every format, in the order the docs list them.
    pub const ALL: [AlertFormat; 6] = [
        AlertFormat::Auto,
        AlertFormat::Slack,
        AlertFormat::Discord,
        AlertFormat::Ntfy,
        AlertFormat::Telegram,
        AlertFormat::Json,
    ];

    /// The word written in `[alert] format`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertFormat::Auto => "auto",
            AlertFormat::Slack => "slack",
            AlertFormat::Discord => "discord",
            AlertFormat::Ntfy => "ntfy",
            AlertFormat::Telegram => "telegram",
            AlertFormat::Json => "json",
        }
    }

    /// The format a request to `url` is shaped in; `auto` picks by the URL's host.
    pub fn resolve(self, url: &Url) -> Format {
        match self {
            AlertFormat::Slack => Format::Slack,
            AlertFormat::Discord => Format::Discord,
            AlertFormat::Ntfy => Format::Ntfy,
            AlertFormat::Telegram => Format::Telegram,
            AlertFormat::Json => Format::Json,
            AlertFormat::Auto => {
                let host = url.host_str().unwrap_or("");
                if host == "hooks.slack.com" {
                    Format::Slack
                } else if (host.ends_with("discord.com") || host.ends_with("discordapp.com"))
                    && url.path().starts_with("/api/webhooks")
                {
                    Format::Discord
                } else if host == "api.telegram.org" {
                    Format::Telegram
                } else if host.contains("ntfy") {
                    Format::Ntfy
                } else {
                    Format::Json
                }
            }
        }
    }
}

impl std::fmt::Display for AlertFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AlertFormat {
    type Err = String;

    /// Reads a configured format name; any other text is refused, naming the ones known.
    fn from_str(s: &str) -> Result<AlertFormat, String> {
        AlertFormat::ALL.into_iter().find(|f| f.as_str() == s).ok_or_else(|| {
            format!("alert format {s:?} is not one of auto, slack, discord, ntfy, telegram, json")
        })
    }
}

/// How alert bodies are shaped: the service a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Slack incoming webhook: `{"text"}`.
    Slack,
    /// Discord webhook, posted with `?wait=true` so a message that was not saved is an error.
    Discord,
    /// ntfy JSON publishing to the server root with the topic in the body.
    Ntfy,
    /// Telegram Bot API `sendMessage`; the chat id comes from the URL's `chat_id` query.
    Telegram,
    /// nightshift's own JSON: `{"id", "kind", "key", "title", "text", "details"}`.
    Json,
}

/// A failed delivery.
#[derive(Debug, Clone)]
pub struct SendError {
    /// What went wrong, without the URL.
    pub text: String,
    /// The receiver asked to wait this long (429 Retry-After, Discord's or Telegram's body).
    pub retry_after: Option<Duration>,
    /// Retrying cannot help (400, 401, 403, 404, 410...).
    pub permanent: bool,
}

/// Why a request got no answer, in words a person can act on, found by walking the error's
/// source chain (reqwest's own "error sending request" says nothing). Never the URL: it holds
/// the webhook's token.
fn describe(e: reqwest::Error) -> String {
    request_error(e, "webhook")
}

/// Why a request to `peer`'s host (`"webhook"`, `"heartbeat"`) got no answer: a timeout, a
/// name that does not resolve, a refused or reset connection, a TLS error. Never the URL, which
/// holds a secret; a host embedding nightshift uses it for its own requests to such URLs.
pub fn request_error(e: reqwest::Error, peer: &str) -> String {
    use std::error::Error;
    if e.is_timeout() {
        return format!("timed out: the {peer}'s host did not answer in time");
    }
    if e.is_dns() {
        return format!("the {peer}'s host name does not resolve (DNS); check the URL's host");
    }
    let mut next = e.source();
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(why) = io_reason(io, peer) {
                return why;
            }
            // An io::Error's source() skips the error it wraps (hyper wraps the TLS layer's
            // io::Error in another): look inside.
            if let Some(inner) = io.get_ref() {
                next = Some(inner);
                continue;
            }
        }
        next = err.source();
    }
    if e.is_connect() {
        return format!("could not connect to the {peer}'s host");
    }
    e.without_url().to_string()
}

/// What an I/O error under a request means, for the kinds a request to a webhook (or any
/// other small HTTP endpoint) meets.
fn io_reason(io: &std::io::Error, peer: &str) -> Option<String> {
    use std::io::ErrorKind;
    let why = match io.kind() {
        ErrorKind::ConnectionRefused => {
            format!("connection refused: nothing listens at the {peer}'s host and port")
        }
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
            format!("the connection was reset by the {peer}'s host")
        }
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
            format!("the {peer}'s host is unreachable from here")
        }
        ErrorKind::UnexpectedEof => format!("the {peer}'s host closed the connection"),
        // tokio-rustls reports a failed handshake (a bad certificate, a plain-HTTP port behind
        // an https URL) as invalid data; its text names the TLS problem, never the URL.
        ErrorKind::InvalidData => format!("TLS error: {io}"),
        _ => return None,
    };
    Some(why)
}

/// A webhook to deliver alerts to.
#[derive(Clone)]
pub struct Target {
    url: Url,
    format: Format,
    client: reqwest::Client,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = self.url.host_str().unwrap_or("?");
        write!(f, "Target({}://{host}/…, {:?})", self.url.scheme(), self.format)
    }
}

impl Target {
    /// A target for `url` in `format` (`auto` picks by host), with a 10 s request timeout.
    pub fn new(url: &str, format: AlertFormat) -> Result<Target, String> {
        Self::with_timeout(url, format, Duration::from_secs(10))
    }

    /// As [`Target::new`] with the given per-request timeout.
    pub fn with_timeout(
        url: &str,
        format: AlertFormat,
        timeout: Duration,
    ) -> Result<Target, String> {
        let url = Url::parse(url.trim())
            .map_err(|e| format!("the alert webhook is not a valid URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("the alert webhook must be an http(s) URL".to_owned());
        }
        let format = format.resolve(&url);
        if format == Format::Telegram && !url.query_pairs().any(|(k, _)| k == "chat_id") {
            return Err("a Telegram alert webhook needs the chat: add ?chat_id=<id> to the \
                        sendMessage URL"
                .to_owned());
        }
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?;
        Ok(Target { url, format, client })
    }

    /// The resolved format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The longest text one message may carry in this format.
    pub fn text_limit(&self) -> usize {
        render::text_limit(self.format)
    }

    /// Posts one message.
    pub async fn send(&self, msg: &Message) -> Result<(), SendError> {
        let (url, body) = render::request(self.format, &self.url, msg);
        let sent = self.client.post(url).json(&body).send().await;
        let response = sent.map_err(|e| SendError {
            text: format!("webhook request failed: {}", describe(e)),
            retry_after: None,
            permanent: false,
        })?;
        let status = response.status();
        let header_wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let text = response.text().await.unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let telegram_refused = self.format == Format::Telegram && json["ok"] == Value::Bool(false);
        if status.is_success() && !telegram_refused {
            return Ok(());
        }
        let body_wait = json["retry_after"].as_f64().or(json["parameters"]["retry_after"].as_f64());
        let retry_after = header_wait
            .or(body_wait)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(86_400.0)));
        let code = json["error_code"].as_u64().map_or(status.as_u16(), |c| c as u16);
        let permanent = (400..500).contains(&code) && code != 408 && code != 429;
        Err(SendError { text: format!("webhook answered HTTP {code}"), retry_after, permanent })
    }

    /// Sends a test alert; `Ok` says what was delivered.
    pub async fn send_test(&self) -> Result<String, String> {
        let msg = Message::test();
        match self.send(&msg).await {
            Ok(()) => Ok(format!("test alert delivered ({:?} format)", self.format)),
            Err(e) => Err(format!("test alert not delivered: {}", e.text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    /// A loopback URL carrying a token that must never show in an error.
    fn url(scheme: &str, port: u16) -> String {
        format!("{scheme}://127.0.0.1:{port}/hooks/SECRET-TOKEN")
    }

    async fn failure(url: &str) -> String {
        let target =
            Target::with_timeout(url, AlertFormat::Json, Duration::from_millis(500)).unwrap();
        let text = target.send_test().await.unwrap_err();
        assert!(!text.contains("SECRET-TOKEN") && !text.contains("127.0.0.1"), "{text}");
        text
    }

    #[tokio::test]
    async fn nothing_listening_is_connection_refused() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let text = failure(&url("http", port)).await;
        assert!(text.contains("connection refused"), "{text}");
    }

    #[tokio::test]
    async fn a_host_that_never_answers_timed_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepted by the kernel's backlog, never read or answered.
        let text = failure(&url("http", port)).await;
        assert!(text.contains("timed out"), "{text}");
        drop(listener);
    }

    #[tokio::test]
    async fn plain_http_behind_an_https_url_is_a_tls_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut conn, _)) = listener.accept() {
                let _ = conn.read(&mut [0u8; 1024]);
                let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
            }
        });
        let text = failure(&url("https", port)).await;
        assert!(text.contains("TLS error"), "{text}");
    }
}
