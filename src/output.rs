//! Formatting shared by the commands: printing to stdout, JSON, times and ages a person can
//! read.
//!
//! Commands print with [`outln!`] and [`print_json`] rather than `println!`: a write that fails
//! comes back as [`Failure::Output`] instead of a panic, so `nightshift jobs | head -1` stops
//! at the first write after `head` exits and `main` ends it quietly (a broken pipe is not an
//! error worth a word; any other write error is).

use std::fmt;
use std::io::Write;
use std::time::Duration;

use nightshift_actors::{Enqueued, Timestamp};
use serde::Serialize;

use crate::Failure;

/// `println!` for a command's output: `outln!(...)?` returns the write error as a [`Failure`].
macro_rules! outln {
    () => {
        $crate::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

/// Writes formatted text to stdout; the error, a closed pipe included, is the caller's.
pub fn write_out(args: fmt::Arguments<'_>) -> Result<(), Failure> {
    std::io::stdout().write_fmt(args).map_err(Failure::Output)
}

/// Prints a value as one line of JSON.
pub fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    outln!("{}", serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()))
}

/// What enqueueing `key` did, in the words `enqueue` prints: `enqueued KEY`,
/// `duplicate KEY (done)`, `dead_lettered KEY`, `conflict KEY (pending)`.
pub fn enqueued(key: &str, outcome: &Enqueued) -> String {
    match outcome {
        Enqueued::Enqueued => format!("enqueued {key}"),
        Enqueued::Duplicate { status } => format!("duplicate {key} ({status})"),
        Enqueued::DeadLettered => format!("dead_lettered {key}"),
        Enqueued::Cancelled => format!("cancelled {key}"),
        Enqueued::Conflict { status } => format!("conflict {key} ({status})"),
    }
}

/// An RFC 3339 UTC time with milliseconds.
pub fn time(at: Timestamp) -> String {
    humantime::format_rfc3339_millis(at.max(Timestamp::EPOCH).to_system()).to_string()
}

/// A rough age or delay: `45s`, `12m`, `3h`, `2d`.
pub fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Dollars from micro-dollars.
pub fn usd(micros: i64) -> String {
    format!("${:.4}", micros as f64 / 1e6)
}

/// The first line of `text`, cut to `max` characters, for one-line tables.
pub fn one_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() > max {
        format!("{}…", line.chars().take(max.saturating_sub(1)).collect::<String>())
    } else {
        line.to_owned()
    }
}
