//! What an alert says, and how each service wants it: the text for each alert kind, and the
//! request (URL and JSON body) for each format.

use reqwest::Url;
use serde_json::{Value, json};

use super::{AlertKind, Format};

/// One alert, before it is shaped for a service.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The outbox row id (the first one, for a digest).
    pub id: i64,
    /// What it reports.
    pub kind: AlertKind,
    /// The job's key, for a single dead letter.
    pub key: Option<String>,
    /// A one-line summary.
    pub title: String,
    /// The full text a person reads.
    pub text: String,
    /// The machine-readable details (JSON format only).
    pub details: Value,
}

impl Message {
    /// The message for one outbox row.
    pub fn from_outbox(id: i64, kind: AlertKind, key: Option<&str>, details: Value) -> Message {
        let s = |f: &str| details[f].as_str().unwrap_or("?").to_owned();
        // A `[[limit]]`'s own breaker holds that limit's jobs only.
        let (breaker, held) = match details["limit"].as_str() {
            Some(limit) => {
                (format!("circuit breaker of [[limit]] {limit}"), format!("job of {limit}"))
            }
            None => ("circuit breaker".to_owned(), "job".to_owned()),
        };
        let (title, text) = match kind {
            AlertKind::DeadLetter => (
                format!("nightshift: {} dead-lettered", s("key")),
                format!(
                    "Job {} was dead-lettered ({}) after {} attempt(s). Last error: {}\nReplay it with `nightshift dlq replay {}` once the cause is fixed.",
                    s("key"),
                    s("reason"),
                    details["attempts"],
                    s("error"),
                    s("key")
                ),
            ),
            AlertKind::CapHit => (
                "nightshift: daily spend cap reached".to_owned(),
                format!(
                    "Spent ${} of the ${} daily cap on {} (UTC). No job is claimed until the next UTC day; jobs stay pending.",
                    details["spent_usd"],
                    details["cap_usd"],
                    s("day")
                ),
            ),
            AlertKind::BreakerOpened if details["cause"] == "auth" => (
                format!("nightshift: {breaker} opened (auth failure)"),
                format!(
                    "Job {} failed with error_class auth: {}\nEvery {held} would fail the same way, so no {held} is claimed for {} ms, then one probe job decides. Check the credentials.",
                    s("last_key"),
                    s("error"),
                    details["cooldown_ms"]
                ),
            ),
            AlertKind::BreakerOpened => (
                format!("nightshift: {breaker} opened"),
                format!(
                    "{} attempts failed in a row (last: {}). No {held} is claimed for {} ms, then one probe job decides.",
                    details["failures"],
                    s("last_key"),
                    details["cooldown_ms"]
                ),
            ),
            AlertKind::Waiting => (
                format!("nightshift: {} waits for {}", s("key"), s("name")),
                format!(
                    "Job {} waits for the signal {} (until {} unix ms, then {}).\nContinue it with `{}`, the payload on stdin.",
                    s("key"),
                    s("name"),
                    details["until"],
                    s("on_timeout"),
                    s("command")
                ),
            ),
            AlertKind::CrashLoop => (
                "nightshift: runner stopped in a crash loop".to_owned(),
                format!("The runner gave up restarting: {}", s("reason")),
            ),
            // A digest or a test is built by its own constructor; an outbox row never holds one.
            AlertKind::Digest | AlertKind::Test => {
                (format!("nightshift: {kind}"), details.to_string())
            }
        };
        Message { id, kind, key: key.map(str::to_owned), title, text, details }
    }

    /// One digest naming every key in `dead` (key, error) pairs.
    pub fn digest(id: i64, dead: &[(String, String)]) -> Message {
        let mut text = format!("{} jobs were dead-lettered:\n", dead.len());
        for (key, error) in dead {
            let error: String = error.chars().take(80).collect();
            text.push_str(&format!("- {key}: {error}\n"));
        }
        let keys: Vec<&str> = dead.iter().map(|(k, _)| k.as_str()).collect();
        Message {
            id,
            kind: AlertKind::Digest,
            key: None,
            title: format!("nightshift: {} jobs dead-lettered", dead.len()),
            text,
            details: json!({ "count": dead.len(), "keys": keys }),
        }
    }

    /// The message `alert test` sends.
    pub fn test() -> Message {
        Message {
            id: 0,
            kind: AlertKind::Test,
            key: None,
            title: "nightshift: test alert".to_owned(),
            text: "This is a test alert from `nightshift alert test`: alerts reach you.".to_owned(),
            details: json!({}),
        }
    }
}

/// The longest text each service takes in one message.
pub(crate) fn text_limit(format: Format) -> usize {
    match format {
        Format::Discord => 2000,
        Format::Telegram | Format::Ntfy => 4096,
        Format::Slack => 30_000,
        Format::Json => 100_000,
    }
}

/// The URL and body to post `msg` to `url` in `format`.
pub(crate) fn request(format: Format, url: &Url, msg: &Message) -> (Url, Value) {
    let text = cut(&format!("{}\n{}", msg.title, msg.text), text_limit(format));
    match format {
        Format::Json => (
            url.clone(),
            json!({ "id": msg.id, "kind": msg.kind.as_str(), "key": msg.key, "title": msg.title,
                    "text": msg.text, "details": msg.details }),
        ),
        Format::Slack => (url.clone(), json!({ "text": slack_escape(&text) })),
        Format::Discord => {
            let mut url = url.clone();
            let others: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "wait")
                .map(|(k, v)| (k.into(), v.into()))
                .collect();
            url.query_pairs_mut().clear().extend_pairs(others).append_pair("wait", "true");
            // No mentions: job text must never ping @everyone.
            (url, json!({ "content": text, "allowed_mentions": { "parse": [] } }))
        }
        Format::Ntfy => {
            let topic = url.path().trim_matches('/').to_owned();
            let mut root = url.clone();
            root.set_path("/");
            root.set_query(None);
            let body = json!({ "topic": topic, "title": msg.title, "message": cut(&msg.text, 4096),
                               "tags": [msg.kind.as_str()], "priority": 4 });
            (root, body)
        }
        Format::Telegram => {
            let chat_id = url
                .query_pairs()
                .find(|(k, _)| k == "chat_id")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let mut bare = url.clone();
            bare.set_query(None);
            // No parse_mode: job text is untrusted and must not be read as markup.
            (bare, json!({ "chat_id": chat_id, "text": text, "disable_web_page_preview": true }))
        }
    }
}

fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::AlertFormat;

    fn msg() -> Message {
        Message::from_outbox(
            7,
            AlertKind::DeadLetter,
            Some("job-1"),
            json!({"key": "job-1", "reason": "exhausted", "attempts": 4, "error": "<@everyone> & boom"}),
        )
    }

    #[test]
    fn discord_waits_for_the_save_and_mentions_nobody() {
        let url = Url::parse("https://discord.com/api/webhooks/1/tok").unwrap();
        let (u, body) = request(Format::Discord, &url, &msg());
        assert_eq!(u.query(), Some("wait=true"));
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
        assert!(body["content"].as_str().unwrap().contains("job-1"));
    }

    #[test]
    fn a_limits_breaker_alert_names_the_limit_whose_jobs_it_holds() {
        let body =
            json!({"failures": 5, "cooldown_ms": 60000, "last_key": "o9", "limit": "openai"});
        let m = Message::from_outbox(1, AlertKind::BreakerOpened, None, body);
        assert_eq!(m.title, "nightshift: circuit breaker of [[limit]] openai opened");
        assert!(m.text.contains("No job of openai is claimed for 60000 ms"), "{}", m.text);
        let global = json!({"failures": 5, "cooldown_ms": 60000, "last_key": "k"});
        let m = Message::from_outbox(1, AlertKind::BreakerOpened, None, global);
        assert_eq!(m.title, "nightshift: circuit breaker opened");
    }

    #[test]
    fn slack_escapes_markup() {
        let url = Url::parse("https://hooks.slack.com/services/T/B/x").unwrap();
        let (_, body) = request(Format::Slack, &url, &msg());
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("&lt;@everyone&gt; &amp; boom"), "{text}");
    }

    #[test]
    fn ntfy_posts_to_the_root_with_the_topic() {
        let url = Url::parse("https://ntfy.sh/my-alerts").unwrap();
        let (u, body) = request(Format::Ntfy, &url, &msg());
        assert_eq!(u.as_str(), "https://ntfy.sh/");
        assert_eq!(body["topic"], "my-alerts");
        assert!(body["message"].as_str().unwrap().contains("job-1"));
    }

    #[test]
    fn telegram_takes_the_chat_from_the_query() {
        let url =
            Url::parse("https://api.telegram.org/bot123:abc/sendMessage?chat_id=-42").unwrap();
        let (u, body) = request(Format::Telegram, &url, &msg());
        assert_eq!(u.query(), None);
        assert_eq!(body["chat_id"], "-42");
        assert!(body.get("parse_mode").is_none());
    }

    #[test]
    fn kinds_and_formats_read_back_their_own_words_and_refuse_others() {
        for kind in AlertKind::ALL {
            assert_eq!(kind.as_str().parse::<AlertKind>(), Ok(kind));
        }
        let err = "deadletter".parse::<AlertKind>().unwrap_err();
        assert!(err.contains("\"deadletter\"") && err.contains("dead_letter"), "{err}");
        for format in AlertFormat::ALL {
            assert_eq!(format.as_str().parse::<AlertFormat>(), Ok(format));
        }
        let err = "teams".parse::<AlertFormat>().unwrap_err();
        assert!(err.contains("\"teams\"") && err.contains("slack"), "{err}");
    }

    #[test]
    fn auto_picks_by_host() {
        let pick = |u: &str| AlertFormat::Auto.resolve(&Url::parse(u).unwrap());
        assert_eq!(pick("https://hooks.slack.com/services/a"), Format::Slack);
        assert_eq!(pick("https://discord.com/api/webhooks/1/t"), Format::Discord);
        assert_eq!(pick("https://ntfy.sh/topic"), Format::Ntfy);
        assert_eq!(pick("https://api.telegram.org/botX/sendMessage?chat_id=1"), Format::Telegram);
        assert_eq!(pick("https://example.com/hook"), Format::Json);
    }

    #[test]
    fn long_text_is_cut_to_the_service_limit() {
        let mut m = msg();
        m.text = "x".repeat(5000);
        let url = Url::parse("https://discord.com/api/webhooks/1/t").unwrap();
        let (_, body) = request(Format::Discord, &url, &m);
        assert_eq!(body["content"].as_str().unwrap().chars().count(), 2000);
    }
}
