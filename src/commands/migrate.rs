//! `nightshift migrate --from agent.db --to postgres://…`: moving up from one host's SQLite
//! file to PostgreSQL, shared by several runners. The copy is one transaction on the target;
//! the source is opened read-only. Stop the runner first: jobs it settles during the copy
//! would be settled in the source only.

use nightshift_actors::{is_postgres_url, migrate, redact_url};

use crate::Failure;
use crate::cli::MigrateArgs;
use crate::output::outln;

pub fn run(args: &MigrateArgs) -> Result<(), Failure> {
    if !is_postgres_url(&args.to) {
        return Err(Failure::Usage(format!(
            "--to {:?} is not a PostgreSQL URL; write it as postgres://user:password@host:5432/dbname",
            redact_url(&args.to)
        )));
    }
    if let Some(holder) = nightshift_actors::runner_holder(&args.from) {
        return Err(Failure::Locked(format!(
            "a runner works {} ({holder}); stop it first, so nothing changes during the copy",
            args.from.display()
        )));
    }
    let copied = migrate::copy(&args.from, &args.to)?;
    outln!(
        "copied {} jobs, {} dead letters, {} spend rows, {} alerts and the control state \
         (pause, breaker, cap) into {}",
        copied.jobs,
        copied.dead_letters,
        copied.spend,
        copied.alerts,
        redact_url(&args.to)
    )?;
    outln!(
        "{} is unchanged; point db (--db, NIGHTSHIFT_DB or db in nightshift.toml) at the URL to \
         use PostgreSQL from now on",
        args.from.display()
    )?;
    Ok(())
}
