//! `nightshift run`: works the queue with the handler command. `--once` runs everything due,
//! waits for retries that fall due within `--wait`, and exits (cron, systemd timers); without it
//! the runner works until SIGTERM or SIGINT.
//!
//! Either way the first SIGTERM or SIGINT stops claiming at once and gives the jobs in flight
//! `--grace` to finish before they are stopped (their leases released, no attempt counted); a
//! second signal cuts the grace short. Whatever ends the run (a signal, the queue drained, an
//! error), the engine is shut down in order before `run` returns: a job is never left `running`
//! for the next start to count as interrupted.
//!
//! With `--http ADDR` (continuous only) the runner also serves the HTTP API, its writes going
//! through this engine (`http`).
//!
//! With `[heartbeat] url` set, `run` pings the dead-man's switch (`crate::heartbeat`): `--once`
//! at its start and end, a continuous runner while it is healthy (`beat`), either `/fail` when
//! it exits non-zero. The pings change neither the exit code nor, beyond a bounded wait at
//! exit, the time a run takes.

mod beat;
mod gates;
mod http;
mod signals;

use std::sync::Arc;
use std::time::Duration;

use nightshift_actors::{Admin, Engine, EngineHandle, Status};

use self::beat::Beat;
use self::signals::Signals;
use crate::Failure;
use crate::cli::RunArgs;
use crate::config::{Settings, parse_duration, parse_duration_or_zero};
use crate::events;
use crate::handler::{CommandHandler, Registry, program};
use crate::heartbeat::{Heartbeat, Ping};

pub fn run(settings: Arc<Settings>, args: &RunArgs) -> Result<(), Failure> {
    // First, so a heartbeat that cannot be sent is logged even for a run refused at once.
    events::install(args.log_format.unwrap_or_else(events::default_format));
    let heartbeat = settings.heartbeat.as_ref().and_then(Heartbeat::start);
    if let (true, Some(heartbeat)) = (args.once, &heartbeat) {
        heartbeat.ping(Ping::Start);
    }
    let result = work(&settings, args, heartbeat.as_ref());
    if let Some(heartbeat) = heartbeat {
        // A refused start (no handler, the lock held) fails the run as much as a crash does.
        let last = match &result {
            Ok(()) if args.once => Some(Ping::Success),
            // A continuous runner stopped by a signal says nothing: a deploy or `systemctl
            // stop` is no failure, and the monitor notices if nothing starts again.
            Ok(()) => None,
            Err(failure) => Some(Ping::failed(failure)),
        };
        heartbeat.finish(last);
    }
    result
}

fn work(
    settings: &Arc<Settings>,
    args: &RunArgs,
    heartbeat: Option<&Heartbeat>,
) -> Result<(), Failure> {
    let http = http::Plan::of(args, settings)?;
    let argv = super::HandlerCommand::pick(&args.command, settings)
        .ok_or_else(|| {
            Failure::Usage(
                "no handler command: give one after `--` (nightshift run -- python3 agent.py) \
                 or set [handler] command in nightshift.toml"
                    .to_owned(),
            )
        })?
        .argv()
        .to_vec();
    // A typo in the handler must not burn every job's attempts: refuse before the first claim.
    program::resolve(&argv[0]).map_err(|e| Failure::Usage(format!("{e}; nothing was run")))?;
    let grace = parse_duration("--grace", &args.grace)?;
    let wait = match &args.wait {
        Some(w) => parse_duration_or_zero("--wait", w)?,
        None => settings.retry.cap,
    };
    // Refuse a missing, empty or foreign file before anything could create or change it.
    Admin::check(&settings.db)?;
    // `--once` lives for milliseconds when nothing is due: one thread runs its actors, so
    // their messages never wait on another thread's wake-up (the Store keeps its own thread).
    // A continuous runner spreads them over two.
    let runtime = if args.once {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    }
    .enable_all()
    .build()
    .map_err(|e| Failure::Failed(format!("cannot start the async runtime: {e}")))?;
    let mut config = settings.engine_config();
    config.workers = args.workers as usize;
    // The webhook, the heartbeat's URL and a database URL (its password) never reach a
    // handler's environment.
    let mut secrets: Vec<String> = settings.webhook.iter().cloned().collect();
    secrets.extend(settings.heartbeat.iter().flat_map(|h| [h.text.clone(), h.url.to_string()]));
    if settings.is_postgres() {
        secrets.push(settings.db.to_string_lossy().into_owned());
    }
    let mut handler = CommandHandler::new(argv, settings.permanent_exit_codes.clone(), secrets);
    // The registry of running handlers lets the next runner kill what a dead one left behind
    // (its handlers die with it, their children may not). On SQLite the lock says when that is
    // safe; on PostgreSQL each runner of this host records its own and a starting runner reaps
    // only those of runners no longer alive.
    if settings.is_postgres() {
        let registry = Registry::per_runner(&settings.db_shown());
        report_reaped(registry.reap_stale());
        handler = handler.with_registry(registry);
    } else {
        let registry = Registry::beside(&settings.db);
        handler = handler.with_registry(registry.clone());
        config.on_locked = Some(std::sync::Arc::new(move || report_reaped(registry.reap_stale())));
    }
    let schedules = settings.schedules.clone();
    let interval = settings.heartbeat.as_ref().map(|h| h.interval);
    runtime.block_on(async move {
        // Listen before starting: a SIGTERM that arrives while the engine starts is not lost.
        let mut signals = Signals::listen(grace)?;
        let bound = match http {
            Some(plan) => Some(plan.bind().await?),
            None => None,
        };
        let handler = handler.with_step_socket(super::step_socket()?);
        let mut engine = Engine::start(config.clone(), handler).await?;
        let serving = match bound {
            Some(bound) => {
                let served = bound.serve(settings.clone(), config.clone(), engine.operator()).await;
                match served {
                    Ok(serving) => Some(serving),
                    Err(failure) => {
                        let _ = engine.shutdown_unless(grace, signals.hurry()).await;
                        return Err(failure);
                    }
                }
            }
            None => None,
        };
        let worked = async {
            // Holding the runner lock now: enqueue the latest tick each schedule missed, through
            // the engine like every write of this runner.
            let ticks = engine.enqueuer();
            let clock = config.clock.as_ref();
            crate::schedule::catch_up(&ticks, clock, &schedules).await.map_err(|e| {
                Failure::Failed(format!("could not enqueue a schedule's tick: {e}"))
            })?;
            if args.once {
                once(&engine, wait, &mut signals).await
            } else {
                let beat = heartbeat.zip(interval).map(|(h, every)| Beat::new(h, every));
                tokio::select! {
                    result = until_signalled(&mut engine, &mut signals, beat) => result,
                    () = crate::schedule::run(&ticks, clock, &schedules) => Ok(()),
                }
            }
        }
        .await;
        // The HTTP listener stops alongside the engine: no new request from here on, those in
        // flight answered while the jobs in flight get their grace.
        let served = async {
            match serving {
                Some(serving) => serving.stop().await,
                None => Ok(()),
            }
        };
        let (stopped, served) =
            tokio::join!(engine.shutdown_unless(grace, signals.hurry()), served);
        // The first failure is the one to report: a shutdown error after it is its echo.
        worked.and(stopped.map_err(Failure::from)).and(served)
    })
}

/// `--once`: drains what is due, says which gate held claims, delivers owed alerts. A signal
/// ends it early; the caller's shutdown then gives the jobs in flight their grace.
async fn once(engine: &EngineHandle, wait: Duration, signals: &mut Signals) -> Result<(), Failure> {
    let drained = tokio::select! {
        drained = engine.drain_observed(wait, gates::waiting) => drained?,
        () = signals.first() => return Ok(()),
    };
    report_held(&drained);
    // Owed alerts go out before exit when the webhook answers; what is left waits for next run.
    engine.flush_alerts(Duration::from_secs(10)).await;
    Ok(())
}

/// Continuous: works until a signal, or until the engine cannot go on (a crash loop, a handler
/// program gone), which exits non-zero so systemd or Fly restarts it. Pings the heartbeat, if
/// any, whenever it is due and the engine is healthy.
async fn until_signalled(
    engine: &mut EngineHandle,
    signals: &mut Signals,
    mut beat: Option<Beat<'_>>,
) -> Result<(), Failure> {
    loop {
        tokio::select! {
            () = signals.first() => return Ok(()),
            stopped = engine.wait() => return Err(stopped.into()),
            () = Beat::due(&mut beat) => {}
        }
        // Waiting on the engine's health is not waiting on its end: a signal still ends it
        // now, and an engine that stopped meanwhile is found at the top of the loop.
        if let Some(beat) = &beat {
            tokio::select! {
                () = signals.first() => return Ok(()),
                () = beat.ping_if_healthy(engine) => {}
            }
        }
    }
}

fn report_held(status: &Status) {
    if let Some(gate) = &status.gate {
        gates::held(gate, status);
    }
}

/// Logs the handler groups a dead runner left behind and this start killed.
fn report_reaped(killed: usize) {
    if killed > 0 {
        tracing::warn!(target: "nightshift", event = "stale_handlers_killed", count = killed,
            reason = "a previous runner died and left handler processes behind");
    }
}
