//! `nightshift jobs purge KEY...`: deletes pending and finished jobs for good, so their keys can
//! be enqueued afresh (with another payload, or a schedule's tick again). A running job is
//! refused: its worker holds a lease and settles it. Dead letters are `dlq purge`'s.
//! `--older-than DUR` deletes done jobs by age instead (`commands::older_than`).

use nightshift_actors::PruneKind;
use serde_json::json;

use crate::Failure;
use crate::cli::JobsPurgeArgs;
use crate::config::Settings;
use crate::output;
use crate::output::outln;

pub fn run(settings: &Settings, args: &JobsPurgeArgs) -> Result<(), Failure> {
    if let Some(age) = &args.older_than {
        return crate::commands::older_than::purge(settings, PruneKind::Done, age, args.json);
    }
    let mut admin = crate::commands::admin(settings)?;
    let done = admin.purge_jobs(&args.keys)?;
    if args.json {
        output::print_json(&json!({
            "purged": done.purged,
            "running": done.running,
            "missing": done.missing,
        }))?;
    } else {
        for key in &done.purged {
            outln!("purged {key}")?;
        }
    }
    let mut problems = Vec::new();
    if !done.running.is_empty() {
        problems.push(format!(
            "running, left as they are: {}; wait for them to finish (`nightshift jobs show KEY`), \
             then purge them",
            quoted(&done.running)
        ));
    }
    if !done.missing.is_empty() {
        problems.push(format!(
            "not in jobs: {}; check `nightshift jobs` (dead letters: `nightshift dlq purge`)",
            quoted(&done.missing)
        ));
    }
    if problems.is_empty() { Ok(()) } else { Err(Failure::Failed(problems.join("\n"))) }
}

fn quoted(keys: &[String]) -> String {
    keys.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ")
}
