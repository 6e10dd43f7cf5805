//! The crontab block for scheduled mode: `run --once` every 15 minutes, absolute paths
//! everywhere (cron's PATH is `/usr/bin:/bin`), `flock -n` so a slow run is never overlapped,
//! and every `%` escaped as `\%` (cron turns a bare `%` into a newline).

use std::path::PathBuf;

use super::Install;
use super::quote;

pub fn render(i: &Install) -> String {
    // Beside the SQLite file; on PostgreSQL (no file) in the working directory.
    let lock = if i.postgres {
        i.workdir.join("nightshift.cron.lock")
    } else {
        let mut lock = i.db.clone().into_os_string();
        lock.push(".cron.lock");
        PathBuf::from(lock)
    };
    let log = i.workdir.join("nightshift.log");
    let line = format!(
        "*/15 * * * * cd {dir} && /usr/bin/flock -n {lock} {exe}{flags} run --once{handler} \
         >> {log} 2>&1",
        dir = quote::cron(&i.workdir),
        lock = quote::cron(&lock),
        exe = quote::cron(&i.exe),
        flags = i.global_flags(quote::cron),
        handler = i.handler_args(quote::cron_word),
        log = quote::cron(&log),
    );
    let user = i.owner.as_deref().map_or_else(
        || "the user that owns the database".to_owned(),
        |u| format!("user {u} (the owner of {})", i.db_dir.display()),
    );
    let percent = if line.contains(r"\%") {
        "# - cron turns a bare % into a newline, so each % in this line is written \\%; to run the\n\
         #   line by hand, write those as % again.\n"
    } else {
        ""
    };
    format!(
        "# nightshift, scheduled mode: cron drains the queue every 15 minutes with `run --once`.\n\
         # Install as {user}:\n\
         # `crontab -e`, paste the last line; `crontab -l` shows it.\n\
         #\n\
         # - Every path is absolute: cron starts jobs with PATH=/usr/bin:/bin and no login shell.\n\
         # - `flock -n` skips a tick while the previous run still holds the lock. nightshift itself\n\
         #   also refuses a second runner on one database (exit code 3), so an overlap never runs\n\
         #   a job twice.\n\
         # - The handler command must be an absolute path, or a program found under\n\
         #   PATH=/usr/bin:/bin. `nightshift doctor` checks it and names the path to use.\n\
         {handler}\
         # - Secrets: cron passes none. Add ALERT_WEBHOOK=... and HEARTBEAT_URL=... (and\n\
         #   DAILY_CAP_USD=...) lines above this one in the crontab (a crontab is private to its\n\
         #   user), or set them in the config file and chmod 600 it. Check: `nightshift doctor\n\
         #   --send-test-alert`.\n\
         # - Output goes to {log}; runs are one JSON event per line.\n\
         {percent}\
         {line}\n",
        handler = i.handler_comment(),
        log = log.display(),
    )
}
