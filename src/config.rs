//! Settings from `nightshift.toml`, the environment and flags, in that order of precedence
//! reversed: a flag beats the environment, which beats the file, which beats the default.
//! Unknown keys, wrong types, bad durations and non-finite money are errors that name the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nightshift_actors::alerts::AlertFormat;
use nightshift_actors::{AlertConfig, BreakerConfig, EngineConfig, RetryConfig, Synchronous};
use serde::Deserialize;

use crate::schedule::Schedule;

mod db;
mod heartbeat;
mod http;
mod limits;
pub mod payload;
mod retention;
mod webhook;

use webhook::check_webhook;

pub use heartbeat::HeartbeatSettings;
pub use http::HttpSettings;
pub use payload::PayloadFormat;

/// The default config file, read when present.
pub const DEFAULT_CONFIG: &str = "nightshift.toml";
/// The default database file.
pub const DEFAULT_DB: &str = "nightshift.db";

/// A config error: exit code 2, with a message that names the key and the fix.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn bad(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    db: Option<PathBuf>,
    #[serde(default)]
    handler: HandlerFile,
    #[serde(default)]
    retry: RetryFile,
    #[serde(default)]
    budget: BudgetFile,
    #[serde(default)]
    breaker: BreakerFile,
    #[serde(default)]
    alert: AlertFile,
    #[serde(default)]
    store: StoreFile,
    #[serde(default)]
    schedule: Vec<ScheduleFile>,
    #[serde(default)] // [[limit]]
    limit: Vec<limits::LimitFile>,
    #[serde(default)]
    retention: retention::RetentionFile,
    #[serde(default)]
    heartbeat: heartbeat::HeartbeatFile,
    #[serde(default)]
    http: http::HttpFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    name: String,
    cron: String,
    payload: Option<String>,
    queue: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HandlerFile {
    command: Option<Vec<String>>,
    timeout: Option<String>,
    permanent_exit_codes: Option<Vec<i32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryFile {
    max_attempts: Option<u32>,
    base: Option<String>,
    cap: Option<String>,
    max_snoozes: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetFile {
    daily_usd: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BreakerFile {
    failures: Option<u32>,
    cooldown: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertFile {
    webhook: Option<String>,
    format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    synchronous: Option<String>,
    max_payload: Option<String>,
    lease: Option<String>,
    payload: Option<String>,
}

/// The effective settings. Holds the webhook and heartbeat URLs, secrets: never derive Debug
/// or print it.
pub struct Settings {
    pub db: PathBuf,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    pub handler: Option<Vec<String>>,
    pub timeout: Duration,
    pub permanent_exit_codes: Vec<i32>,
    pub retry: RetryConfig,
    /// The daily cap in micro-dollars, if one is set.
    pub daily_cap_micros: Option<i64>,
    /// Where the cap was read: `DAILY_CAP_USD`, or the config file's key.
    pub daily_cap_set_by: Option<String>,
    pub webhook: Option<String>,
    pub alert_format: AlertFormat,
    pub breaker: BreakerConfig,
    pub synchronous: Synchronous,
    pub max_payload: usize,
    /// `[store] lease`: how long a claim holds a job without a heartbeat (a third of it).
    pub lease: Duration,
    /// `[store] payload`: whether payloads must be JSON.
    pub payload: PayloadFormat,
    pub schedules: Vec<Schedule>,
    pub limits: Vec<nightshift_actors::LimitConfig>,
    pub retention: nightshift_actors::RetentionConfig,
    /// `[heartbeat]`: the dead-man's switch `run` pings, if a URL is set.
    pub heartbeat: Option<HeartbeatSettings>,
    /// `[http]`: the token file and request timeout of `serve`.
    pub http: HttpSettings,
    /// Things in the config that work but are probably mistakes; printed on stderr.
    pub warnings: Vec<String>,
}

/// Where the flags and the environment put things.
pub struct Sources<'a> {
    /// `--db` or `NIGHTSHIFT_DB`.
    pub db: Option<&'a Path>,
    /// `--config` or `NIGHTSHIFT_CONFIG`: must exist when given.
    pub config: Option<&'a Path>,
    /// Reads an environment variable (injected so tests are hermetic).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Whether `./nightshift.toml` is read when no config is given (the demo ignores it).
    pub default_file: bool,
}

impl Settings {
    pub fn load(src: &Sources<'_>) -> Result<Self, ConfigError> {
        let (file, config_file) = read_file(src.config, src.default_file)?;
        let retry = RetryConfig {
            max_attempts: file.retry.max_attempts.unwrap_or(4),
            base: duration("[retry] base", file.retry.base.as_deref(), "1s")?,
            cap: duration("[retry] cap", file.retry.cap.as_deref(), "60s")?,
            max_snoozes: file.retry.max_snoozes.unwrap_or(20),
        };
        if retry.max_attempts == 0 {
            return Err(bad("[retry] max_attempts must be at least 1"));
        }
        if retry.base > retry.cap {
            return Err(bad("[retry] base must not exceed [retry] cap"));
        }
        let (daily, daily_set_by) = match (src.env)("DAILY_CAP_USD") {
            Some(v) => (Some(money("DAILY_CAP_USD", &v)?), Some("DAILY_CAP_USD".to_owned())),
            None => match file.budget.daily_usd {
                Some(v) => (
                    Some(money_value("[budget] daily_usd", v)?),
                    config_file.as_ref().map(|f| format!("[budget] daily_usd in {}", f.display())),
                ),
                None => (None, None),
            },
        };
        let webhook = (src.env)("ALERT_WEBHOOK").or(file.alert.webhook);
        let webhook = webhook.map(|w| check_webhook(&w)).transpose()?;
        let alert_format = match file.alert.format.as_deref() {
            None => AlertFormat::Auto,
            Some(name) => name.parse().map_err(|_| {
                bad(format!(
                    "[alert] format = {name:?} is not one of auto, slack, discord, ntfy, telegram, json"
                ))
            })?,
        };
        let breaker = BreakerConfig {
            failures: file.breaker.failures.unwrap_or(5),
            cooldown: duration("[breaker] cooldown", file.breaker.cooldown.as_deref(), "60s")?,
            ..BreakerConfig::default()
        };
        if breaker.failures == 0 {
            return Err(bad("[breaker] failures must be at least 1"));
        }
        if let Some(url) = &webhook {
            // Checks the URL and the format together (a Telegram URL needs its chat_id).
            nightshift_actors::alerts::Target::new(url, alert_format).map_err(|e| {
                bad(format!("{e} (ALERT_WEBHOOK / [alert] webhook, [alert] format)"))
            })?;
        }
        let synchronous = match file.store.synchronous.as_deref().unwrap_or("full") {
            "full" | "FULL" => Synchronous::Full,
            "normal" | "NORMAL" => Synchronous::Normal,
            other => {
                return Err(bad(format!(
                    "[store] synchronous = {other:?}: use \"full\" or \"normal\""
                )));
            }
        };
        let handler = file.handler.command;
        if handler.as_ref().is_some_and(|c| c.is_empty() || c[0].is_empty()) {
            return Err(bad(
                "[handler] command is empty: give the program and its arguments, e.g. [\"python3\", \"agent.py\"]",
            ));
        }
        let permanent_exit_codes = file.handler.permanent_exit_codes.unwrap_or_else(|| vec![65]);
        if let Some(code) = permanent_exit_codes.iter().find(|c| !(1..=255).contains(*c)) {
            return Err(bad(format!(
                "[handler] permanent_exit_codes: {code} is not an exit status a handler can fail \
                 with; give codes from 1 to 255 (0 is success)"
            )));
        }
        if file.db.as_ref().is_some_and(|db| db.as_os_str().is_empty()) {
            let file = config_file.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG));
            return Err(bad(format!(
                "db = \"\" in {}: the database path is empty; give a path like \"nightshift.db\", \
                 or remove the line for the default",
                file.display()
            )));
        }
        let max_payload =
            payload::size("[store] max_payload", file.store.max_payload.as_deref(), 1024 * 1024)?;
        let lease = db::lease(file.store.lease.as_deref())?;
        let payload = PayloadFormat::parse(file.store.payload.as_deref())?;
        let mut schedules: Vec<Schedule> = Vec::new();
        let mut warnings = Vec::new();
        for s in file.schedule {
            if schedules.iter().any(|o| o.name == s.name) {
                return Err(bad(format!("[[schedule]] name {:?} appears twice", s.name)));
            }
            let text = s.payload.unwrap_or_else(|| "{}".to_owned());
            let queue = s.queue.unwrap_or_else(|| "default".to_owned());
            let schedule = Schedule::new(&s.name, &s.cron, text, queue)?;
            warnings.extend(schedule.check(max_payload, payload)?);
            schedules.push(schedule);
        }
        let heartbeat = file.heartbeat.parse((src.env)("HEARTBEAT_URL"), &mut warnings)?;
        Ok(Settings {
            db: src.db.map(Path::to_path_buf).or(file.db).unwrap_or_else(|| DEFAULT_DB.into()),
            config_file,
            handler,
            timeout: duration("[handler] timeout", file.handler.timeout.as_deref(), "5m")?,
            permanent_exit_codes,
            retry,
            daily_cap_micros: daily,
            daily_cap_set_by: daily_set_by,
            webhook,
            alert_format,
            breaker,
            synchronous,
            max_payload,
            lease,
            payload,
            retention: file.retention.parse(&schedules)?,
            schedules,
            limits: limits::parse(file.limit)?,
            heartbeat,
            http: file.http.parse()?,
            warnings,
        })
    }

    /// The engine's configuration for these settings.
    pub fn engine_config(&self) -> EngineConfig {
        let mut c = EngineConfig::new(&self.db);
        c.retry = self.retry;
        c.timeout = self.timeout;
        c.synchronous = self.synchronous;
        c.max_payload = self.max_payload;
        c.lease = self.lease;
        c.heartbeat = self.lease / 3;
        c.alert = match &self.webhook {
            Some(url) => AlertConfig::webhook(url.clone()),
            None => AlertConfig::default(),
        };
        c.alert.format = self.alert_format;
        c.daily_cap_micros = self.daily_cap_micros;
        c.daily_cap_set_by = self.daily_cap_set_by.clone();
        c.breaker = self.breaker;
        c.retention = self.retention.clone();
        c.limits = self.limits.clone();
        c
    }
}

fn read_file(
    explicit: Option<&Path>,
    default_file: bool,
) -> Result<(File, Option<PathBuf>), ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if default_file && Path::new(DEFAULT_CONFIG).is_file() => {
            PathBuf::from(DEFAULT_CONFIG)
        }
        None => return Ok((File::default(), None)),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        bad(format!(
            "cannot read config {}: {e}; check --config / NIGHTSHIFT_CONFIG",
            path.display()
        ))
    })?;
    let file: File = toml::from_str(&text)
        .map_err(|e| bad(format!("config {}: {}", path.display(), e.to_string().trim_end())))?;
    Ok((file, Some(path)))
}

/// Parses a humantime duration (`30s`, `5m`, `1h 30m`); zero is refused.
pub fn parse_duration(what: &str, text: &str) -> Result<Duration, ConfigError> {
    let d = parse_duration_or_zero(what, text)?;
    if d.is_zero() {
        return Err(bad(format!("{what} must be above zero")));
    }
    Ok(d)
}

/// As [`parse_duration`], with zero allowed: for `run --once --wait`, where `0s` means "do not
/// wait for retries". Everywhere else a zero duration is a mistake.
pub fn parse_duration_or_zero(what: &str, text: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        bad(format!(
            "{what} = {text:?} is not a duration ({e}); write it like \"30s\", \"5m\" or \"1h 30m\""
        ))
    })?;
    if d > Duration::from_secs(366 * 86_400) {
        return Err(bad(format!("{what} = {text:?} is over a year; give at most \"365d\"")));
    }
    Ok(d)
}

fn duration(what: &str, text: Option<&str>, default: &str) -> Result<Duration, ConfigError> {
    parse_duration(what, text.unwrap_or(default))
}

/// Parses a dollar amount into micro-dollars, refusing NaN, infinities and negatives (a NaN
/// cap would compare false against every spend and silently disable the cap).
pub fn money(what: &str, text: &str) -> Result<i64, ConfigError> {
    let v: f64 = text.trim().parse().map_err(|_| {
        bad(format!("{what} = {text:?} is not a dollar amount; write it like 1.50"))
    })?;
    money_value(what, v)
}

fn money_value(what: &str, v: f64) -> Result<i64, ConfigError> {
    if !v.is_finite() || !(0.0..=1e9).contains(&v) {
        return Err(bad(format!(
            "{what} = {v} is not a usable cap; give a finite amount of dollars from 0 to 1e9"
        )));
    }
    Ok((v * 1_000_000.0).round() as i64)
}

#[cfg(test)]
mod tests;
