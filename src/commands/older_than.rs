//! `jobs purge --older-than DUR` and `dlq purge --older-than DUR`: what `[retention] done` and
//! `dead` have a runner do, done once now, by the same rule (the newest tick of each schedule
//! stays, so a runner's catch-up cannot enqueue it again). One batch per transaction, so a
//! runner beside it waits for one batch at most.

use nightshift_actors::PruneKind;
use serde_json::json;

use crate::Failure;
use crate::config::{Settings, parse_duration};
use crate::output::{self, outln};

/// Deletes every `kind` row older than `age` (a duration as the user wrote it) and says how many.
pub fn purge(settings: &Settings, kind: PruneKind, age: &str, json: bool) -> Result<(), Failure> {
    let older_than = parse_duration("--older-than", age)?;
    let mut admin = super::admin(settings)?;
    let purged = admin.prune(kind, older_than)?;
    if json {
        return output::print_json(&json!({ "purged_count": purged }));
    }
    let what = match kind {
        PruneKind::Dead => "dead-lettered jobs that died",
        _ => "done jobs that finished",
    };
    outln!("purged {purged} {what} more than {} ago", age.trim())?;
    Ok(())
}
