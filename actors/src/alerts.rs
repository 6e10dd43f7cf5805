//! Alert delivery targets: one generic message rendered for Slack, Discord, ntfy, Telegram or
//! plain JSON, posted with a bounded timeout. The URL usually carries a token, so it is never
//! part of an error or a log line: reqwest's errors are stripped of it.

mod render;

use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

pub use render::Message;

/// How alert bodies are shaped.
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

impl Format {
    /// Resolves a configured format name; `auto` picks by the URL's host.
    pub fn resolve(name: &str, url: &Url) -> Result<Format, String> {
        Ok(match name {
            "slack" => Format::Slack,
            "discord" => Format::Discord,
            "ntfy" => Format::Ntfy,
            "telegram" => Format::Telegram,
            "json" => Format::Json,
            "auto" => {
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
            other => {
                return Err(format!(
                    "alert format {other:?} is not one of auto, slack, discord, ntfy, telegram, json"
                ));
            }
        })
    }
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
    pub fn new(url: &str, format: &str) -> Result<Target, String> {
        Self::with_timeout(url, format, Duration::from_secs(10))
    }

    /// As [`Target::new`] with the given per-request timeout.
    pub fn with_timeout(url: &str, format: &str, timeout: Duration) -> Result<Target, String> {
        let url = Url::parse(url.trim())
            .map_err(|e| format!("the alert webhook is not a valid URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("the alert webhook must be an http(s) URL".to_owned());
        }
        let format = Format::resolve(format, &url)?;
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
            text: format!("webhook request failed: {}", e.without_url()),
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
