//! `nightshift dlq`: jobs that failed for good. List and show them, replay them once the cause
//! is fixed (attempts reset, due at once), or purge them (by key, all, queue and reason, or by
//! age).

use nightshift_actors::{DeadQuery, PruneKind, Selector};
use serde_json::json;

use crate::Failure;
use crate::cli::{DlqCommand, Selection};
use crate::config::Settings;
use crate::output::{self, outln};

pub fn run(settings: &Settings, command: &DlqCommand) -> Result<(), Failure> {
    let mut admin = super::admin(settings)?;
    match command {
        DlqCommand::List { limit, filter, json } => {
            let filter = filter.filter().unwrap_or_default();
            let dead =
                admin.dead_letters_page(&DeadQuery { filter, after: None, limit: *limit })?;
            if *json {
                return output::print_json(&dead);
            }
            outln!("{:<32} {:<10} {:>8} {:<24} ERROR", "KEY", "REASON", "ATTEMPTS", "DIED")?;
            for d in &dead {
                outln!(
                    "{:<32} {:<10} {:>8} {:<24} {}",
                    d.key,
                    d.reason,
                    d.attempts,
                    output::time(d.died),
                    output::one_line(&d.error, 60)
                )?;
            }
            Ok(())
        }
        DlqCommand::Show { key, json } => {
            let d = admin
                .dead_letter(key)?
                .ok_or_else(|| Failure::Failed(format!("no job {key:?} in the dead letter")))?;
            if *json {
                return output::print_json(&d);
            }
            outln!("key        {}", d.key)?;
            outln!("queue      {}", d.queue)?;
            outln!("reason     {}", d.reason)?;
            outln!("attempts   {}", d.attempts)?;
            outln!("died       {}", output::time(d.died))?;
            outln!("error      {}", d.error)?;
            outln!("payload    {}", d.payload)?;
            outln!("history")?;
            for h in &d.errors {
                outln!("  attempt {} at {}: {}", h.attempt, output::time(h.at), h.error)?;
            }
            Ok(())
        }
        DlqCommand::Replay(args) if args.fresh => {
            act(&args.selection, "replayed", |which| Ok(admin.replay_fresh(which)?))
        }
        DlqCommand::Replay(args) => {
            act(&args.selection, "replayed", |which| Ok(admin.replay(which)?))
        }
        DlqCommand::Purge(args) => match &args.older_than {
            Some(age) => super::older_than::purge(settings, PruneKind::Dead, age, args.json),
            None => act(&args.selection(), "purged", |which| Ok(admin.purge(which)?)),
        },
    }
}

/// Replays or purges the selection; keys not in the dead letter fail the command (exit 1)
/// after the others are done.
fn act(
    sel: &Selection,
    verb: &str,
    apply: impl FnOnce(&Selector) -> Result<Vec<String>, Failure>,
) -> Result<(), Failure> {
    let which = sel.selector();
    let done = apply(&which)?;
    let missing: Vec<&String> = sel.keys.iter().filter(|k| !done.contains(k)).collect();
    if sel.json {
        output::print_json(&json!({ verb: done, "missing": missing }))?;
    } else {
        for key in &done {
            outln!("{verb} {key}")?;
        }
        if !matches!(which, Selector::Keys(_)) {
            outln!("{} {verb}", done.len())?;
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        let keys: Vec<String> = missing.iter().map(|k| format!("{k:?}")).collect();
        Err(Failure::Failed(format!(
            "not in the dead letter: {}; check `nightshift dlq list`",
            keys.join(", ")
        )))
    }
}
