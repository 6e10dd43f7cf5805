//! The arguments of the commands about the database and the machine rather than the queue:
//! `migrate` and `bench`.

use std::path::PathBuf;

use clap::Args;
use clap::builder::TypedValueParser;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The SQLite database to copy (opened read-only)
    #[arg(long, value_name = "PATH")]
    pub from: PathBuf,
    /// The PostgreSQL database to copy into: postgres://user:password@host:5432/dbname (its
    /// schema is created if missing; it must hold no jobs yet)
    #[arg(long, value_name = "URL")]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Jobs in every run (each run starts on a fresh database)
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub jobs: u32,
    /// Workers in the end-to-end runs (drains at 4 and at 32 workers are measured beside)
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: u32,
    /// SQLite synchronous setting
    #[arg(long, value_parser = ["full", "normal"], default_value = "full")]
    pub synchronous: String,
    /// Run every measurement at synchronous=full and again at normal, side by side
    #[arg(long, conflicts_with = "synchronous")]
    pub compare_sync: bool,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
    /// Measure PostgreSQL too, on the server this URL names: each run in a scratch database
    /// created there and dropped after it (the URL's own database is left alone; its role needs
    /// CREATEDB), with drains by 1 and by 3 runner processes beside
    // The global --db's type: clap copies this value up into it.
    #[arg(long, value_name = "POSTGRES_URL",
          value_parser = clap::builder::OsStringValueParser::new().map(PathBuf::from))]
    pub db: Option<PathBuf>,
}
