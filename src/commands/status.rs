//! `nightshift status`: counts by status, dead letters, the oldest pending job, spend, the kill
//! switch, and whether a runner holds the database; as text, JSON, or Prometheus metrics.

use nightshift_actors::{Admin, Clock, Gate, Status, StoreError, SystemClock, Timestamp, clock};
use serde::Serialize;

use crate::Failure;
use crate::cli::StatusArgs;
use crate::config::Settings;
use crate::metrics::{self, Runners, Snapshot};
use crate::output::{self, outln};

/// How `status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    /// Prometheus' text format (`--prom`).
    Prom,
}

impl Format {
    pub fn of(args: &StatusArgs) -> Self {
        match (args.json, args.prom) {
            (true, _) => Format::Json,
            (_, true) => Format::Prom,
            _ => Format::Text,
        }
    }
}

pub fn run(settings: &Settings, format: Format) -> Result<(), Failure> {
    let admin = super::admin(settings)?;
    let now = SystemClock.now();
    if format == Format::Prom {
        let snapshot = Snapshot::read(&admin, settings, now)?;
        let text = metrics::render(&snapshot)
            .map_err(|e| Failure::Failed(format!("the metrics could not be encoded: {e}")))?;
        return output::write_out(format_args!("{text}"));
    }
    let (st, runner) = read(&admin, settings, now)?;
    if format == Format::Json {
        return output::print_json(&to_json(&st, settings, runner));
    }
    outln!("database     {}", settings.db_shown())?;
    outln!(
        "runner       {}",
        runner.map_or("not running".to_owned(), |h| format!("running ({h})"))
    )?;
    let paused = match (&st.paused, &st.pause_reason) {
        (false, _) => "no".to_owned(),
        (true, Some(reason)) => format!("yes: {reason}"),
        (true, None) => "yes".to_owned(),
    };
    outln!("paused       {paused}")?;
    let oldest = st
        .oldest_pending_ms
        .map(|ms| format!(", oldest due {} ago", output::span(clock::duration(ms))));
    outln!(
        "jobs         {} pending{}, {} running, {} done, {} waiting, {} cancelled",
        st.pending,
        oldest.unwrap_or_default(),
        st.running,
        st.done,
        st.waiting,
        st.cancelled
    )?;
    if let Some(at) = st.next_due.filter(|at| *at > now) {
        outln!("next due     in {} ({})", output::span(at - now), output::time(at))?;
    }
    let gate = gate_line(st.gate.as_ref());
    outln!("gate         {gate}")?;
    outln!("breaker      {} consecutive failure(s) counted", st.breaker_failures)?;
    outln!("dead letter  {}", st.dead)?;
    let webhook =
        if settings.webhook.is_some() { "" } else { " (no webhook configured: set ALERT_WEBHOOK)" };
    outln!("alerts       {} undelivered{webhook}", st.alerts_undelivered)?;
    // The cap in force is the runner's (recorded when it started), not this shell's.
    let set_by = st.cap_set_by.as_deref().map(|s| format!(", set by {s}")).unwrap_or_default();
    let cap =
        st.cap_micros.map_or("no cap".to_owned(), |c| format!("cap {}{set_by}", output::usd(c)));
    outln!("spend today  {} ({cap})", output::usd(st.spend_today_micros))?;
    for l in &st.limits {
        outln!("limit        {}", limit_line(l, now))?;
    }
    Ok(())
}

/// What `status --json` prints (and `GET /api/status` answers), read now.
pub fn json(admin: &Admin, settings: &Settings, now: Timestamp) -> Result<StatusJson, StoreError> {
    let (st, runner) = read(admin, settings, now)?;
    Ok(to_json(&st, settings, runner))
}

/// A `[[limit]]`'s state in one line: running, rate used, hold, breaker.
pub fn limit_line(l: &nightshift_actors::LimitStatus, now: Timestamp) -> String {
    let cap = l.concurrency.map(|c| format!("/{c}")).unwrap_or_default();
    let mut line = format!("{}: {}{cap} running", l.name, l.running);
    if let Some(rate) = &l.rate {
        line += &format!(", {} claimed of {rate}", l.rate_used);
    }
    if let Some(at) = l.held_until {
        line += &format!(", held for {} (a 429)", output::span(at - now));
    }
    if let Some(at) = l.breaker_open_until {
        line += &format!(", breaker open until {}", output::time(at));
    }
    match &l.breaker_probe {
        Some(key) => line += &format!(", breaker half-open, probe {key:?} running"),
        None if l.breaker == "half_open" => line += ", breaker half-open, next job the probe",
        None => {}
    }
    if l.spent_today_micros > 0 {
        line += &format!(", {} today", output::usd(l.spent_today_micros));
    }
    line
}

/// What holds claims now, in words (`status` and the dashboard's overview).
pub fn gate_line(gate: Option<&Gate>) -> String {
    match gate {
        None => "none: claiming".to_owned(),
        Some(Gate::Paused { .. }) => "paused (kill switch)".to_owned(),
        Some(Gate::Cap { until }) => format!(
            "daily cap reached: no claims until {} (the next UTC day) or a higher cap",
            output::time(*until)
        ),
        Some(Gate::Breaker { until: Some(until) }) => {
            format!("circuit breaker open until {}", output::time(*until))
        }
        Some(Gate::Breaker { until: None }) => {
            "circuit breaker half-open, probe running".to_owned()
        }
    }
}

/// The counts and gates, and the runners alive described in one line (`None`: no runner).
fn read(
    admin: &Admin,
    settings: &Settings,
    now: Timestamp,
) -> Result<(Status, Option<String>), StoreError> {
    let st = admin.status()?;
    let alive = Runners::read(admin, settings, now)?.alive;
    Ok((st, (!alive.is_empty()).then(|| alive.join("; "))))
}

fn to_json(st: &Status, settings: &Settings, runner: Option<String>) -> StatusJson {
    StatusJson {
        status: st.clone(),
        db: settings.db_shown(),
        runner,
        daily_cap_micros: st.cap_micros,
    }
}

/// What `status --json` prints (and `/api/status` answers).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusJson {
    #[serde(flatten)]
    pub status: Status,
    /// The database: a SQLite path, or a PostgreSQL URL with its password masked.
    pub db: String,
    /// The runners alive, in one line; null when none is.
    pub runner: Option<String>,
    /// The daily cap in force, micro-dollars (as `cap_micros`); null: no cap.
    pub daily_cap_micros: Option<i64>,
}
