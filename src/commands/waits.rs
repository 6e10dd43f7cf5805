//! `nightshift signal KEY NAME [PAYLOAD | -]` and `nightshift cancel KEY... | --queue Q`: both
//! write through `Admin` (as `dlq replay` does); a runner notices the commit at its next look
//! at the database (SQLite's `data_version`, PostgreSQL's NOTIFY).

use std::io::Read;

use nightshift_actors::{JobStatus, Signalled};

use crate::Failure;
use crate::cli::{CancelArgs, SignalArgs};
use crate::config::Settings;
use crate::output::{outln, print_json};

pub fn signal(settings: &Settings, args: &SignalArgs) -> Result<(), Failure> {
    let payload = match args.payload.as_deref() {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::Usage(format!("cannot read the payload from stdin: {e}")))?;
            text
        }
        Some(text) => text.to_owned(),
        None => String::new(),
    };
    let mut admin = super::admin(settings)?;
    let answer = admin.signal(&args.key, &args.name, &payload)?;
    if args.json {
        print_json(&answer)?;
    }
    let (key, name) = (&args.key, &args.name);
    match answer {
        Signalled::Resumed => {
            if !args.json {
                outln!("signalled {key}: {name} recorded, the job is due now")?;
            }
            Ok(())
        }
        Signalled::NotWaiting { status, waits_for } => {
            let why = match (status, waits_for) {
                (None, _) => "no such job".to_owned(),
                (Some(JobStatus::Waiting), Some(other)) => {
                    format!("it waits for the signal {other:?}, not {name:?}")
                }
                (Some(status), _) => format!("it is {status}, not waiting"),
            };
            Err(Failure::Failed(format!(
                "{key} does not wait for {name:?}: {why}; nothing changed"
            )))
        }
    }
}

pub fn cancel(settings: &Settings, args: &CancelArgs) -> Result<(), Failure> {
    let mut admin = super::admin(settings)?;
    let answers = admin.cancel(&args.keys, args.queue.as_deref())?;
    if args.json {
        print_json(&answers)?;
    } else {
        for c in &answers {
            match c.was {
                Some(JobStatus::Running) => {
                    outln!("cancelled {} (was running: its handler is stopped)", c.key)?
                }
                Some(was) if c.changed() => outln!("cancelled {} (was {was})", c.key)?,
                Some(status) => outln!("unchanged {} ({status})", c.key)?,
                None => outln!("unknown {}", c.key)?,
            }
        }
        if answers.is_empty() {
            outln!("nothing to cancel")?;
        }
    }
    // Exit 1 when a key named could not be cancelled (unknown, or already finished).
    let refused: Vec<&str> =
        answers.iter().filter(|c| !c.changed()).map(|c| c.key.as_str()).collect();
    if args.queue.is_none() && !refused.is_empty() {
        return Err(Failure::Failed(format!(
            "not cancelled (unknown or already finished): {}",
            refused.join(", ")
        )));
    }
    Ok(())
}
