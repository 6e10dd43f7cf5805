//! `nightshift doctor`: checks that a deployment will keep working unattended and exits 1 if
//! any check fails. Every line names what it checked and, when it is not ok, the fix. Doctor
//! changes nothing: it opens the database without creating it and writes inside a
//! transaction it rolls back.
//!
//! The checks live in `doctor/`: the database file (`database`), the storage under it
//! (`storage`), the handler command given after `--` or configured (`handler`), the dead-man's
//! switch (`heartbeat`); the rest (alerts, cap, runner, clock) are small and here.

mod database;
mod handler;
mod heartbeat;
mod storage;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::Failure;
use crate::cli::DoctorArgs;
use crate::config::{DEFAULT_CONFIG, Settings};
use crate::output::{self, outln};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but something a user would want to know about (no cap, little disk left).
    Warn,
    /// Will not work unattended; the exit code is 1.
    Fail,
    /// A fact, neither good nor bad (whether a runner holds the lock).
    Info,
    /// Not checked, because a check it depends on failed.
    Skip,
}

/// One line of the report.
#[derive(Debug, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub status: Status,
    pub message: String,
}

impl Check {
    pub fn new(check: &'static str, status: Status, message: impl Into<String>) -> Self {
        Self { check, status, message: message.into() }
    }
}

pub fn run(settings: &Settings, args: &DoctorArgs) -> Result<(), Failure> {
    let db = if settings.is_postgres() { settings.db.clone() } else { absolute(&settings.db) };
    let mut checks = if settings.is_postgres() {
        vec![database::postgres(settings)]
    } else {
        let mut checks = database::checks(&db);
        checks.extend(storage::checks(&db));
        checks
    };
    let config = absolute(settings.config_file.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG)));
    let command = super::HandlerCommand::pick(&args.command, settings);
    checks.push(handler::check(command.as_ref(), &config));
    checks.push(webhook(settings, args.send_test_alert));
    checks.push(heartbeat::check(settings));
    checks.push(cap(settings));
    if !settings.is_postgres() {
        // PostgreSQL's check above counts the runners alive.
        checks.push(runner(&db));
    }
    checks.push(clock(SystemTime::now()));
    report(&checks, args.json)
}

fn report(checks: &[Check], as_json: bool) -> Result<(), Failure> {
    if as_json {
        output::print_json(&checks)?;
    } else {
        for c in checks {
            let status = match c.status {
                Status::Ok => "ok",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
                Status::Info => "info",
                Status::Skip => "skip",
            };
            outln!("{status:<5} {:<10} {}", c.check, c.message)?;
        }
    }
    let failed: Vec<&str> =
        checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.check).collect();
    if failed.is_empty() {
        let warned: Vec<&str> =
            checks.iter().filter(|c| c.status == Status::Warn).map(|c| c.check).collect();
        match (as_json, warned.is_empty()) {
            (true, _) => {}
            (false, true) => outln!("all checks passed")?,
            (false, false) => {
                outln!("all checks passed; read the warnings ({})", warned.join(", "))?
            }
        }
        return Ok(());
    }
    Err(Failure::Failed(format!(
        "doctor: {} check(s) failed ({}); each FAIL line names the fix",
        failed.len(),
        failed.join(", ")
    )))
}

/// A path made absolute, so every message shows where the file really is.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn webhook(settings: &Settings, send: bool) -> Check {
    let Some(url) = &settings.webhook else {
        let fix =
            "set ALERT_WEBHOOK (or [alert] webhook) to a Slack, Discord, ntfy or Telegram URL";
        return if send {
            Check::new(
                "webhook",
                Status::Fail,
                format!("no alert webhook to send a test to: {fix}"),
            )
        } else {
            Check::new(
                "webhook",
                Status::Warn,
                format!(
                    "no alert webhook: dead letters, a cap hit or an open breaker alert nobody; {fix}"
                ),
            )
        };
    };
    let target = scheme_and_host(url);
    if !send {
        return Check::new(
            "webhook",
            Status::Ok,
            format!("alerts go to {target}; `nightshift doctor --send-test-alert` sends one"),
        );
    }
    match super::alert::send_test(settings) {
        Ok(result) => {
            Check::new("webhook", Status::Ok, format!("test alert to {target}: {result}"))
        }
        Err(e) => Check::new(
            "webhook",
            Status::Fail,
            format!(
                "test alert to {target} failed: {e}; check the URL and that this host can reach it"
            ),
        ),
    }
}

/// `https://host` of a webhook URL: never the path, query or user info, which hold tokens.
fn scheme_and_host(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    format!("{scheme}://{host}")
}

fn cap(settings: &Settings) -> Check {
    match settings.daily_cap_micros {
        Some(micros) => Check::new(
            "cap",
            Status::Ok,
            format!("daily spend cap {} per UTC day", output::usd(micros)),
        ),
        None => Check::new(
            "cap",
            Status::Warn,
            "no daily spend cap: a runaway agent can spend without limit; set DAILY_CAP_USD or \
             [budget] daily_usd",
        ),
    }
}

fn runner(db: &Path) -> Check {
    match nightshift_actors::runner_holder(db) {
        Some(holder) => {
            Check::new("runner", Status::Info, format!("a runner holds the database ({holder})"))
        }
        None => Check::new("runner", Status::Info, "no runner holds the database now"),
    }
}

/// 2024-01-01T00:00:00Z: a clock before this has never been set (no RTC, no NTP yet).
const SANE_EPOCH_SECS: u64 = 1_704_067_200;

fn clock(now: SystemTime) -> Check {
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    let shown = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs));
    if secs < SANE_EPOCH_SECS {
        Check::new(
            "clock",
            Status::Fail,
            format!(
                "the system clock reads {shown}, before 2024: retries, leases and the daily cap \
                 would be wrong; turn on time sync (`timedatectl set-ntp true`)"
            ),
        )
    } else {
        Check::new("clock", Status::Ok, format!("system time {shown}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_targets_show_scheme_and_host_only() {
        assert_eq!(
            scheme_and_host("https://hooks.slack.com/services/T0/B0/SECRET"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            scheme_and_host("https://user:pw@api.telegram.org/botTOKEN/sendMessage?x=1"),
            "https://api.telegram.org"
        );
        assert_eq!(scheme_and_host("https://ntfy.sh?topic=secret"), "https://ntfy.sh");
    }

    #[test]
    fn a_clock_before_2024_fails() {
        assert_eq!(clock(UNIX_EPOCH + Duration::from_secs(86_400)).status, Status::Fail);
        assert_eq!(clock(SystemTime::now()).status, Status::Ok);
    }
}
