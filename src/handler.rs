//! The command handler: runs each attempt of a job as an external program (DESIGN.md §10).
//!
//! This file owns the public [`CommandHandler`], the child's environment and how an exit is
//! turned into an [`Outcome`]. `process` owns spawning and killing the process group; `output`
//! owns bounded capture of stdout/stderr and the cost / retry-after lines.

pub(crate) mod output;
mod process;
pub mod program;
mod registry;
pub mod socket;

pub use registry::Registry;
pub use socket::StepSocket;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use nightshift_actors::{ErrorClass, Handler, Job, Outcome};

use self::output::{Head, HintScanner, Hints, STDERR_KEEP, STDOUT_KEEP, Tail};

/// EX_TEMPFAIL: "not now". The job is snoozed: due again after its `retry_after_s` (or the
/// backoff), no attempt counted.
const EX_TEMPFAIL: i32 = 75;

/// Variables never passed to the handler: nightshift's own secrets and settings.
const STRIPPED_VARS: [&str; 5] = [
    "ALERT_WEBHOOK",
    "NIGHTSHIFT_ALERT_WEBHOOK",
    "HEARTBEAT_URL",
    "DAILY_CAP_USD",
    "NIGHTSHIFT_TOKEN",
];

/// The step socket's variables: set for an attempt this runner serves, never inherited (a
/// runner started from inside a handler must not hand its own handlers the outer attempt's).
const STEP_VARS: [&str; 2] = ["NIGHTSHIFT_SOCKET", "NIGHTSHIFT_LEASE"];

/// Runs a job by spawning `argv` directly (never through a shell), with the payload on stdin.
///
/// - Environment: the runner's (or [`with_base_env`](Self::with_base_env)'s), minus
///   `ALERT_WEBHOOK`, `NIGHTSHIFT_ALERT_WEBHOOK`, `HEARTBEAT_URL`, `DAILY_CAP_USD`,
///   `NIGHTSHIFT_TOKEN` and any variable whose trimmed value is one of the secrets, plus
///   `NIGHTSHIFT_KEY`, `NIGHTSHIFT_QUEUE`, `NIGHTSHIFT_ATTEMPT` (1-based) and
///   `NIGHTSHIFT_MAX_ATTEMPTS`; with a [`StepSocket`], `NIGHTSHIFT_SOCKET` (its path) and
///   `NIGHTSHIFT_LEASE` (the attempt's lease token) for memoized steps.
/// - The child runs in its own process group and dies with the runner. Dropping the `run`
///   future (timeout, shutdown) sends SIGTERM to the group, then SIGKILL after the kill grace.
/// - Exit 0 is success with the first 64 KiB of stdout as the result; an exit code listed as
///   permanent dead-letters the job; exit 75 (EX_TEMPFAIL) snoozes it ([`Outcome::Snooze`]);
///   any other exit or a signal is retried, with the last 2 KiB of stderr in the error. A
///   failure whose stdout names a known `error_class` goes as the class says
///   ([`ErrorClass`]), whatever the exit status; an unknown word is logged
///   (`unknown_error_class`) and ignored.
/// - A stdout line that is a JSON object with a numeric `cost_usd` adds to the attempt's cost
///   (every line counts, not only those in the kept head; a line over 64 KiB is skipped); a
///   total above [`MAX_ATTEMPT_COST_USD`] is logged as `bad_cost` and charged as that maximum.
///   A numeric `retry_after_s` sets the delay of a failed or snoozed attempt (the last one
///   wins). `model` (the last one wins), `tokens_in` and `tokens_out` (summed) go to the spend
///   ledger with the cost.
///
/// [`MAX_ATTEMPT_COST_USD`]: nightshift_actors::policy::budget::MAX_ATTEMPT_COST_USD
pub struct CommandHandler {
    argv: Vec<String>,
    permanent_exit_codes: Vec<i32>,
    secrets: Vec<String>,
    kill_grace: Duration,
    base_env: Option<Vec<(OsString, OsString)>>,
    registry: Option<Registry>,
    steps: Option<StepSocket>,
}

impl CommandHandler {
    /// A handler running `argv` (`argv[0]` is looked up in `PATH`). `permanent_exit_codes` are
    /// exits that dead-letter the job at once; `secrets` are secret values (webhook URLs,
    /// tokens) no variable passed to the child may hold.
    pub fn new(argv: Vec<String>, permanent_exit_codes: Vec<i32>, secrets: Vec<String>) -> Self {
        let secrets =
            secrets.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).map(str::to_owned).collect();
        Self {
            argv,
            permanent_exit_codes,
            secrets,
            kill_grace: Duration::from_secs(5),
            base_env: None,
            registry: None,
            steps: None,
        }
    }

    /// Serves each attempt's memoized steps on `socket` while its program runs.
    pub fn with_step_socket(mut self, socket: StepSocket) -> Self {
        self.steps = Some(socket);
        self
    }

    /// How long the process group gets between SIGTERM and SIGKILL (default 5 s).
    #[cfg(test)]
    pub fn with_kill_grace(mut self, kill_grace: Duration) -> Self {
        self.kill_grace = kill_grace;
        self
    }

    /// Records each running handler's process group in `registry`, so a runner starting after
    /// a crash can kill what this one leaves behind.
    pub fn with_registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Use `env` instead of the runner's environment as the base the child's is built from.
    #[cfg(test)]
    pub fn with_base_env(mut self, env: Vec<(OsString, OsString)>) -> Self {
        self.base_env = Some(env);
        self
    }

    fn child_env(&self, job: &Job) -> Vec<(OsString, OsString)> {
        let job_vars = [
            ("NIGHTSHIFT_KEY", job.key.clone()),
            ("NIGHTSHIFT_QUEUE", job.queue.clone()),
            ("NIGHTSHIFT_ATTEMPT", job.attempt.to_string()),
            ("NIGHTSHIFT_MAX_ATTEMPTS", job.max_attempts.to_string()),
        ];
        let step_vars = self.steps.as_ref().zip(job.steps.lease_token()).map(|(socket, token)| {
            [
                ("NIGHTSHIFT_SOCKET", socket.path().as_os_str().to_owned()),
                ("NIGHTSHIFT_LEASE", token.into()),
            ]
        });
        let base = match &self.base_env {
            Some(env) => env.clone(),
            None => std::env::vars_os().collect(),
        };
        let mut env: Vec<(OsString, OsString)> = base
            .into_iter()
            .filter(|(name, value)| {
                let reserved =
                    STRIPPED_VARS.iter().chain(&STEP_VARS).chain(job_vars.iter().map(|(n, _)| n));
                let secret =
                    value.to_str().is_some_and(|v| self.secrets.iter().any(|s| s == v.trim()));
                !secret && !reserved.into_iter().any(|n| name.as_os_str() == *n)
            })
            .collect();
        env.extend(job_vars.map(|(name, value)| (name.into(), value.into())));
        env.extend(step_vars.into_iter().flatten().map(|(name, value)| (name.into(), value)));
        env
    }

    fn spawn_error(&self, error: &io::Error) -> String {
        match self.argv.first() {
            Some(program) => format!(
                "cannot start handler program {program:?}: {error}; check [handler] command / PATH"
            ),
            None => "no handler command configured; check [handler] command".to_owned(),
        }
    }

    fn classify(
        &self,
        key: &str,
        status: io::Result<ExitStatus>,
        stdout: &Head,
        hints: Hints,
        stderr: &Tail,
    ) -> Outcome {
        if let Some(reported) = hints.over_max {
            tracing::warn!(target: "nightshift", event = "bad_cost", key = %key,
                cost_usd = reported, charged_usd = hints.cost_usd);
        }
        let Hints { cost_usd, retry_after: delay, error_class, usage, wait, .. } = hints;
        let (error, code) = match status {
            Ok(status) if status.success() => {
                return Outcome::Success { result: Some(stdout.text()), cost_usd }.usage(usage);
            }
            Ok(status) => (describe(status), status.code()),
            Err(e) => (format!("waiting for the handler failed: {e}"), None),
        };
        let tail = stderr.text();
        let error = if tail.is_empty() { error } else { format!("{error}: {tail}") };
        let class = error_class.and_then(|word| {
            let class = ErrorClass::parse(&word);
            if class.is_none() {
                tracing::warn!(target: "nightshift", event = "unknown_error_class", key = %key,
                    error_class = %word, known = %ErrorClass::known(),
                    reason = "not a known error_class: the exit status decides, as without one");
            }
            class
        });
        let outcome = match (class, code) {
            (Some(class), _) => Outcome::Failed { class, error, cost_usd, delay },
            (None, Some(code)) if self.permanent_exit_codes.contains(&code) => {
                Outcome::Permanent { error, cost_usd }
            }
            (None, Some(EX_TEMPFAIL)) => match wait {
                Some(output::Wait { name, timeout, dead_on_timeout }) => {
                    Outcome::Wait { name, timeout, dead_on_timeout, cost_usd }
                }
                None => Outcome::Snooze { delay, cost_usd },
            },
            (None, _) => Outcome::Retry { error, cost_usd, delay },
        };
        outcome.usage(usage)
    }
}

#[async_trait::async_trait]
impl Handler for CommandHandler {
    async fn run(&self, job: Job) -> Outcome {
        let env = self.child_env(&job);
        let process::Spawned { mut group, stdin, stdout, stderr } =
            match process::spawn(&self.argv, env, self.kill_grace).await {
                Ok(spawned) => spawned,
                Err(e) => return Outcome::RunnerFailed { error: self.spawn_error(&e) },
            };
        // Dropped after `group` below (or with the future): the record outlives the kill.
        let _entry = self.registry.as_ref().and_then(|r| r.enter(group.pgid()));
        // Steps are served while the program runs, and refused from the moment it is gone.
        let _steps = self.steps.as_ref().and_then(|socket| socket.enter(&job.steps));
        let mut out = Head::new(STDOUT_KEEP);
        let mut hints = HintScanner::default();
        let mut err = Tail::new(STDERR_KEEP);
        let io = async {
            tokio::join!(
                process::feed(stdin, job.payload.as_bytes()),
                output::drain(stdout, |chunk| {
                    out.push(chunk);
                    hints.push(chunk);
                }),
                output::drain(stderr, |chunk| err.push(chunk)),
            );
        };
        let status = group.wait_with_io(io).await;
        // Takes down anything the child left behind in its group (a daemonised grandchild).
        drop(group);
        self.classify(&job.key, status, &out, hints.finish(), &err)
    }
}

/// `exit status N`, or `killed by signal N (SIGNAME)`.
fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    let Some(signal) = status.signal() else { return status.to_string() };
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => return format!("killed by signal {signal}"),
    };
    format!("killed by signal {signal} ({name})")
}
