//! `nightshift init`: creates the database if missing, and a commented `nightshift.toml` only
//! where no config exists. Running it again changes nothing.

use std::path::Path;

use nightshift_actors::Admin;

use crate::Failure;
use crate::config::{DEFAULT_CONFIG, Settings};
use crate::output::outln;

/// The config `init` writes: every key, commented out at its default.
pub const TEMPLATE: &str = r#"# nightshift configuration. Flags beat environment variables, which beat this file.
# Unknown keys are errors. Durations are like "30s", "5m", "1h 30m".

# db = "nightshift.db"                  # env NIGHTSHIFT_DB, flag --db

[handler]
# command = ["python3", "agent.py"]     # argv, never a shell string; or give it after `run --`
# timeout = "5m"
# permanent_exit_codes = [65]           # EX_DATAERR: dead-letter at once, retrying cannot help

[retry]
# max_attempts = 4
# base = "1s"
# cap = "60s"

[budget]
# daily_usd = 1.00                      # env DAILY_CAP_USD wins

[breaker]
# failures = 5
# cooldown = "60s"

[alert]
# webhook = "https://..."               # env ALERT_WEBHOOK wins; keep the URL secret
# format = "auto"

[store]
# synchronous = "full"                  # "normal" may lose the last commits on power loss
# max_payload = "1MiB"

# Each tick enqueues a job keyed "<name>@<tick time>"; a runner that starts late enqueues
# only the latest tick it missed.
# [[schedule]]
# name = "digest"
# cron = "*/15 * * * *"                 # minute hour day month weekday, UTC
# payload = '{"kind":"digest"}'
"#;

pub fn run(settings: &Settings) -> Result<(), Failure> {
    let existed = settings.db.exists();
    Admin::create(&settings.engine_config())?;
    if existed {
        outln!("database {} exists; left as it is", settings.db.display())?;
    } else {
        outln!("created database {}", settings.db.display())?;
    }
    if settings.config_file.is_none() && !Path::new(DEFAULT_CONFIG).exists() {
        std::fs::write(DEFAULT_CONFIG, TEMPLATE)
            .map_err(|e| Failure::Failed(format!("cannot write {DEFAULT_CONFIG}: {e}")))?;
        outln!("wrote {DEFAULT_CONFIG} (every setting, commented out at its default)")?;
    }
    Ok(())
}
