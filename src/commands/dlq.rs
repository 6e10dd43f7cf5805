//! `nightshift dlq`: jobs that failed for good. List and show them, replay them once the cause
//! is fixed (attempts reset, due at once), or purge them.

use nightshift_actors::Selector;
use serde_json::json;

use crate::Failure;
use crate::cli::{DlqCommand, Selection};
use crate::config::Settings;
use crate::output;

pub fn run(settings: &Settings, command: &DlqCommand) -> Result<(), Failure> {
    let mut admin = super::admin(settings)?;
    match command {
        DlqCommand::List { limit, json } => {
            let dead = admin.dead_letters(*limit)?;
            if *json {
                output::json(&dead);
                return Ok(());
            }
            println!("{:<32} {:<10} {:>8} {:<24} ERROR", "KEY", "REASON", "ATTEMPTS", "DIED");
            for d in &dead {
                println!(
                    "{:<32} {:<10} {:>8} {:<24} {}",
                    d.key,
                    d.reason,
                    d.attempts,
                    output::time(d.died * 1000),
                    output::one_line(&d.error, 60)
                );
            }
            Ok(())
        }
        DlqCommand::Show { key, json } => {
            let d = admin
                .dead_letter(key)?
                .ok_or_else(|| Failure::Failed(format!("no job {key:?} in the dead letter")))?;
            if *json {
                output::json(&d);
                return Ok(());
            }
            println!("key        {}", d.key);
            println!("queue      {}", d.queue);
            println!("reason     {}", d.reason);
            println!("attempts   {}", d.attempts);
            println!("died       {}", output::time(d.died * 1000));
            println!("error      {}", d.error);
            println!("payload    {}", d.payload);
            println!("history");
            let history: Vec<serde_json::Value> =
                serde_json::from_str(&d.errors).unwrap_or_default();
            for h in history {
                let at = h["at"].as_i64().map(output::time).unwrap_or_default();
                println!(
                    "  attempt {} at {at}: {}",
                    h["attempt"],
                    h["error"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
        DlqCommand::Replay(sel) => act(sel, "replayed", |which| Ok(admin.replay(which)?)),
        DlqCommand::Purge(sel) => act(sel, "purged", |which| Ok(admin.purge(which)?)),
    }
}

/// Replays or purges the selection; keys not in the dead letter fail the command (exit 1)
/// after the others are done.
fn act(
    sel: &Selection,
    verb: &str,
    apply: impl FnOnce(&Selector) -> Result<Vec<String>, Failure>,
) -> Result<(), Failure> {
    let which = if sel.all { Selector::All } else { Selector::Keys(sel.keys.clone()) };
    let done = apply(&which)?;
    let missing: Vec<&String> = sel.keys.iter().filter(|k| !done.contains(k)).collect();
    if sel.json {
        output::json(&json!({ verb: done, "missing": missing }));
    } else {
        for key in &done {
            println!("{verb} {key}");
        }
        if sel.all {
            println!("{} {verb}", done.len());
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
