//! The handler command: set, and runnable from cron, whose PATH is only `/usr/bin:/bin`. A
//! program found only through this shell's PATH works by hand and fails from cron, so that
//! FAILs with the absolute path to write instead.

use std::path::Path;

use super::{Check, Status};
use crate::commands::HandlerCommand;
use crate::handler::program;

/// cron's PATH (Debian, Ubuntu, Oracle Linux): where a bare program name must be found.
pub const CRON_PATH: &str = "/usr/bin:/bin";

/// `config` is the file a configured handler's fix goes in: the config in use, or
/// `./nightshift.toml`. A handler given after `--` is fixed on the command line.
pub fn check(handler: Option<&HandlerCommand>, config: &Path) -> Check {
    let fix_in = match handler {
        Some(HandlerCommand::Given(_)) => "the command after `--`".to_owned(),
        _ => format!("[handler] command in {}", config.display()),
    };
    let Some(program) = handler.and_then(|h| h.argv().first()) else {
        return Check::new(
            "handler",
            Status::Fail,
            format!(
                "no handler command: set {fix_in}, e.g. [\"/usr/bin/python3\", \
                 \"/srv/agent/agent.py\"] (`nightshift init -- python3 agent.py` writes it into a \
                 new config), or give it after `--` as `run` takes it (nightshift doctor -- \
                 /usr/bin/python3 agent.py); `run` without one exits 2"
            ),
        );
    };
    if program.contains('/') {
        let path = Path::new(program);
        return match (program::executable(path).is_ok(), path.is_absolute()) {
            (true, true) => Check::new("handler", Status::Ok, format!("{program} is executable")),
            (true, false) => Check::new(
                "handler",
                Status::Warn,
                format!(
                    "{program} is relative to the working directory; write its absolute path {} \
                     in {fix_in}",
                    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display()
                ),
            ),
            (false, _) => Check::new(
                "handler",
                Status::Fail,
                format!("{program} is not an executable file; fix {fix_in} or `chmod +x` it"),
            ),
        };
    }
    if let Ok(found) = program::resolve_on(program, CRON_PATH) {
        return Check::new(
            "handler",
            Status::Ok,
            format!("{program} resolves to {} under cron's PATH={CRON_PATH}", found.display()),
        );
    }
    let here = std::env::var("PATH").unwrap_or_default();
    match program::resolve_on(program, &here) {
        Ok(found) => Check::new(
            "handler",
            Status::Fail,
            format!(
                "{program} is not on cron's PATH={CRON_PATH}; it is at {0}: write \"{0}\" in \
                 {fix_in}",
                found.display()
            ),
        ),
        Err(_) => Check::new(
            "handler",
            Status::Fail,
            format!(
                "{program} is not found on PATH: install it, or write its absolute path in \
                 {fix_in}"
            ),
        ),
    }
}
