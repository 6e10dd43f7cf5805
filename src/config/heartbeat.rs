//! `[heartbeat]`: the dead-man's switch, an outside monitor that `run` pings so that a runner
//! which stopped altogether (a reclaimed VM, a crash loop past the restart policy) is noticed.
//! Not the lease heartbeat a worker sends the Store while it holds a job.
//!
//! - `url`: the ping URL, a secret (whoever has it can ping, or silence the alarm). The
//!   `HEARTBEAT_URL` variable wins over the file. Never shown beyond its scheme and host.
//! - `interval = "5m"`: how often a continuous runner pings while healthy; at least a second.

use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use super::{ConfigError, bad, parse_duration};

/// Where the URL may come from, as the messages name it.
const URL_KEY: &str = "HEARTBEAT_URL / [heartbeat] url";

/// The shortest interval taken: a ping a second is already far more than any monitor needs.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Below this an interval is allowed but warned about: a monitor's period is counted in
/// minutes (healthchecks.io's shortest is one), so the extra pings only add load.
const WARN_BELOW: Duration = Duration::from_secs(60);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HeartbeatFile {
    url: Option<String>,
    interval: Option<String>,
}

/// The dead-man's switch's settings. Holds the ping URL, a secret: no Debug, never printed.
#[derive(Clone)]
pub struct HeartbeatSettings {
    pub url: Url,
    /// The URL as it was given (trimmed), which a variable handed to a handler may hold.
    pub text: String,
    /// How often a continuous runner pings while healthy.
    pub interval: Duration,
}

impl HeartbeatSettings {
    /// `https://host` (with the port when there is one): all of the URL that may be shown.
    pub fn shown(&self) -> String {
        let host = self.url.host_str().unwrap_or("?");
        match self.url.port() {
            Some(port) => format!("{}://{host}:{port}", self.url.scheme()),
            None => format!("{}://{host}", self.url.scheme()),
        }
    }
}

impl HeartbeatFile {
    /// The switch, if a URL is set; `env_url` is `HEARTBEAT_URL`, which wins over the file.
    /// Pushes a warning for settings that work but are probably mistakes.
    pub(super) fn parse(
        self,
        env_url: Option<String>,
        warnings: &mut Vec<String>,
    ) -> Result<Option<HeartbeatSettings>, ConfigError> {
        let text = self.interval.as_deref().unwrap_or("5m");
        let interval = parse_duration("[heartbeat] interval", text)?;
        if interval < MIN_INTERVAL {
            return Err(bad(format!(
                "[heartbeat] interval = {text:?} is under a second; give at least \"1s\" \
                 (\"5m\", the default, suits most monitors)"
            )));
        }
        let Some(url) = env_url.or(self.url) else {
            if self.interval.is_some() {
                warnings.push(
                    "[heartbeat] interval is set but no URL is (HEARTBEAT_URL or [heartbeat] \
                     url): nothing is pinged"
                        .to_owned(),
                );
            }
            return Ok(None);
        };
        let text_url = url.trim().to_owned();
        let url = check_url(&text_url)?;
        if interval < WARN_BELOW {
            warnings.push(format!(
                "[heartbeat] interval = {text:?} is under a minute: monitors count their period \
                 in minutes, so most of these pings tell them nothing new"
            ));
        }
        Ok(Some(HeartbeatSettings { url, text: text_url, interval }))
    }
}

/// Refuses a ping URL that cannot work, without ever echoing it (it is a secret).
fn check_url(text: &str) -> Result<Url, ConfigError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(bad(format!("the heartbeat URL ({URL_KEY}) is empty; unset it or give a URL")));
    }
    let fix = "give the ping URL your monitor shows, like https://hc-ping.com/<uuid>";
    let url = Url::parse(text).map_err(|e| {
        bad(format!("the heartbeat URL ({URL_KEY}) is not a valid URL ({e}); {fix}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!("the heartbeat URL ({URL_KEY}) is not an http(s) URL; {fix}")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!("the heartbeat URL ({URL_KEY}) has no host; {fix}")));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        file: &str,
        env: Option<&str>,
    ) -> (Result<Option<HeartbeatSettings>, ConfigError>, usize) {
        let file: HeartbeatFile = toml::from_str(file).unwrap();
        let mut warnings = Vec::new();
        let parsed = file.parse(env.map(str::to_owned), &mut warnings);
        (parsed, warnings.len())
    }

    #[test]
    fn the_environment_wins_and_the_interval_defaults_to_five_minutes() {
        let (parsed, warned) =
            parse("url = \"https://file.example/a\"", Some("https://env.example/b"));
        let beat = parsed.unwrap().unwrap();
        assert_eq!(beat.url.host_str(), Some("env.example"));
        assert_eq!(beat.interval, Duration::from_secs(300));
        assert_eq!(warned, 0);
        assert!(parse("", None).0.unwrap().is_none());
    }

    #[test]
    fn bad_values_name_the_key_and_never_echo_the_url() {
        for (file, env, names) in [
            ("url = \"ftp://h.example/SECRET\"", None, "[heartbeat] url"),
            ("", Some("not a url SECRET"), "HEARTBEAT_URL"),
            ("", Some("  "), "HEARTBEAT_URL"),
            ("url = \"https://h.example/SECRET\"\ninterval = \"500ms\"", None, "interval"),
            ("interval = \"soon\"", None, "[heartbeat] interval"),
        ] {
            let error = parse(file, env).0.err().expect(file).0;
            assert!(error.contains(names), "{error}");
            assert!(!error.contains("SECRET"), "{error}");
        }
    }

    #[test]
    fn a_short_interval_is_taken_with_a_warning() {
        let (parsed, warned) = parse("url = \"http://127.0.0.1:9/x\"\ninterval = \"1s\"", None);
        assert_eq!(parsed.unwrap().unwrap().interval, Duration::from_secs(1));
        assert_eq!(warned, 1);
    }

    #[test]
    fn only_the_scheme_host_and_port_are_shown() {
        let beat = |url: &str| HeartbeatSettings {
            url: Url::parse(url).unwrap(),
            text: url.to_owned(),
            interval: MIN_INTERVAL,
        };
        assert_eq!(beat("https://u:pw@hc-ping.com/SECRET?x=1").shown(), "https://hc-ping.com");
        assert_eq!(beat("http://127.0.0.1:8080/ping/SECRET").shown(), "http://127.0.0.1:8080");
    }
}
