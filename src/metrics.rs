//! Prometheus metrics: a [`Snapshot`] read from the database and [`render`]ed in the Prometheus
//! text exposition format (version 0.0.4), the format node_exporter's textfile collector reads
//! and every Prometheus server scrapes. `status --prom` prints it; a `/metrics` endpoint serves
//! the same text with `prometheus_client`'s
//! `prometheus_text::CONTENT_TYPE` (`text/plain; version=0.0.4`).
//!
//! Every number comes from the database, not from a process's memory, so a cron job's
//! `status --prom` and a runner's endpoint agree, and the runners sharing a PostgreSQL database
//! are all counted. The counters (attempts, failures, the duration histogram) are therefore
//! totals over the rows the database holds: monotonic while rows are kept, lowered when
//! retention prunes old rows, `jobs purge` or `dlq purge` removes some, or `dlq replay` puts a
//! dead letter's attempts back to zero (each HELP line says so).

mod families;
#[cfg(test)]
mod tests;

use nightshift_actors::{Admin, StoreError, Tallies, Timestamp, runner_holder};

use crate::config::Settings;

/// What the metrics show, read at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Counts, gates, spend, and the tallies by queue.
    pub tallies: Tallies,
    /// The runners working the database now.
    pub runners: Runners,
}

impl Snapshot {
    /// Reads the snapshot; `now` decides which PostgreSQL runners are alive.
    pub fn read(admin: &Admin, settings: &Settings, now: Timestamp) -> Result<Self, StoreError> {
        Ok(Self { tallies: admin.tallies()?, runners: Runners::read(admin, settings, now)? })
    }
}

/// The runners working a database, as `status` and the metrics see them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runners {
    /// Each runner alive, described (`instance pid N on HOST` on PostgreSQL, the lock file's
    /// text on SQLite).
    pub alive: Vec<String>,
    /// The newest heartbeat in the `runners` table (PostgreSQL only: a SQLite runner records
    /// none, its lock file says whether it runs).
    pub last_heartbeat: Option<Timestamp>,
}

impl Runners {
    /// On SQLite, the runner holding the database's lock file; on PostgreSQL, the rows of
    /// `runners` whose heartbeat is within the last lease.
    pub fn read(admin: &Admin, settings: &Settings, now: Timestamp) -> Result<Self, StoreError> {
        if !settings.is_postgres() {
            let alive = runner_holder(&settings.db).into_iter().collect();
            return Ok(Self { alive, last_heartbeat: None });
        }
        let rows = admin.runners(Timestamp::EPOCH)?;
        let since = now - settings.lease;
        let alive = rows
            .iter()
            .filter(|r| r.heartbeat_at >= since)
            .map(|r| format!("{} pid {} on {}", r.instance, r.pid, r.host))
            .collect();
        Ok(Self { alive, last_heartbeat: rows.iter().map(|r| r.heartbeat_at).max() })
    }
}

/// The snapshot in the Prometheus text format (version 0.0.4), every metric named
/// `nightshift_*` with its `# HELP` and `# TYPE` lines. Fails only if the encoder does.
pub fn render(snapshot: &Snapshot) -> Result<String, std::fmt::Error> {
    let mut registry = prometheus_client::registry::Registry::with_prefix("nightshift");
    registry.register_collector(Box::new(families::Families(snapshot.clone())));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}
