//! `nightshift spend`: the cost ledger per UTC day against the daily cap, or (`--by`) per model,
//! queue or provider limit with the tokens reported; `/api/spend` answers the same JSON.

use std::ops::RangeInclusive;

use clap::ValueEnum;
use nightshift_actors::{Admin, DaySpend, SpendBy, StoreError};
use serde::Serialize;

use crate::Failure;
use crate::cli::SpendArgs;
use crate::config::Settings;
use crate::output::{self, outln};

/// Days shown when `--days` is not given.
pub const DEFAULT_DAYS: u32 = 7;
/// What `--days` accepts.
pub const DAYS: RangeInclusive<u32> = 1..=366;

/// What `--by` groups by (and `/api/spend?by=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// The model each attempt reported (`model` on a handler's JSON line)
    Model,
    /// The job's queue
    Queue,
    /// The provider limit (`[[limit]]`) of each job
    Limit,
}

impl Group {
    /// The group `word` names (`model`, `queue` or `limit`), or why not, naming those words.
    pub fn parse(word: &str) -> Result<Self, String> {
        Self::from_str(word, false).map_err(|_| {
            let words: Vec<String> = Self::value_variants()
                .iter()
                .filter_map(|g| g.to_possible_value())
                .map(|v| v.get_name().to_owned())
                .collect();
            format!("by {word:?} is not one of {}", words.join(", "))
        })
    }
}

impl From<Group> for SpendBy {
    fn from(group: Group) -> Self {
        match group {
            Group::Model => SpendBy::Model,
            Group::Queue => SpendBy::Queue,
            Group::Limit => SpendBy::Limit,
        }
    }
}

pub fn run(settings: &Settings, args: &SpendArgs) -> Result<(), Failure> {
    let admin = super::admin(settings)?;
    if let Some(by) = args.by {
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SpendJson {
    /// The daily cap in force, micro-dollars; null: no cap.
    pub daily_cap_micros: Option<i64>,
    /// The UTC days that recorded a cost, the newest first.
    pub days: Vec<DaySpend>,
}

/// `spend --by model|queue|limit`.
fn run_by(admin: &Admin, by: Group, args: &SpendArgs) -> Result<(), Failure> {
    let answer = read_by(admin, by, args.days)?;
    if args.json {
        return output::print_json(&answer);
    }
    let by = SpendBy::from(by).as_str();
    outln!("the last {} UTC day(s), by {by}, the costliest first", args.days)?;
    outln!(
        "{:<32} {:>12} {:>9} {:>12} {:>12}",
        by.to_uppercase(),
        "SPENT",
        "ATTEMPTS",
        "TOKENS IN",
        "TOKENS OUT"
    )?;
    for g in &answer.groups {
        outln!(
            "{:<32} {:>12} {:>9} {:>12} {:>12}",
            g.name.name().unwrap_or("(none)"),
            output::usd(g.micros),
            g.attempts,
            g.tokens_in,
            g.tokens_out
        )?;
    }
    if answer.groups.is_empty() {
        outln!("(nothing recorded in the last {} day(s))", args.days)?;
    }
    Ok(())
}

/// What `spend --by X --days N --json` prints (and `/api/spend?by=X&days=N` answers), read now.
pub fn read_by(admin: &Admin, by: Group, days: u32) -> Result<SpendByJson, StoreError> {
    let groups = admin.spend_by(by.into(), days)?;
    let groups = groups
        .into_iter()
        .map(|g| GroupJson {
            name: GroupName::of(by, g.name),
            micros: g.micros,
            attempts: g.attempts,
            tokens_in: g.tokens_in,
            tokens_out: g.tokens_out,
        })
        .collect();
    Ok(SpendByJson { by, days, groups })
}

/// The spend by model, queue or limit, as `spend --by X --json` prints it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SpendByJson {
    /// What the groups are.
    pub by: Group,
    /// The UTC days summed, today included.
    pub days: u32,
    /// The costliest first.
    pub groups: Vec<GroupJson>,
}

/// One group's spend and tokens.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GroupJson {
    /// The group's name, under the key `by` names.
    #[serde(flatten)]
    pub name: GroupName,
    /// Cost recorded, micro-dollars.
    pub micros: i64,
    /// Ledger rows: attempts that recorded a cost or a usage.
    pub attempts: u64,
    /// Prompt tokens reported.
    pub tokens_in: i64,
    /// Completion tokens reported.
    pub tokens_out: i64,
}

/// A group's name under its own key: `{"model": "..."}`, `{"queue": "..."}` or
/// `{"limit": "..."}`; null for the attempts that named none.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupName {
    /// The model the attempts reported.
    Model(Option<String>),
    /// The jobs' queue.
    Queue(Option<String>),
    /// The jobs' `[[limit]]`.
    Limit(Option<String>),
}

impl GroupName {
    fn of(by: Group, name: Option<String>) -> Self {
        match by {
            Group::Model => GroupName::Model(name),
            Group::Queue => GroupName::Queue(name),
            Group::Limit => GroupName::Limit(name),
        }
    }

    /// The name, whatever the key.
    fn name(&self) -> Option<&str> {
        match self {
            GroupName::Model(n) | GroupName::Queue(n) | GroupName::Limit(n) => n.as_deref(),
        }
    }
}
