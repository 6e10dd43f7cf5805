//! Parsing with one rule clap's derive cannot say: `demo` and `bench` make their own database,
//! so a `--db` given to them is refused instead of silently ignored.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Arg, CommandFactory, FromArgMatches};

use super::Cli;

/// The commands that make their own database and so take no `--db`.
const OWN_DATABASE: [(&str, &str); 2] = [
    ("demo", "the demo makes its own database, nightshift.db in its --dir"),
    ("bench", "the bench makes its own database in a temp folder and removes it"),
];

/// Why a PostgreSQL URL given to `bench` is refused rather than measured.
pub const BENCH_SQLITE_ONLY: &str = "bench measures SQLite only (the engine and raw rusqlite on \
    fresh temp SQLite files) and cannot measure a PostgreSQL database";

/// Parses the command line as clap's `Cli::parse` does, and refuses `--db` given to a command
/// that makes its own database (exit 2, clap's usage error) instead of silently ignoring it.
/// `NIGHTSHIFT_DB` in the environment is left alone there: it is meant for the other commands.
pub fn parse() -> Cli {
    let mut command = Cli::command();
    for (name, _) in OWN_DATABASE {
        // A subcommand's own `db` argument keeps the global one from being copied into it, so
        // its --help does not list --db; this hidden one only catches `demo --db PATH`.
        command = command.mut_subcommand(name, |sub| {
            sub.arg(Arg::new("db").long("db").hide(true).value_parser(clap::value_parser!(PathBuf)))
        });
    }
    let matches = command.get_matches_mut();
    if let Some((name, sub)) = matches.subcommand()
        && let Some((_, why)) = OWN_DATABASE.iter().find(|(n, _)| *n == name)
    {
        let given = |m: &clap::ArgMatches| m.value_source("db") == Some(ValueSource::CommandLine);
        if given(&matches) || given(sub) {
            // Named without the URL, which may hold a password.
            let postgres = [&matches, sub]
                .iter()
                .filter(|m| given(m))
                .filter_map(|m| m.get_one::<PathBuf>("db"))
                .any(|db| nightshift_actors::is_postgres_url(&db.to_string_lossy()));
            let message = if postgres && name == "bench" {
                format!("`bench` takes no --db: {BENCH_SQLITE_ONLY}; drop --db")
            } else {
                format!("`{name}` takes no --db: {why}; drop --db")
            };
            command.error(clap::error::ErrorKind::ArgumentConflict, message).exit();
        }
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}
