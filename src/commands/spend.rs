//! `nightshift spend`: the cost ledger per UTC day against the daily cap.

use serde_json::json;

use crate::Failure;
use crate::cli::SpendArgs;
use crate::config::Settings;
use crate::output::{self, outln};

pub fn run(settings: &Settings, args: &SpendArgs) -> Result<(), Failure> {
    let admin = super::admin(settings)?;
    let days = admin.spend(args.days)?;
    // The cap in force: the one the last runner started with (see `status`).
    let cap = admin.status()?.cap_micros;
    if args.json {
        return output::print_json(&json!({ "daily_cap_micros": cap, "days": days }));
    }
    match cap {
        Some(c) => outln!("daily cap {} (UTC days)", output::usd(c))?,
        None => outln!(
            "no daily cap in force (set DAILY_CAP_USD or [budget] daily_usd for the runner)"
        )?,
    }
    outln!("{:<12} {:>12} {:>9}  ", "DAY", "SPENT", "ATTEMPTS")?;
    for d in &days {
        let mark = match cap {
            Some(c) if d.micros >= c => "  cap reached",
            _ => "",
        };
        outln!("{:<12} {:>12} {:>9}{mark}", d.day, output::usd(d.micros), d.attempts)?;
    }
    if days.is_empty() {
        outln!("(nothing spent in the last {} day(s))", args.days)?;
    }
    Ok(())
}
