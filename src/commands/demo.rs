//! `nightshift demo`: a newcomer's first minute. In a fresh folder it creates a database,
//! enqueues a handful of jobs (one flaky, one poison), runs them with the example agent shipped
//! in `examples/agent.py`, and prints the status, the dead letter and the dead-letter alert.
//!
//! Alerts go to `ALERT_WEBHOOK` when it is set; otherwise to a loopback webhook inside the
//! demo (`demo/webhook.rs`), whose received request is printed. The closing hints are commands
//! that work for how the demo was started: through `cargo run`, or as an installed binary.

mod webhook;

use std::path::Path;
use std::time::Duration;

use nightshift_actors::{Admin, Engine, NewJob};

use crate::Failure;
use crate::cli::{DemoArgs, DlqCommand, LogFormat};
use crate::config::{Settings, Sources};
use crate::handler::CommandHandler;
use crate::output::outln;
use crate::{events, output};

use self::webhook::Loopback;

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
    // The demo's settings are its own (no config file, no cap), except where alerts go.
    let env = |name: &str| if name == "ALERT_WEBHOOK" { std::env::var(name).ok() } else { None };
    let sources = Sources { db: Some(&db), config: None, env: &env, default_file: false };
    let mut settings = Settings::load(&sources)?;
    // Short delays so the retries and the dead letter show within seconds.
    settings.retry.base = Duration::from_millis(250);
    settings.retry.cap = Duration::from_secs(2);
    settings.timeout = Duration::from_secs(30);
    let loopback = match settings.webhook {
        Some(_) => None,
        None => {
            let hook = Loopback::start().map_err(|e| {
                Failure::Failed(format!("cannot start the demo's webhook on 127.0.0.1: {e}"))
            })?;
            settings.webhook = Some(hook.url());
            settings.alert_format = nightshift_actors::alerts::AlertFormat::Json;
            Some(hook)
        }
    };

    let mut admin = Admin::create(&settings.engine_config())?;
    outln!("== enqueue: {} jobs into {}", JOBS.len(), db.display())?;
    for (key, payload) in JOBS {
        let outcome = admin.enqueue(&NewJob::new(*key, *payload))?;
        outln!("   {}", output::enqueued(key, &outcome))?;
    }
    drop(admin);

    outln!("== run --once with `python3 {} {}`", agent.display(), effects(dir).display())?;
    events::install(LogFormat::Text);
    let mut config = settings.engine_config();
    config.workers = 2;
    let argv =
        vec!["python3".to_owned(), agent.display().to_string(), effects(dir).display().to_string()];
    let secrets: Vec<String> = settings.webhook.iter().cloned().collect();
    let handler = CommandHandler::new(argv, settings.permanent_exit_codes.clone(), secrets);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("cannot start the async runtime: {e}")))?;
    let undelivered = runtime.block_on(async {
        let handler = handler.with_step_socket(super::step_socket()?);
        let engine = Engine::start(config, handler).await?;
        engine.drain(Duration::from_secs(10)).await?;
        let undelivered = engine.flush_alerts(Duration::from_secs(10)).await;
        engine.shutdown(Duration::from_secs(5)).await?;
        Ok::<_, Failure>(undelivered)
    })?;

    outln!("\n== nightshift status")?;
    super::status::run(&settings, super::status::Format::Text)?;
    outln!("\n== nightshift dlq list")?;
    super::dlq::run(
        &settings,
        &DlqCommand::List { limit: 20, filter: Default::default(), json: false },
    )?;
    match &loopback {
        Some(hook) => print_received(hook, dir)?,
        None if undelivered == 0 => {
            outln!("\n== alerts: sent to your webhook (ALERT_WEBHOOK)")?;
        }
        None => outln!(
            "\n== alerts: {undelivered} not delivered to your webhook (ALERT_WEBHOOK) yet; \
             `nightshift alert test` shows why"
        )?,
    }
    outln!("\n== side effects, one line per key ({})", effects(dir).display())?;
    output::write_out(format_args!(
        "{}",
        std::fs::read_to_string(effects(dir)).unwrap_or_default()
    ))?;
    let ns = invocation();
    let db_arg = super::deploy::quote::shell(&db.to_string_lossy());
    outln!("\nNext, from this directory:")?;
    outln!("  {ns} --db {db_arg} dlq show triage-13      # the poison job and every error")?;
    outln!("  {ns} --db {db_arg} dlq replay triage-13    # back in the queue, attempts reset")?;
    outln!("  {ns} --db {db_arg} jobs                    # every job and its status")?;
    Ok(())
}

/// Prints what the loopback webhook received: the dead-letter alert a new user came to see.
fn print_received(hook: &Loopback, dir: &Path) -> Result<(), Failure> {
    outln!(
        "\n== alerts received by the demo's webhook ({}; set ALERT_WEBHOOK to a Slack, \
         Discord, ntfy or Telegram URL to get them there)",
        hook.url()
    )?;
    let received = hook.received();
    if received.is_empty() {
        outln!(
            "   none this time: the dead letter is from an earlier demo in {}; remove that \
             folder to start over",
            dir.display()
        )?;
    }
    for request in received {
        let body = serde_json::from_slice::<serde_json::Value>(&request.body)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| String::from_utf8_lossy(&request.body).into_owned());
        outln!("{}\n{body}", request.line)?;
    }
    Ok(())
}

/// The command that runs this nightshift again from the same directory. Under `cargo run`
/// (cargo sets `CARGO` and `CARGO_PKG_NAME` for the program it runs) that is `cargo run --`;
/// otherwise `nightshift` when that name on PATH is this binary, else this binary's path.
fn invocation() -> String {
    let exe = std::env::current_exe().ok();
    let under_cargo = std::env::var_os("CARGO").is_some()
        && std::env::var("CARGO_PKG_NAME").is_ok_and(|n| n == env!("CARGO_PKG_NAME"));
    if under_cargo {
        let release = exe.as_deref().and_then(Path::parent).is_some_and(|d| d.ends_with("release"));
        return if release { "cargo run --release --" } else { "cargo run --" }.to_owned();
    }
    let Some(exe) = exe else { return "nightshift".to_owned() };
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nightshift"))
            .find(|candidate| candidate.is_file())
    });
    let same = |a: &Path, b: &Path| a.canonicalize().ok() == b.canonicalize().ok();
    match on_path {
        Some(found) if same(&found, &exe) => "nightshift".to_owned(),
        _ => super::deploy::quote::shell(&exe.to_string_lossy()),
    }
}

fn effects(dir: &Path) -> std::path::PathBuf {
    dir.join("effects.txt")
}
