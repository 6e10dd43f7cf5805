//! `nightshift step NAME -- CMD ARGS`: the step socket's client for shell-written handlers.
//!
//! It asks the runner (`NIGHTSHIFT_SOCKET`, naming the attempt by `NIGHTSHIFT_LEASE`) for the
//! step NAME. Recorded: it prints the output exactly as recorded and exits 0 without running
//! CMD. Not recorded: it runs CMD directly (stdin and stderr inherited, stdout captured),
//! records its stdout and prints it. A stdout line that is a JSON object with `cost_usd`,
//! `model`, `tokens_in` or `tokens_out` is the step's usage (summed by the command handler's
//! own rules) and is left out of the output, so it is charged once, when the step is recorded,
//! and never again by the attempt that prints it, nor by a later one that prints the recorded
//! output.
//!
//! CMD failing records nothing: its stdout is passed on as it is (its cost lines included, so
//! the attempt is charged for them) and its exit code becomes this command's (128 + N for a
//! signal N). Outside a handler it exits 2, saying so; a refused step (the lease no longer
//! held) exits 1.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::Failure;
use crate::cli::StepArgs;
use crate::handler::output::{HintScanner, Hints};

/// How long an answer may take: the Store retries a busy database for up to 30 s.
const ANSWER_LIMIT: Duration = Duration::from_secs(120);

pub fn run(args: &StepArgs) -> Result<(), Failure> {
    let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(socket), Some(lease)) = (var("NIGHTSHIFT_SOCKET"), var("NIGHTSHIFT_LEASE")) else {
        return Err(Failure::Usage(
            "run inside a nightshift handler: NIGHTSHIFT_SOCKET and NIGHTSHIFT_LEASE are not set \
             (`nightshift step` records a step of the job a runner is running)"
                .to_owned(),
        ));
    };
    let mut runner = Runner::connect(&socket)?;
    let found = runner.ask(&json!({"op": "step.get", "lease": lease, "name": args.name}))?;
    if let Some(output) = found["output"].as_str() {
        return print(output.as_bytes());
    }
    let (program, rest) = args.command.split_first().expect("clap requires CMD");
    let ran = Command::new(program)
        .args(rest)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped())
        .output()
        .map_err(|e| Failure::Failed(format!("cannot start {program:?}: {e}")))?;
    if !ran.status.success() {
        print(&ran.stdout)?;
        let code = match (ran.status.code(), ran.status.signal()) {
            (Some(code), _) => code,
            (None, Some(signal)) => 128 + signal,
            (None, None) => 1,
        };
        return Err(Failure::Exit(u8::try_from(code).unwrap_or(1).max(1)));
    }
    let (output, used) = split_usage(&ran.stdout);
    let put = json!({
        "op": "step.put", "lease": lease, "name": args.name, "output": output,
        "cost_usd": used.cost_usd, "model": used.usage.model,
        "tokens_in": used.usage.tokens_in, "tokens_out": used.usage.tokens_out,
    });
    let recorded = runner.ask(&put)?;
    print(recorded["output"].as_str().unwrap_or(&output).as_bytes())
}

/// The output without its usage lines, and the cost and usage they add up to.
fn split_usage(stdout: &[u8]) -> (String, Hints) {
    let mut hints = HintScanner::default();
    hints.push(stdout);
    let text = String::from_utf8_lossy(stdout);
    let output: String = text.split_inclusive('\n').filter(|line| !is_usage_line(line)).collect();
    (output, hints.finish())
}

/// The fields of a line that reports what the step used rather than what it produced.
const USAGE_FIELDS: [&str; 4] = ["cost_usd", "model", "tokens_in", "tokens_out"];

fn is_usage_line(line: &str) -> bool {
    let line = line.trim();
    line.starts_with('{')
        && serde_json::from_str::<serde_json::Map<String, Value>>(line)
            .is_ok_and(|object| USAGE_FIELDS.iter().any(|f| object.contains_key(*f)))
}

fn print(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).map_err(Failure::Output)
}

/// A connection to the runner's step socket.
struct Runner {
    write: UnixStream,
    read: BufReader<UnixStream>,
}

impl Runner {
    fn connect(socket: &str) -> Result<Self, Failure> {
        let unreachable = |e: std::io::Error| {
            Failure::Failed(format!(
                "cannot reach the runner's step socket {socket}: {e} (is the runner that started \
                 this handler still running?)"
            ))
        };
        let write = UnixStream::connect(socket).map_err(unreachable)?;
        write.set_read_timeout(Some(ANSWER_LIMIT)).map_err(unreachable)?;
        let read = BufReader::new(write.try_clone().map_err(unreachable)?);
        Ok(Self { write, read })
    }

    /// Sends one request; its answer when `ok`, the refusal as a failure otherwise.
    fn ask(&mut self, request: &Value) -> Result<Value, Failure> {
        let lost = |e: std::io::Error| Failure::Failed(format!("the step socket failed: {e}"));
        let mut line = request.to_string();
        line.push('\n');
        self.write.write_all(line.as_bytes()).map_err(lost)?;
        let mut answer = String::new();
        self.read.read_line(&mut answer).map_err(lost)?;
        let answer: Value = serde_json::from_str(&answer).map_err(|_| {
            Failure::Failed(format!("the step socket answered no JSON: {answer:?}"))
        })?;
        if answer["ok"] == true {
            Ok(answer)
        } else {
            let error = answer["error"].as_str().unwrap_or("refused");
            Err(Failure::Failed(format!("step not recorded: {error}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use nightshift_actors::Usage;

    use super::split_usage;

    #[test]
    fn usage_lines_are_summed_and_left_out_of_the_output() {
        let stdout =
            b"first\n{\"cost_usd\": 0.25}\n{\"other\": 1}\n {\"cost_usd\": 0.5, \"x\": 2}\n\
                       {\"model\": \"small\", \"tokens_in\": 7}\n{\"tokens_out\": 3}\nlast";
        let (output, used) = split_usage(stdout);
        assert_eq!(output, "first\n{\"other\": 1}\nlast");
        assert_eq!(used.cost_usd, 0.75);
        assert_eq!(used.usage, Usage::model("small").tokens(7, 3));
    }
}
