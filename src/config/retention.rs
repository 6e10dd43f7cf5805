//! `[retention]`: how long finished rows are kept before a runner prunes them, and how often it
//! prunes. Each age is a duration or `"forever"`:
//!
//! - `done = "7d"`: finished jobs, from when they finished. Their keys are deduplicated only
//!   while the row lives; the newest tick of each `[[schedule]]` is kept however old.
//! - `dead = "30d"`: dead letters, from when they died.
//! - `spend = "90d"`: the spend ledger, by whole UTC days; at least `"7d"`, the days `nightshift
//!   spend` shows by default, and today's rows are never pruned.
//! - `alerts = "30d"`: delivered alerts, from their delivery; undelivered ones stay.
//! - `every = "10m"`: how often a runner prunes (and once when it starts).

use std::time::Duration;

use nightshift_actors::RetentionConfig;
use serde::Deserialize;

use super::{ConfigError, bad, parse_duration};
use crate::schedule::Schedule;

/// The days `nightshift spend` shows by default: the ledger must keep at least these.
const SPEND_DAYS_SHOWN: u64 = 7;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RetentionFile {
    done: Option<String>,
    dead: Option<String>,
    spend: Option<String>,
    alerts: Option<String>,
    every: Option<String>,
}

impl RetentionFile {
    /// The engine's retention for this section; the newest tick of each of `schedules` is kept.
    pub(super) fn parse(self, schedules: &[Schedule]) -> Result<RetentionConfig, ConfigError> {
        let default = RetentionConfig::default();
        let spend = age("[retention] spend", self.spend.as_deref(), default.spend)?;
        let floor = Duration::from_secs(SPEND_DAYS_SHOWN * 86_400);
        if let (Some(spend), Some(text)) = (spend, &self.spend)
            && spend < floor
        {
            return Err(bad(format!(
                "[retention] spend = {text:?} is shorter than the {SPEND_DAYS_SHOWN} days \
                 `nightshift spend` shows; give at least \"{SPEND_DAYS_SHOWN}d\", or \"forever\""
            )));
        }
        let every = match self.every.as_deref() {
            Some(text) => parse_duration("[retention] every", text)?,
            None => default.every,
        };
        if every < Duration::from_secs(1) {
            return Err(bad("[retention] every must be at least \"1s\"; the default is \"10m\""));
        }
        Ok(RetentionConfig {
            done: age("[retention] done", self.done.as_deref(), default.done)?,
            dead: age("[retention] dead", self.dead.as_deref(), default.dead)?,
            spend,
            alerts: age("[retention] alerts", self.alerts.as_deref(), default.alerts)?,
            every,
            schedules: schedules.iter().map(|s| s.name.clone()).collect(),
            ..default
        })
    }
}

/// Parses an age: a positive duration, or `"forever"` (`None`). Unlike other durations there
/// is no upper bound: keeping rows for years is a fair choice.
fn age(
    what: &str,
    text: Option<&str>,
    default: Option<Duration>,
) -> Result<Option<Duration>, ConfigError> {
    let Some(text) = text else { return Ok(default) };
    if text.trim() == "forever" {
        return Ok(None);
    }
    match humantime::parse_duration(text.trim()) {
        Ok(d) if !d.is_zero() => Ok(Some(d)),
        Ok(_) => Err(bad(format!(
            "{what} = {text:?} would delete rows as soon as they finish; give an age above \
             zero, like \"7d\", or \"forever\" to keep them"
        ))),
        Err(e) => Err(bad(format!(
            "{what} = {text:?} is not a duration ({e}); write it like \"7d\" or \"12h\", or \
             \"forever\" to keep rows for good"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> Result<RetentionConfig, ConfigError> {
        let file: RetentionFile = toml::from_str(toml).map_err(|e| bad(e.to_string()))?;
        let digest = Schedule::new("digest", "*/15 * * * *", "{}".into(), "default".into());
        file.parse(&[digest.unwrap()])
    }

    #[test]
    fn defaults_keep_a_week_of_jobs_and_a_month_of_dead_letters() {
        let r = parse("").unwrap();
        let days = |d: Option<Duration>| d.map(|d| d.as_secs() / 86_400);
        assert_eq!((days(r.done), days(r.dead)), (Some(7), Some(30)));
        assert_eq!((days(r.spend), days(r.alerts)), (Some(90), Some(30)));
        assert_eq!(r.every, Duration::from_secs(600));
        assert_eq!(r.schedules, ["digest"]);
    }

    #[test]
    fn forever_keeps_rows_and_ages_may_exceed_a_year() {
        let r = parse("done = \"forever\"\ndead = \"2years\"\nevery = \"1h\"").unwrap();
        assert_eq!(r.done, None);
        assert!(r.dead.unwrap() > Duration::from_secs(700 * 86_400));
        assert_eq!(r.every, Duration::from_secs(3600));
    }

    #[test]
    fn refusals_name_the_key_and_the_fix() {
        let cases = [
            ("done = \"a while\"", "[retention] done"),
            ("dead = \"0s\"", "[retention] dead"),
            ("alerts = \"0d\"", "above zero"),
            ("spend = \"3d\"", "at least \"7d\""),
            ("every = \"500ms\"", "at least \"1s\""),
            ("every = \"forever\"", "[retention] every"),
            ("kept = \"7d\"", "unknown field `kept`"),
        ];
        for (toml, needle) in cases {
            let err = parse(toml).err().unwrap_or_else(|| panic!("{toml:?} accepted"));
            assert!(err.0.contains(needle), "{toml:?}: {err}");
        }
    }
}
