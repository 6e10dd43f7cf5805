//! `nightshift spend`: the cost ledger per UTC day against the daily cap, or (`--by`) per model
//! or queue with the tokens reported.

use std::ops::RangeInclusive;

use nightshift_actors::{Admin, DaySpend, GroupSpend, SpendBy, StoreError};
use serde_json::{Value, json};

use crate::Failure;
use crate::cli::SpendArgs;
use crate::config::Settings;
use crate::output::{self, outln};

/// Days shown when `--days` is not given.
pub const DEFAULT_DAYS: u32 = 7;
/// What `--days` accepts.
pub const DAYS: RangeInclusive<u32> = 1..=366;

/// What `--by` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Group {
    /// The model each attempt reported (`model` on a handler's JSON line)
    Model,
    /// The job's queue
    Queue,
    /// The provider limit (`[[limit]]`) of each job
    Limit,
}

pub fn run(settings: &Settings, args: &SpendArgs) -> Result<(), Failure> {
    let by = match args.by {
        None => None,
        Some(Group::Model) => Some(SpendBy::Model),
        Some(Group::Queue) => Some(SpendBy::Queue),
        Some(Group::Limit) => Some(SpendBy::Limit),
    };
    let admin = super::admin(settings)?;
    if let Some(by) = by {
        return run_by(&admin, by, args);
    }
    let (days, cap) = read(&admin, args.days)?;
    if args.json {
        return output::print_json(&json(&days, cap));
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

/// The ledger of the last `days` UTC days, newest first, and the cap in force: the one the
/// last runner started with (see `status`).
pub fn read(admin: &Admin, days: u32) -> Result<(Vec<DaySpend>, Option<i64>), StoreError> {
    Ok((admin.spend(days)?, admin.status()?.cap_micros))
}

/// What `--json` prints (and `/api/spend` answers).
pub fn json(days: &[DaySpend], cap: Option<i64>) -> SpendJson {
    SpendJson { daily_cap_micros: cap, days: days.to_vec() }
}

/// The spend ledger as `spend --json` prints it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SpendJson {
    /// The daily cap in force, micro-dollars; null: no cap.
    pub daily_cap_micros: Option<i64>,
    /// The UTC days that recorded a cost, the newest first.
    pub days: Vec<DaySpend>,
}

/// `spend --by model|queue`.
fn run_by(admin: &Admin, by: SpendBy, args: &SpendArgs) -> Result<(), Failure> {
    let groups = admin.spend_by(by, args.days)?;
    if args.json {
        return output::print_json(&json_by(by, args.days, &groups));
    }
    let title = by.as_str().to_uppercase();
    outln!("the last {} UTC day(s), by {}, the costliest first", args.days, by.as_str())?;
    outln!(
        "{:<32} {:>12} {:>9} {:>12} {:>12}",
        title,
        "SPENT",
        "ATTEMPTS",
        "TOKENS IN",
        "TOKENS OUT"
    )?;
    for g in &groups {
        outln!(
            "{:<32} {:>12} {:>9} {:>12} {:>12}",
            g.name.as_deref().unwrap_or("(none)"),
            output::usd(g.micros),
            g.attempts,
            g.tokens_in,
            g.tokens_out
        )?;
    }
    if groups.is_empty() {
        outln!("(nothing recorded in the last {} day(s))", args.days)?;
    }
    Ok(())
}

/// What `spend --by X --json` prints: each group named under the key `X` (`null` for attempts
/// that named no model).
pub fn json_by(by: SpendBy, days: u32, groups: &[GroupSpend]) -> Value {
    let rows: Vec<Value> = groups
        .iter()
        .map(|g| {
            json!({
                by.as_str(): g.name,
                "micros": g.micros,
                "attempts": g.attempts,
                "tokens_in": g.tokens_in,
                "tokens_out": g.tokens_out,
            })
        })
        .collect();
    json!({ "by": by.as_str(), "days": days, "groups": rows })
}
