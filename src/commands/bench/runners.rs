//! Drains by several runner processes sharing one PostgreSQL database, as several hosts would:
//! each a child process of this binary (`nightshift bench-runner`, hidden from `--help`)
//! holding one engine with no-op jobs and its own connections.
//!
//! The parent fills the database with the kill switch on, starts the runners and waits until
//! each says it is up (claiming nothing yet), then turns the switch off (every runner hears it
//! by NOTIFY) and tells them to go. The drain is timed from there to the last runner saying its
//! drain returned, then the parent checks that every job is done, once.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use nightshift_actors::{Admin, Engine};

use super::engine::{NoOp, config, fill};
use super::{FULL, failed};
use crate::Failure;

/// The variable a runner reads its database URL from: not an argument, so a password in it
/// never shows in the process list.
const DB_VAR: &str = "NIGHTSHIFT_BENCH_DB";
/// The variable a runner reads its worker count from.
const WORKERS_VAR: &str = "NIGHTSHIFT_BENCH_WORKERS";

/// Seconds for `runners` runner processes of `workers` workers each to drain `jobs` jobs
/// written into the database at `url` beforehand.
pub(super) fn drain(url: &str, jobs: usize, runners: usize, workers: u32) -> Result<f64, Failure> {
    fill(Path::new(url), jobs, FULL)?;
    let exe = std::env::current_exe().map_err(failed)?;
    let mut children = Vec::with_capacity(runners);
    for _ in 0..runners {
        let child = Command::new(&exe)
            .arg("bench-runner")
            .env(DB_VAR, url)
            .env(WORKERS_VAR, workers.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| failed(format!("cannot start a runner process: {e}")))?;
        children.push(Runner::new(child)?);
    }
    for runner in &mut children {
        runner.expect("ready")?;
    }
    let mut admin = Admin::open(&config(Path::new(url), 1, FULL.sync))?;
    let start = Instant::now();
    admin.set_paused(false, None)?;
    for runner in &mut children {
        runner.say("go")?;
    }
    for runner in &mut children {
        runner.expect("drained")?;
    }
    let secs = start.elapsed().as_secs_f64();
    for runner in &mut children {
        runner.finish()?;
    }
    let done = admin.status()?.done;
    if done as usize != jobs {
        return Err(failed(format!("{runners} runners finished {done} of {jobs} jobs")));
    }
    Ok(secs)
}

/// One runner process and the pipes to it; killed if dropped before it finished.
struct Runner {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl Runner {
    fn new(mut child: Child) -> Result<Self, Failure> {
        let stdout = child.stdout.take().ok_or_else(|| failed("a runner without stdout"))?;
        Ok(Runner { child, lines: BufReader::new(stdout) })
    }

    /// Reads the runner's next line, which must be `word`.
    fn expect(&mut self, word: &str) -> Result<(), Failure> {
        let mut line = String::new();
        self.lines.read_line(&mut line).map_err(failed)?;
        if line.trim_end() == word {
            return Ok(());
        }
        Err(failed(format!("a runner process stopped before saying {word:?} (its error is above)")))
    }

    fn say(&mut self, word: &str) -> Result<(), Failure> {
        let stdin = self.child.stdin.as_mut().ok_or_else(|| failed("a runner without stdin"))?;
        writeln!(stdin, "{word}").map_err(failed)
    }

    /// Waits for the runner to exit, which it must do with status 0.
    fn finish(&mut self) -> Result<(), Failure> {
        let status = self.child.wait().map_err(failed)?;
        if status.success() {
            return Ok(());
        }
        Err(failed(format!("a runner process exited with {status}")))
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `nightshift bench-runner`: one runner of [`drain`], driven by its parent through stdin
/// and stdout.
pub fn runner() -> Result<(), Failure> {
    let url = std::env::var(DB_VAR).map_err(|_| failed(format!("{DB_VAR} is not set")))?;
    let workers = std::env::var(WORKERS_VAR).ok().and_then(|w| w.parse().ok()).unwrap_or(32);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(failed)?;
    runtime.block_on(async {
        let engine = Engine::start(config(Path::new(&url), workers, FULL.sync), NoOp(None)).await?;
        tell("ready")?;
        let mut go = String::new();
        std::io::stdin().read_line(&mut go).map_err(failed)?;
        engine.drain(Duration::ZERO).await?;
        tell("drained")?;
        engine.shutdown(Duration::from_secs(5)).await?;
        Ok(())
    })
}

fn tell(word: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{word}").and_then(|()| out.flush()).map_err(failed)
}
