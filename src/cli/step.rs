//! `nightshift step NAME -- CMD ARGS`: a memoized step, from a handler written in any language.

use clap::Args;

/// Inside a handler: the step NAME of the running job. Its recorded output is printed and CMD
/// is not run; otherwise CMD runs, and its stdout is recorded and printed (a JSON line with
/// "cost_usd" in it is the step's cost, charged once, and left out of the output).
#[derive(Debug, Args)]
#[command(
    after_help = "A second use of NAME in one attempt is NAME:2, then NAME:3 (so a loop records \
                  each turn). CMD failing records nothing and exits with its code; outside a \
                  handler (no NIGHTSHIFT_SOCKET / NIGHTSHIFT_LEASE) the exit code is 2."
)]
pub struct StepArgs {
    /// The step's name
    pub name: String,
    /// The command that does the step's work, and its arguments (run directly, no shell)
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}
