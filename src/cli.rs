//! The command line, as clap parses it. DESIGN.md section 8 is the contract.

use std::path::PathBuf;

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

mod dlq;
mod parse;
mod purge;
mod step;
mod tools;
mod waits;

pub use dlq::{DeadFilterArgs, DlqReplayArgs, Selection, parse_reason};
pub use parse::{BENCH_DB, parse};
pub use purge::DlqPurgeArgs;
pub use step::StepArgs;
pub use tools::{BenchArgs, MigrateArgs};
pub use waits::{CancelArgs, SignalArgs};

/// nightshift: a durable job runner for unattended agents.
///
/// Jobs live in one SQLite file, or in a PostgreSQL database that several runners share. `run`
/// works them with your handler command (payload on stdin, NIGHTSHIFT_KEY in its environment),
/// retrying failures with backoff and moving jobs that keep failing to the dead letter, from
/// where `dlq replay` brings them back.
///
/// Exit codes: 0 ok, 1 the operation failed (conflict, unknown key), 2 usage or config error,
/// 3 another runner holds the database.
#[derive(Debug, Parser)]
#[command(name = "nightshift", version, max_term_width = 100)]
pub struct Cli {
    /// The database: a SQLite file [default: nightshift.db], or a PostgreSQL URL
    /// (postgres://user:password@host:5432/dbname) for several runners on one queue
    // Parsed as any string (clap's PathBuf parser refuses "" itself, blaming `--db` even when
    // NIGHTSHIFT_DB was the empty one): the commands refuse it, naming where it came from.
    #[arg(long, global = true, env = "NIGHTSHIFT_DB", value_name = "PATH",
          value_parser = clap::builder::OsStringValueParser::new().map(PathBuf::from))]
    pub db: Option<PathBuf>,
    /// The config file [default: ./nightshift.toml when present]
    #[arg(long, global = true, env = "NIGHTSHIFT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database if missing, and a commented nightshift.toml where no config exists;
    /// `init -- python3 agent.py` writes that handler into it as [handler] command
    Init(InitArgs),
    /// Add a job; enqueueing an existing key changes nothing
    Enqueue(EnqueueArgs),
    /// Work the queue: until SIGTERM/SIGINT (--http ADDR also serves the HTTP API), or with
    /// --once until nothing is due
    Run(RunArgs),
    /// Counts by status, dead letters, oldest pending job, gates, whether a runner is alive;
    /// --prom prints them as Prometheus metrics
    Status(StatusArgs),
    /// List jobs, the newest first, show one, or purge pending and finished ones
    Jobs(JobsArgs),
    /// The dead letter: list, show, replay or purge jobs that failed for good
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Turn the kill switch on: runners claim nothing more; jobs in flight finish
    Pause {
        /// Why, shown by `status`
        #[arg(long)]
        reason: Option<String>,
    },
    /// Turn the kill switch off
    Resume,
    /// Serve the JSON API and /metrics over HTTP, beside a runner (`run --http` serves it from
    /// inside one); a bearer token
    /// (NIGHTSHIFT_TOKEN or [http] token_file) is required to listen beyond loopback
    Serve(ServeArgs),
    /// A first run in a fresh folder: a demo queue, an example agent, retries and the DLQ
    Demo(DemoArgs),
    /// The spend ledger per UTC day against the daily cap, or per model, queue or limit (--by)
    Spend(SpendArgs),
    /// Inside a handler: run CMD as the memoized step NAME of the running job (its recorded
    /// output is printed instead when an earlier attempt recorded it)
    Step(StepArgs),
    /// Continue a job waiting for the signal NAME: PAYLOAD (`-`: stdin) becomes its step NAME
    Signal(SignalArgs),
    /// Cancel jobs: a pending or waiting one becomes `cancelled`; a running one's handler is
    /// stopped (SIGTERM to its process group, SIGKILL after the grace) and its outcome dropped
    Cancel(CancelArgs),
    /// Alerts: `alert test` sends one through the configured webhook now
    Alert {
        #[command(subcommand)]
        command: AlertCommand,
    },
    /// Check a deployment: storage, database, handler, webhook, heartbeat, cap, disk, lock, clock
    Doctor(DoctorArgs),
    /// Print a crontab line, a systemd unit or a fly.toml filled in for this install
    Deploy(DeployArgs),
    /// Copy a SQLite database into PostgreSQL, in one transaction; the source is left as it is
    Migrate(MigrateArgs),
    /// Measure this machine: no-op jobs through the whole engine and through raw rusqlite, each
    /// run on a fresh temp SQLite database; with --db postgres://..., PostgreSQL as well
    Bench(BenchArgs),
    /// One runner process of `bench --db postgres://...` (started by the bench itself)
    #[command(hide = true)]
    BenchRunner,
}

#[derive(Debug, Args)]
pub struct SpendArgs {
    /// Days to show, today included
    #[arg(
        long,
        default_value_t = crate::commands::spend::DEFAULT_DAYS,
        value_parser = clap::value_parser!(u32).range(
            i64::from(*crate::commands::spend::DAYS.start())
                ..=i64::from(*crate::commands::spend::DAYS.end())
        )
    )]
    pub days: u32,
    /// Group the days' spend by the model each attempt reported, the job's queue or its
    /// [[limit]], with tokens
    #[arg(long, value_enum)]
    pub by: Option<crate::commands::spend::Group>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Send one test alert through the configured webhook; exit 1 saying why if it fails (the
    /// HTTP status, connection refused, timed out, a TLS error)
    Test,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The handler command and its arguments, written as [handler] command in the new
    /// nightshift.toml (an existing config is never changed)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Also send a test alert through the configured webhook
    #[arg(long)]
    pub send_test_alert: bool,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// The handler command to check, as `run` takes it [default: [handler] command]
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeployTarget {
    /// A crontab line for `run --once` (scheduled mode)
    Cron,
    /// A systemd service for continuous mode, and a timer for scheduled mode
    Systemd,
    /// A fly.toml for a continuous worker with a volume
    Fly,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Where nightshift will run
    #[arg(value_enum)]
    pub target: DeployTarget,
    /// systemd, fly: the continuous runner also serves the HTTP API on ADDR (`run --http`)
    /// [default: 127.0.0.1:8787 for systemd, 0.0.0.0:8080 for fly]
    #[arg(long, value_name = "ADDR", num_args = 0..=1)]
    pub http: Option<Option<String>>,
    /// The handler command the runs use, put on their command line as `run` takes it
    /// [default: [handler] command]
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// Print Prometheus metrics (text format 0.0.4), as node_exporter's textfile collector
    /// reads them; reads every job and dead letter, where plain `status` reads counters
    #[arg(long, conflicts_with = "json")]
    pub prom: bool,
}

#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// The idempotency key: 1 to 255 bytes, no control characters
    #[arg(
        required_unless_present = "jsonl",
        conflicts_with = "jsonl",
        allow_hyphen_values = false
    )]
    pub key: Option<String>,
    /// The payload text; `-` reads it from stdin [default: "{}"]
    pub payload: Option<String>,
    /// Bulk: one JSON object per line ({"key", "payload", "queue", "max_attempts", "priority",
    /// "delay", "timeout", "limit"}) from FILE, or `-` for stdin; all lines are checked before any is written
    #[arg(long, value_name = "FILE")]
    pub jsonl: Option<PathBuf>,
    /// The queue name
    #[arg(long, default_value = "default")]
    pub queue: String,
    /// Attempts before the job is dead-lettered [default: [retry] max_attempts]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_attempts: Option<u32>,
    /// Higher runs first
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i64,
    /// Run no sooner than this from now (e.g. 10m)
    #[arg(long, conflicts_with = "at", value_name = "DUR")]
    pub delay: Option<String>,
    /// Run no sooner than this time (RFC 3339, e.g. 2026-11-24T07:00:00Z)
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// Handler timeout for this job [default: [handler] timeout]
    #[arg(long, value_name = "DUR")]
    pub timeout: Option<String>,
    /// The provider limit ([[limit]] name) the job counts against: its concurrency, rate,
    /// 429 holds, cost cap and breaker [default: the [[limit]] whose queues list the job's
    /// queue, if one does]
    #[arg(long, value_name = "NAME")]
    pub limit: Option<String>,
    /// Refuse a payload that is not JSON, naming where it stops parsing, and write nothing (as
    /// [store] payload = "json" does for every enqueue)
    #[arg(long)]
    pub json_payload: bool,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run every due job, wait for retries due within --wait, then exit
    #[arg(long)]
    pub once: bool,
    /// Jobs run at the same time
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub workers: u32,
    /// With --once: wait for retries (and snoozes) that fall due within this; 0s waits for none
    /// [default: [retry] cap]
    #[arg(long, value_name = "DUR")]
    pub wait: Option<String>,
    /// On SIGTERM or SIGINT (either mode): how long jobs in flight may take to finish before
    /// they are stopped and given back; a second signal stops them at once
    #[arg(long, default_value = "30s", value_name = "DUR")]
    pub grace: String,
    /// Also serve the HTTP API (as `serve` does) on ADDR, IP:PORT, while the runner works; its
    /// writes go through this runner. Not with --once. Beyond loopback it needs a token
    /// (NIGHTSHIFT_TOKEN or [http] token_file)
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Event format on stdout [default: json when stdout is not a terminal]
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// The handler command and its arguments [default: [handler] command]. Exit 0: done;
    /// 75: snoozed (retry_after_s, no attempt counted), or waiting with a wait line; stdout
    /// JSON lines: cost_usd, retry_after_s, error_class, wait, model, tokens_in, tokens_out
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on, IP:PORT; port 0 picks a free one (the listening line says
    /// which). Any address but loopback needs a token
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR")]
    pub listen: String,
    /// Log format on stdout [default: json when stdout is not a terminal]
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    pub show: Option<JobsCommand>,
    /// Only jobs with this status
    #[arg(long, value_parser = ["pending", "running", "done", "waiting", "cancelled"])]
    pub status: Option<String>,
    /// Only jobs on this queue
    #[arg(long)]
    pub queue: Option<String>,
    /// At most this many, the newest first; a note on stderr says when more matched
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// One job in full
    Show {
        /// The job's idempotency key
        key: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Delete pending or finished jobs for good, so their keys can be enqueued afresh; a
    /// running job is refused (dead letters: `dlq purge`); --older-than deletes done jobs by age
    Purge(JobsPurgeArgs),
}

#[derive(Debug, Args)]
pub struct JobsPurgeArgs {
    /// The keys of the jobs to delete
    #[arg(required_unless_present = "older_than", conflicts_with = "older_than")]
    pub keys: Vec<String>,
    /// Instead of keys: every done job that finished longer ago than this (e.g. 7d), by the
    /// rule [retention] done prunes with: the newest tick of each [[schedule]] stays
    #[arg(long, value_name = "DUR")]
    pub older_than: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Dead-lettered jobs, newest first
    List {
        /// At most this many
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        filter: DeadFilterArgs,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// One dead-lettered job with its error history
    Show {
        /// The dead-lettered job's idempotency key
        key: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Move jobs back to the queue with attempts reset, due at once, their recorded steps kept
    /// (--fresh deletes them)
    Replay(DlqReplayArgs),
    /// Delete dead-lettered jobs for good
    Purge(DlqPurgeArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The folder to run the demo in (created if missing)
    #[arg(long, default_value = "nightshift-demo")]
    pub dir: PathBuf,
}
