//! The nightshift binary: parses the command line, loads the settings, runs one command and
//! maps its failure to the exit codes of DESIGN.md section 8.
//!
//! # Layout
//!
//! - `cli`: the clap definitions (what `--help` prints).
//! - `config`: `nightshift.toml` + environment + flags.
//! - `commands`: one file per command.
//! - `handler`: runs a job as an external program (payload on stdin, its own process group).
//! - `events`: turns the engine's tracing events into JSON lines or text on stdout.
//! - `output`: formatting shared by the commands.
//! - `schedule`: `[[schedule]]` cron entries that enqueue a job per tick.

mod cli;
mod commands;
mod config;
mod events;
mod handler;
mod output;
mod schedule;

use std::process::ExitCode;

use clap::Parser;

/// Why a command failed, which decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// 1: the operation failed (conflict, unknown key, webhook failed).
    Failed(String),
    /// 2: usage or configuration error, bad input.
    Usage(String),
    /// 3: another runner holds the database.
    Locked(String),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Failed(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Locked(_) => 3,
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::Failed(m) | Failure::Usage(m) | Failure::Locked(m) => m,
        }
    }
}

impl From<config::ConfigError> for Failure {
    fn from(e: config::ConfigError) -> Self {
        Failure::Usage(e.0)
    }
}

impl From<nightshift_actors::StoreError> for Failure {
    fn from(e: nightshift_actors::StoreError) -> Self {
        use nightshift_actors::StoreError as E;
        let text = e.to_string();
        if text.contains("database or disk is full") {
            return Failure::Failed(format!(
                "the disk holding the database is full ({text}); nothing was written. Free space \
                 there (or raise [store] limits) and retry"
            ));
        }
        match e {
            E::InvalidKey(_)
            | E::PayloadTooLarge { .. }
            | E::InvalidValue(_)
            | E::Open(_)
            | E::Missing(_) => Failure::Usage(e.to_string()),
            E::Sqlite(_) | E::Commit(_) | E::Unavailable(_) | E::DiskFull(_) => {
                Failure::Failed(e.to_string())
            }
        }
    }
}

impl From<nightshift_actors::EngineError> for Failure {
    fn from(e: nightshift_actors::EngineError) -> Self {
        use nightshift_actors::EngineError as E;
        match e {
            E::Locked { .. } => Failure::Locked(e.to_string()),
            E::Store(s) => s.into(),
            E::Io { .. } => Failure::Usage(e.to_string()),
            E::Spawn(_) | E::Stopped(_) => Failure::Failed(e.to_string()),
        }
    }
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("nightshift: {}", failure.message());
            ExitCode::from(failure.code())
        }
    }
}
