//! The database setting: a SQLite path or a PostgreSQL URL, and how it is shown.

use std::path::Path;
use std::time::Duration;

use super::{ConfigError, Settings};

impl Settings {
    /// Whether the database is PostgreSQL (a URL) rather than a SQLite file.
    pub fn is_postgres(&self) -> bool {
        nightshift_actors::is_postgres_url(&self.db.to_string_lossy())
    }

    /// The database as nightshift shows it: a path, or a URL without its password.
    pub fn db_shown(&self) -> String {
        shown_db(&self.db)
    }
}

/// `db` as nightshift shows it: a path, or a PostgreSQL URL without its password.
fn shown_db(db: &Path) -> String {
    let text = db.to_string_lossy();
    if nightshift_actors::is_postgres_url(&text) {
        nightshift_actors::redact_url(&text)
    } else {
        db.display().to_string()
    }
}

/// `[store] lease`: how long a claim holds a job without a heartbeat; at least 3 s.
pub(super) fn lease(text: Option<&str>) -> Result<Duration, ConfigError> {
    let lease = super::parse_duration("[store] lease", text.unwrap_or("60s"))?;
    if lease < Duration::from_secs(3) {
        return Err(ConfigError(format!(
            "[store] lease = {:?} is under 3s: a lease must outlast several heartbeats (a \
             third of it each) and a slow commit; use \"60s\" or more across hosts",
            text.unwrap_or_default()
        )));
    }
    Ok(lease)
}
