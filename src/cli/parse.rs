//! Parsing with one rule clap's derive cannot say: `demo` and `bench` make their own database,
//! so a `--db` given to them is refused instead of silently ignored (`bench` takes a
//! PostgreSQL URL there, a server to measure as well).

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Arg, CommandFactory, FromArgMatches};

use super::Cli;

/// The commands that make their own database and so take no `--db` before their name.
const OWN_DATABASE: [(&str, &str); 2] = [
    ("demo", "the demo makes its own database, nightshift.db in its --dir"),
    ("bench", "the bench makes its own SQLite databases in a temp folder and removes them"),
];

/// What `bench` does with a database setting: the only one it takes is `--db URL`.
pub const BENCH_DB: &str = "bench measures SQLite in temp files of its own, and PostgreSQL \
    only on a server named by --db on its command line (nightshift bench --db postgres://...)";

/// Parses the command line as clap's `Cli::parse` does, and refuses `--db` given to a command
/// that makes its own database (exit 2, clap's usage error) instead of silently ignoring it.
/// `NIGHTSHIFT_DB` in the environment is left alone there: it is meant for the other commands.
pub fn parse() -> Cli {
    let mut command = Cli::command();
    // A subcommand's own `db` argument keeps the global one from being copied into it, so its
    // --help does not list --db; this hidden one only catches `demo --db PATH` (bench has a
    // `db` argument of its own).
    command = command.mut_subcommand("demo", |sub| {
        sub.arg(Arg::new("db").long("db").hide(true).value_parser(clap::value_parser!(PathBuf)))
    });
    let matches = command.get_matches_mut();
    if let Some((name, sub)) = matches.subcommand()
        && let Some((_, why)) = OWN_DATABASE.iter().find(|(n, _)| *n == name)
    {
        let given = |m: &clap::ArgMatches| m.value_source("db") == Some(ValueSource::CommandLine);
        // Named without the URL, which may hold a password.
        let message = if name == "bench" {
            // clap shares the value between the global --db and bench's own, either side.
            let url = sub.get_one::<PathBuf>("db").map(|db| db.to_string_lossy());
            let url = url.filter(|_| given(&matches) || given(sub));
            if url.is_some_and(|db| !nightshift_actors::is_postgres_url(&db)) {
                Some(format!(
                    "`bench --db` takes a PostgreSQL URL (postgres://user@host/dbname), not a \
                     path: {why}; drop --db, or give a URL"
                ))
            } else {
                None
            }
        } else if given(&matches) || given(sub) {
            Some(format!("`{name}` takes no --db: {why}; drop --db"))
        } else {
            None
        };
        if let Some(message) = message {
            command.error(clap::error::ErrorKind::ArgumentConflict, message).exit();
        }
    }
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // NIGHTSHIFT_DB names the other commands' database, never a server for bench to measure.
    if let super::Command::Bench(args) = &mut cli.command
        && matches.value_source("db") != Some(ValueSource::CommandLine)
    {
        args.db = None;
    }
    cli
}
