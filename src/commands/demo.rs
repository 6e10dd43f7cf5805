//! `nightshift demo`: a newcomer's first minute. In a fresh folder it creates a database,
//! enqueues a handful of jobs (one flaky, one poison), runs them with the example agent shipped
//! in `examples/agent.py`, and prints the status and the dead letter.

use std::path::Path;
use std::time::Duration;

use nightshift_actors::{Admin, Engine, NewJob};

use crate::Failure;
use crate::cli::{DemoArgs, DlqCommand, LogFormat};
use crate::config::{Settings, Sources};
use crate::events;
use crate::handler::CommandHandler;

/// The example agent, shipped inside the binary so the demo runs from any folder.
const AGENT: &str = include_str!("../../examples/agent.py");

const JOBS: &[(&str, &str)] = &[
    ("digest-mon", r#"{"topic":"monday's inbox"}"#),
    ("digest-tue", r#"{"topic":"tuesday's inbox"}"#),
    ("triage-42", r#"{"topic":"issue 42","flaky":true}"#),
    ("report-q3", r#"{"topic":"q3 numbers"}"#),
    ("triage-13", r#"{"topic":"issue 13","poison":true}"#),
];

pub fn run(args: &DemoArgs) -> Result<(), Failure> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::Usage(format!("cannot create {}: {e}", dir.display())))?;
    let agent = dir.join("agent.py");
    std::fs::write(&agent, AGENT)
        .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", agent.display())))?;
    let db = dir.join("nightshift.db");
    let no_env = |_: &str| None;
    let sources = Sources { db: Some(&db), config: None, env: &no_env, default_file: false };
    let mut settings = Settings::load(&sources)?;
    // Short delays so the retries and the dead letter show within seconds.
    settings.retry.base = Duration::from_millis(250);
    settings.retry.cap = Duration::from_secs(2);
    settings.timeout = Duration::from_secs(30);

    let mut admin = Admin::create(&settings.engine_config())?;
    println!("== enqueue: {} jobs into {}", JOBS.len(), db.display());
    for (key, payload) in JOBS {
        let outcome = admin.enqueue(&NewJob::new(*key, *payload))?;
        println!("   {key}: {outcome:?}");
    }
    drop(admin);

    println!("== run --once with `python3 {} {}`", agent.display(), effects(dir).display());
    events::install(LogFormat::Text);
    let mut config = settings.engine_config();
    config.workers = 2;
    let argv =
        vec!["python3".to_owned(), agent.display().to_string(), effects(dir).display().to_string()];
    let handler = CommandHandler::new(argv, settings.permanent_exit_codes.clone(), Vec::new());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let engine = Engine::start(config, handler).await?;
        engine.drain(Duration::from_secs(10)).await?;
        engine.shutdown(Duration::from_secs(5)).await?;
        Ok::<_, Failure>(())
    })?;

    println!("\n== nightshift status");
    super::status::run(&settings, false)?;
    println!("\n== nightshift dlq list");
    super::dlq::run(&settings, &DlqCommand::List { limit: 20, json: false })?;
    println!("\n== side effects, one line per key ({})", effects(dir).display());
    print!("{}", std::fs::read_to_string(effects(dir)).unwrap_or_default());
    let db_arg = db.display();
    println!(
        "\nNext: look at the poison job with `nightshift --db {db_arg} dlq show triage-13`, \
         bring it back with `nightshift --db {db_arg} dlq replay triage-13`, \
         and inspect the tables with `sqlite3 {db_arg} \"SELECT key, status, attempts FROM jobs\"`."
    );
    Ok(())
}

fn effects(dir: &Path) -> std::path::PathBuf {
    dir.join("effects.txt")
}
