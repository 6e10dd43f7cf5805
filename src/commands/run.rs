//! `nightshift run`: works the queue with the handler command. `--once` runs everything due,
//! waits for retries that fall due within `--wait`, and exits (cron, systemd timers); without it
//! the runner works until SIGTERM or SIGINT, then shuts down in order within `--grace`.

use std::time::Duration;

use nightshift_actors::{Admin, Engine, EngineHandle};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::Failure;
use crate::cli::RunArgs;
use crate::config::{Settings, parse_duration};
use crate::events;
use crate::handler::{CommandHandler, Registry};

pub fn run(settings: &Settings, args: &RunArgs) -> Result<(), Failure> {
    let argv = if args.command.is_empty() {
        settings.handler.clone().ok_or_else(|| {
            Failure::Usage(
                "no handler command: give one after `--` (nightshift run -- python3 agent.py) \
                 or set [handler] command in nightshift.toml"
                    .to_owned(),
            )
        })?
    } else {
        args.command.clone()
    };
    let grace = parse_duration("--grace", &args.grace)?;
    let wait = match &args.wait {
        Some(w) => parse_duration("--wait", w)?,
        None => settings.retry.cap,
    };
    // Refuse a missing, empty or foreign file before anything could create or change it.
    Admin::check(&settings.db)?;
    events::install(args.log_format.unwrap_or_else(events::default_format));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("cannot start the async runtime: {e}")))?;
    let mut config = settings.engine_config();
    config.workers = args.workers as usize;
    let secrets: Vec<String> = settings.webhook.iter().cloned().collect();
    let registry = Registry::beside(&settings.db);
    let handler = CommandHandler::new(argv, settings.permanent_exit_codes.clone(), secrets)
        .with_registry(registry.clone());
    config.on_locked = Some(std::sync::Arc::new(move || {
        let killed = registry.reap_stale();
        if killed > 0 {
            tracing::warn!(target: "nightshift", event = "stale_handlers_killed", count = killed,
                reason = "a previous runner died and left handler processes behind");
        }
    }));
    let schedules = settings.schedules.clone();
    runtime.block_on(async move {
        // Listen before starting: a SIGTERM that arrives while the engine starts is not lost.
        let signal_error =
            |e: std::io::Error| Failure::Failed(format!("cannot listen for signals: {e}"));
        let term = signal(SignalKind::terminate()).map_err(signal_error)?;
        let int = signal(SignalKind::interrupt()).map_err(signal_error)?;
        let engine = Engine::start(config.clone(), handler).await?;
        // Holding the runner lock now: enqueue the latest tick each schedule missed.
        crate::schedule::catch_up(&config, &schedules)?;
        if args.once {
            once(engine, wait, grace).await
        } else {
            let (stop, stopped) = std::sync::mpsc::channel();
            let ticker =
                std::thread::spawn(move || crate::schedule::run_until(config, schedules, stopped));
            let result = until_signalled(engine, grace, term, int).await;
            drop(stop);
            let _ = ticker.join();
            result
        }
    })
}

async fn once(engine: EngineHandle, wait: Duration, grace: Duration) -> Result<(), Failure> {
    let status = engine.drain(wait).await?;
    if status.paused {
        let why = status.pause_reason.as_deref().unwrap_or("no reason given");
        eprintln!(
            "nightshift: paused ({why}); no job was run. `nightshift resume` turns it back on"
        );
    }
    // Owed alerts go out before exit when the webhook answers; what is left waits for next run.
    engine.flush_alerts(Duration::from_secs(10)).await;
    Ok(engine.shutdown(grace).await?)
}

async fn until_signalled(
    mut engine: EngineHandle,
    grace: Duration,
    mut term: Signal,
    mut int: Signal,
) -> Result<(), Failure> {
    let died = tokio::select! {
        _ = term.recv() => None,
        _ = int.recv() => None,
        stopped = engine.wait() => Some(stopped),
    };
    if let Some(stopped) = died {
        // The tree gave up (a crash loop): exit non-zero so systemd or Fly restarts us.
        return Err(stopped.into());
    }
    Ok(engine.shutdown(grace).await?)
}
