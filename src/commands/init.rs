//! `nightshift init`: creates the database if missing, and a commented `nightshift.toml` only
//! where no config exists, with the handler given after `--` (`init -- python3 agent.py`) as
//! its `[handler] command`. Running it again changes nothing; it never edits an existing config.

use std::path::Path;

use nightshift_actors::Admin;

use super::deploy::quote;
use crate::Failure;
use crate::cli::InitArgs;
use crate::config::{DEFAULT_CONFIG, Settings};
use crate::output::outln;

/// The config `init` writes: every key, commented out at its default.
pub const TEMPLATE: &str = r#"# nightshift configuration. Flags beat environment variables, which beat this file.
# Unknown keys are errors. Durations are like "30s", "5m", "1h 30m".

# db = "nightshift.db"                  # env NIGHTSHIFT_DB, flag --db; or a URL for several
#                                       # hosts: "postgres://user:password@host:5432/dbname"

[handler]
# command = ["python3", "agent.py"]     # argv, never a shell string; or give it after `run --`
# timeout = "5m"
# permanent_exit_codes = [65]           # EX_DATAERR: dead-letter at once, retrying cannot help

[retry]
# max_attempts = 4
# base = "1s"
# cap = "60s"
# max_snoozes = 20                      # exit 75 / rate_limited snoozes before one counts as a failure

[budget]
# daily_usd = 1.00                      # env DAILY_CAP_USD wins

[breaker]
# failures = 5
# cooldown = "60s"

[alert]
# webhook = "https://..."               # env ALERT_WEBHOOK wins; keep the URL secret
# format = "auto"

[heartbeat]                             # dead-man's switch: a monitor alerts when pings stop
# url = "https://hc-ping.com/<uuid>"    # env HEARTBEAT_URL wins; keep the URL secret
# interval = "5m"                       # a continuous runner's pings while healthy; >= "1s"

[http]                                  # `nightshift serve`: the JSON API and /metrics
# token_file = "/etc/nightshift/token"  # bearer token, mode 600; env NIGHTSHIFT_TOKEN wins
# timeout = "30s"                       # a request taking longer is answered 503

[store]
# synchronous = "full"                  # "normal" may lose the last commits on power loss
# max_payload = "1MiB"
# payload = "text"                      # "json": refuse payloads that are not JSON
# lease = "60s"                         # a dead runner's jobs wait this long for another

[retention]                             # each also takes "forever"
# done = "7d"                           # done and cancelled jobs; a pruned job's key can be enqueued again
# dead = "30d"
# spend = "90d"                         # by UTC day, at least "7d"
# alerts = "30d"                        # delivered ones
# every = "10m"

# Each tick enqueues a job keyed "<name>@<tick time>"; a runner that starts late enqueues
# only the latest tick it missed.
# [[schedule]]
# name = "digest"
# cron = "*/15 * * * *"                 # minute hour day month weekday, UTC
# payload = '{"kind":"digest"}'
"#;

pub fn run(settings: &Settings, args: &InitArgs) -> Result<(), Failure> {
    let handler = &args.command;
    if handler.first().is_some_and(|program| program.is_empty()) {
        return Err(Failure::Usage(
            "the handler command after `--` is empty: give the program and its arguments, e.g. \
             nightshift init -- python3 agent.py"
                .to_owned(),
        ));
    }
    // Checked before the database is created: a refused init changes nothing.
    if let Some(config) = &settings.config_file
        && !handler.is_empty()
        && settings.handler.as_deref() != Some(handler.as_slice())
    {
        return Err(Failure::Usage(format!(
            "{file} exists and `init` never changes a config; to run this handler, edit {file} \
             and set it under [handler]:\n    command = {argv}\nor give it after `--` to each \
             command instead (nightshift run --once -- {words})",
            file = config.display(),
            argv = toml_argv(handler),
            words = handler.iter().map(|w| quote::shell(w)).collect::<Vec<_>>().join(" "),
        )));
    }
    let config = settings.engine_config();
    // A PostgreSQL database exists already; what `init` may create there is the schema.
    let existed =
        if settings.is_postgres() { Admin::open(&config).is_ok() } else { settings.db.exists() };
    Admin::create(&config)?;
    match (existed, settings.is_postgres()) {
        (true, false) => outln!("database {} exists; left as it is", settings.db_shown())?,
        (false, false) => outln!("created database {}", settings.db_shown())?,
        (true, true) => {
            outln!("database {} has nightshift's schema; left as it is", settings.db_shown())?
        }
        (false, true) => outln!("created nightshift's schema in {}", settings.db_shown())?,
    }
    if settings.config_file.is_none() && !Path::new(DEFAULT_CONFIG).exists() {
        std::fs::write(DEFAULT_CONFIG, template(handler))
            .map_err(|e| Failure::Failed(format!("cannot write {DEFAULT_CONFIG}: {e}")))?;
        if handler.is_empty() {
            outln!("wrote {DEFAULT_CONFIG} (every setting, commented out at its default)")?;
        } else {
            outln!(
                "wrote {DEFAULT_CONFIG} with [handler] command = {} (every other setting \
                 commented out at its default)",
                toml_argv(handler)
            )?;
        }
    }
    Ok(())
}

/// The config `init` writes: [`TEMPLATE`], with `handler` (when given) as its `[handler]
/// command` in place of the commented-out example.
fn template(handler: &[String]) -> String {
    if handler.is_empty() {
        return TEMPLATE.to_owned();
    }
    let mut text = String::with_capacity(TEMPLATE.len());
    for line in TEMPLATE.lines() {
        if line.starts_with("# command = ") {
            text.push_str(&format!("command = {}", toml_argv(handler)));
        } else {
            text.push_str(line);
        }
        text.push('\n');
    }
    text
}

/// `["python3", "agent.py"]`: an argv as a TOML array.
fn toml_argv(argv: &[String]) -> String {
    toml::Value::Array(argv.iter().cloned().map(toml::Value::String).collect()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_with_a_handler_sets_it_and_nothing_else() {
        let argv = vec!["python3".to_owned(), "my agent's.py".to_owned()];
        let with: toml::Table = toml::from_str(&template(&argv)).unwrap();
        let command = with["handler"]["command"].as_array().unwrap();
        assert_eq!(command.iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>(), argv);
        let without: toml::Table = toml::from_str(&template(&[])).unwrap();
        assert!(without["handler"].get("command").is_none());
        assert_eq!(template(&argv).lines().count(), TEMPLATE.lines().count());
    }
}
