//! The nightshift binary: parses the command line, loads the settings, runs one command and
//! maps its failure to the exit codes of DESIGN.md section 8.
//!
//! # Layout
//!
//! - `cli`: the clap definitions (what `--help` prints).
//! - `config`: `nightshift.toml` + environment + flags.
//! - `commands`: one file per command.
//! - `handler`: runs a job as an external program (payload on stdin, its own process group).
//! - `heartbeat`: the dead-man's switch `run` pings (`[heartbeat] url`).
//! - `http`: the HTTP API `serve` runs (JSON under `/api/`, `/metrics`, `/healthz`).
//! - `events`: turns the engine's tracing events into JSON lines or text on stdout.
//! - `metrics`: Prometheus metrics read from the database (`status --prom`).
//! - `output`: formatting shared by the commands.
//! - `schedule`: `[[schedule]]` cron entries that enqueue a job per tick.

mod cli;
mod commands;
mod config;
mod events;
mod handler;
mod heartbeat;
mod http;
mod metrics;
mod output;
mod schedule;

use std::io::Write;
use std::process::ExitCode;

/// Why a command failed, which decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// 1: the operation failed (conflict, unknown key, webhook failed).
    Failed(String),
    /// 2: usage or configuration error, bad input.
    Usage(String),
    /// 3: another runner holds the database.
    Locked(String),
    /// 1: the command's output could not be written to stdout; a closed pipe ends the command
    /// quietly instead (see [`Failure::is_closed_stdout`]).
    Output(std::io::Error),
    /// This exit code, nothing printed: another program's, passed on (`step`'s command).
    Exit(u8),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Failed(_) | Failure::Output(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Locked(_) => 3,
            Failure::Exit(code) => *code,
        }
    }

    /// Whether stdout was closed under the command (`nightshift jobs | head -1`): a broken
    /// pipe anywhere in the error's source chain. Decided by the error's kind, never its text.
    fn is_closed_stdout(&self) -> bool {
        let Failure::Output(e) = self else { return false };
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = next {
            let Some(io) = err.downcast_ref::<std::io::Error>() else {
                next = err.source();
                continue;
            };
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return true;
            }
            // An io::Error's source() skips the error it wraps: look inside.
            next = match io.get_ref() {
                Some(inner) => Some(inner),
                None => err.source(),
            };
        }
        false
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Failed(m) | Failure::Usage(m) | Failure::Locked(m) => f.write_str(m),
            Failure::Output(e) => write!(f, "cannot write the output to stdout: {e}"),
            Failure::Exit(code) => write!(f, "exit status {code}"),
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
        // A full disk is known by SQLite's code, wherever it surfaced, and named with its fix.
        match e.named() {
            e @ (E::InvalidKey(_)
            | E::PayloadTooLarge { .. }
            | E::InvalidValue(_)
            | E::Open(_)
            | E::Missing(_)) => Failure::Usage(e.to_string()),
            e @ (E::Sqlite(_)
            | E::Commit(_)
            | E::Postgres(_)
            | E::Unavailable(_)
            | E::DiskFull { .. }
            | E::Inconsistent(_)) => Failure::Failed(e.to_string()),
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
    let cli = cli::parse();
    // Commands print through `output::outln!`, which hands a failed write back as
    // `Failure::Output`; the flush catches what is still buffered.
    let result =
        commands::run(cli).and_then(|()| std::io::stdout().flush().map_err(Failure::Output));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): nobody is left to read a message, and the command
        // did what it was asked up to that point. Quiet success, as cat and ripgrep do.
        Err(failure) if failure.is_closed_stdout() => ExitCode::SUCCESS,
        Err(Failure::Exit(code)) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("nightshift: {failure}");
            ExitCode::from(failure.code())
        }
    }
}
