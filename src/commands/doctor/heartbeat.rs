//! The `heartbeat` check: whether a dead-man's switch is set, and whether its monitor's host
//! answers from here. It never pings: a ping from `doctor` would tell the monitor a run
//! happened when none did, and could hide a runner that has stopped.

use super::{Check, Status};
use crate::config::Settings;

pub(super) fn check(settings: &Settings) -> Check {
    let Some(heartbeat) = &settings.heartbeat else {
        return Check::new(
            "heartbeat",
            Status::Warn,
            "no dead-man's switch: if this host or its runner stops, nothing tells you; set \
             HEARTBEAT_URL (or [heartbeat] url) to a monitor's ping URL, e.g. healthchecks.io's",
        );
    };
    let target = heartbeat.shown();
    let every = humantime::format_duration(heartbeat.interval);
    match crate::heartbeat::probe(heartbeat) {
        Ok(took) => Check::new(
            "heartbeat",
            Status::Ok,
            format!(
                "pings go to {target} (`run --once` at start and end, `run` every {every}); \
                 the host answered in {} ms; doctor sent no ping",
                took.as_millis()
            ),
        ),
        Err(why) => Check::new(
            "heartbeat",
            Status::Fail,
            format!(
                "pings go to {target}, which did not answer: {why}; the monitor would report \
                 this host down while it runs. Check the URL and that this host can reach it"
            ),
        ),
    }
}
