//! One file per command. Each takes its parsed arguments and the loaded settings and returns
//! `Ok` or a [`Failure`] that decides the exit code.

mod alert;
mod bench;
mod demo;
mod deploy;
mod dlq;
mod doctor;
pub mod enqueue;
mod init;
pub mod jobs;
mod migrate;
mod older_than;
mod pause;
mod run;
mod serve;
pub mod spend;
pub mod status;
mod step;
mod waits;

use nightshift_actors::Admin;

use crate::Failure;
use crate::cli::{Cli, Command};
use crate::config::{Settings, Sources};

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> Result<(), Failure> {
    let env = |name: &str| std::env::var(name).ok();
    match &cli.command {
        Command::Demo(args) => return demo::run(args),
        Command::Bench(args) => {
            if env("NIGHTSHIFT_DB").is_some_and(|db| nightshift_actors::is_postgres_url(&db)) {
                eprintln!(
                    "nightshift: note: {}; NIGHTSHIFT_DB's database is left alone",
                    crate::cli::BENCH_DB
                );
            }
            return bench::run(args);
        }
        Command::Migrate(args) => return migrate::run(args),
        // Talks to the runner of the job it runs in, never to the database.
        Command::Step(args) => return step::run(args),
        Command::BenchRunner => return bench::runner(),
        _ => {}
    }
    if cli.db.as_ref().is_some_and(|db| db.as_os_str().is_empty()) {
        // clap does not say which gave the value: an empty NIGHTSHIFT_DB is named when there
        // is one (it needs fixing either way), the flag otherwise.
        let from_env = env("NIGHTSHIFT_DB").is_some_and(|v| v.is_empty());
        let origin = if from_env { "NIGHTSHIFT_DB is set but empty" } else { "--db is empty" };
        return Err(Failure::Usage(format!(
            "{origin}: give the database's path, like nightshift.db, or leave it out for the \
             default"
        )));
    }
    let sources = Sources {
        db: cli.db.as_deref(),
        config: cli.config.as_deref(),
        env: &env,
        default_file: true,
    };
    let settings = Settings::load(&sources)?;
    for warning in &settings.warnings {
        eprintln!("nightshift: warning: {warning}");
    }
    match cli.command {
        Command::Init(args) => init::run(&settings, &args),
        Command::Enqueue(args) => enqueue::run(&settings, &args),
        Command::Run(args) => run::run(std::sync::Arc::new(settings), &args),
        Command::Status(args) => status::run(&settings, status::Format::of(&args)),
        Command::Jobs(args) => jobs::run(&settings, &args),
        Command::Dlq { command } => dlq::run(&settings, &command),
        Command::Pause { reason } => pause::run(&settings, true, reason.as_deref()),
        Command::Resume => pause::run(&settings, false, None),
        Command::Serve(args) => serve::run(settings, &args),
        Command::Spend(args) => spend::run(&settings, &args),
        Command::Alert { command } => alert::run(&settings, &command),
        Command::Signal(args) => waits::signal(&settings, &args),
        Command::Cancel(args) => waits::cancel(&settings, &args),
        Command::Doctor(args) => doctor::run(&settings, &args),
        Command::Deploy(args) => deploy::run(&settings, &args),
        Command::Bench(args) => bench::run(&args),
        Command::Migrate(_) | Command::BenchRunner => unreachable!("handled above"),
        Command::Demo(_) | Command::Step(_) => unreachable!("handled above"),
    }
}

/// The runner's step socket (see `handler::socket`), served from here until the runner stops.
fn step_socket() -> Result<crate::handler::StepSocket, Failure> {
    crate::handler::StepSocket::bind().map_err(|e| {
        Failure::Failed(format!(
            "cannot create the step socket in the temp directory ({}): {e}; set TMPDIR to a \
             writable directory",
            std::env::temp_dir().display()
        ))
    })
}

/// Opens the existing database for a command that runs beside a runner.
fn admin(settings: &Settings) -> Result<Admin, Failure> {
    Ok(Admin::open(&settings.engine_config())?)
}

/// The handler command a command works with, picked as `run` picks it: the one given after
/// `--` wins over `[handler] command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerCommand {
    /// Given after `--` on this command line.
    Given(Vec<String>),
    /// `[handler] command` in the config.
    Configured(Vec<String>),
}

impl HandlerCommand {
    pub fn pick(given: &[String], settings: &Settings) -> Option<Self> {
        if given.is_empty() {
            settings.handler.clone().map(HandlerCommand::Configured)
        } else {
            Some(HandlerCommand::Given(given.to_vec()))
        }
    }

    /// The program and its arguments.
    pub fn argv(&self) -> &[String] {
        match self {
            HandlerCommand::Given(argv) | HandlerCommand::Configured(argv) => argv,
        }
    }
}
