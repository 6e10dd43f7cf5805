//! nightshift's integration tests, one binary. Each module is one area; `util` holds the
//! harness (temp databases, a recording webhook sink, captured events, condition waits).

mod util;

// The engine crate driven in-process: queue semantics, retries, dead letter, replay.
mod engine_queue;
// Idempotent enqueue, alone and under concurrency.
mod engine_idempotency;
// Actors killed mid-job, handler panics, crash recovery at start.
mod engine_chaos;
// Drain (`run --once`) and ordered shutdown.
mod engine_lifecycle;
// The binary: every command's output and exit codes, bad input, `run` end to end.
mod cli_bad_input;
mod cli_commands;
mod cli_run;
