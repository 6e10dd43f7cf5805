//! `[[limit]]`: provider limits jobs name (`enqueue --limit NAME`).

use nightshift_actors::{LimitConfig, Rate};
use serde::Deserialize;

use super::{ConfigError, bad, money_value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitFile {
    name: String,
    concurrency: Option<u32>,
    rate: Option<String>,
    cost_usd_per_day: Option<f64>,
    #[serde(default)]
    breaker: bool,
    #[serde(default)]
    queues: Vec<String>,
}

/// The `[[limit]]` entries, checked: valid unique names, a concurrency of at least 1, rates
/// such as `"50/m"`, each queue listed by one limit at most.
pub(super) fn parse(files: Vec<LimitFile>) -> Result<Vec<LimitConfig>, ConfigError> {
    let mut out: Vec<LimitConfig> = Vec::new();
    for f in files {
        if !nightshift_actors::limit::valid_name(&f.name) {
            return Err(bad(format!(
                "[[limit]] name {:?}: use 1 to 64 letters, digits, '-', '_' or '.'",
                f.name
            )));
        }
        if out.iter().any(|l| l.name == f.name) {
            return Err(bad(format!("[[limit]] name {:?} appears twice", f.name)));
        }
        if f.concurrency == Some(0) {
            return Err(bad(format!("[[limit]] {:?}: concurrency must be at least 1", f.name)));
        }
        let what = format!("[[limit]] {:?} rate", f.name);
        let rate = f.rate.as_deref().map(Rate::parse).transpose();
        let rate = rate.map_err(|e| bad(format!("{what}: {e}")))?;
        let what = format!("[[limit]] {:?} cost_usd_per_day", f.name);
        let cost = f.cost_usd_per_day.map(|v| money_value(&what, v)).transpose()?;
        check_queues(&out, &f.name, &f.queues)?;
        out.push(LimitConfig {
            name: f.name,
            concurrency: f.concurrency,
            rate,
            cost_micros_per_day: cost,
            breaker: f.breaker,
            queues: f.queues,
        });
    }
    Ok(out)
}

/// `queues` of the `[[limit]]` named `name`: real queue names, none listed by an earlier limit
/// (a job counts against one limit, so which would it be?).
fn check_queues(earlier: &[LimitConfig], name: &str, queues: &[String]) -> Result<(), ConfigError> {
    for (i, queue) in queues.iter().enumerate() {
        if queue.is_empty() || queue.len() > 255 || queue.chars().any(char::is_control) {
            return Err(bad(format!(
                "[[limit]] {name:?} queues: {queue:?} is not a queue name (1 to 255 bytes, no \
                 control characters)"
            )));
        }
        if queues[..i].contains(queue) {
            return Err(bad(format!("[[limit]] {name:?} queues: {queue:?} appears twice")));
        }
        if let Some(other) = earlier.iter().find(|l| l.queues.contains(queue)) {
            return Err(bad(format!(
                "queue {queue:?} is listed by both [[limit]] {:?} and [[limit]] {name:?}: a \
                 queue's jobs count against one limit. Remove it from the queues of one of \
                 them (a job may still name the other with `enqueue --limit`)",
                other.name
            )));
        }
    }
    Ok(())
}
