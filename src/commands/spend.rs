//! `nightshift spend`: the cost ledger per UTC day against the daily cap.

use std::ops::RangeInclusive;

use nightshift_actors::{Admin, DaySpend, StoreError};

use crate::Failure;
use crate::cli::SpendArgs;
use crate::config::Settings;
use crate::output::{self, outln};

/// Days shown when `--days` is not given.
pub const DEFAULT_DAYS: u32 = 7;
/// What `--days` accepts.
pub const DAYS: RangeInclusive<u32> = 1..=366;

pub fn run(settings: &Settings, args: &SpendArgs) -> Result<(), Failure> {
    let admin = super::admin(settings)?;
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
