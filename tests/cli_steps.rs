//! Memoized steps through the binary: the Python helper of `examples/agent.py` and
//! `nightshift step` in handlers run by `run`, on both stores; what `jobs show`, `dlq replay`
//! and the purges do with a job's steps.

use std::path::Path;

use serde_json::Value;

use crate::util::cli::Workdir;

/// Fast retries, the breaker out of the way.
const CONFIG: &str = "[retry]\nmax_attempts = 4\nbase = \"10ms\"\ncap = \"50ms\"\n\
                      [breaker]\nfailures = 1000\n";

/// This binary, as a handler script calls it.
pub fn ns() -> &'static str {
    env!("CARGO_BIN_EXE_nightshift")
}

fn json(w: &Workdir, args: &[&str]) -> Value {
    serde_json::from_str(w.run(args).expect(0).stdout.trim()).expect("JSON output")
}

fn lines(w: &Workdir, file: &str) -> usize {
    std::fs::read_to_string(w.path().join(file)).map(|t| t.lines().count()).unwrap_or(0)
}

/// A three-step agent on the helper `examples/agent.py` ships; each step's work appends a line
/// to `<name>.ran`, and `draft` fails on attempts 1 and 2.
fn three_step_agent(w: &Workdir) -> String {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let agent = format!(
        "#!/usr/bin/env python3
import os, sys
sys.path.insert(0, {examples:?})
from agent import step

def work(name, result, cost):
    with open(name + '.ran', 'a') as f:
        f.write('ran\\n')
    if name == 'draft' and int(os.environ['NIGHTSHIFT_ATTEMPT']) <= 2:
        sys.exit('the model timed out')
    return result, cost

notes = step('research', lambda: work('research', {{'notes': 'n'}}, 0.25))
draft = step('draft', lambda: work('draft', 'draft of ' + notes['notes'], 0.5))
print(step('polish', lambda: work('polish', draft + ', polished', 0.0)))
",
        examples = examples.display().to_string()
    );
    let path = w.write("agent.py", &agent);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path.display().to_string()
}

crate::both_stores! {
    #[test]
    fn a_python_agent_whose_second_step_fails_twice_runs_and_pays_its_first_step_once(w: Workdir) {
        w.run(&["init"]).expect(0);
        w.write("nightshift.toml", CONFIG);
        let agent = three_step_agent(&w);
        w.run(&["enqueue", "agent-1", "{}"]).expect(0);
        w.run(&["run", "--once", "--wait", "5s", "--", &agent]).expect(0);
        let job = json(&w, &["jobs", "show", "agent-1", "--json"]);
        assert_eq!(job["status"], "done", "{job}");
        assert_eq!(job["attempts_made"], 3, "{job}");
        assert_eq!(job["result"], "draft of n, polished\n");
        let ran = ["research", "draft", "polish"].map(|s| lines(&w, &format!("{s}.ran")));
        assert_eq!(ran, [1, 3, 1], "research once, draft on each attempt, polish once");
        let spend = json(&w, &["spend", "--json"]);
        assert_eq!(spend["days"][0]["micros"], 750_000, "research and draft paid once: {spend}");
        assert_eq!(spend["days"][0]["attempts"], 2, "one ledger row per recorded cost: {spend}");
        let names: Vec<&str> =
            job["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["research", "draft", "polish"]);
        assert_eq!(job["steps"][0]["output"], r#"{"notes": "n"}"#);
        assert_eq!(job["steps"][0]["cost_micros"], 250_000);
    }
}

crate::both_stores! {
    #[test]
    fn nightshift_step_records_stdout_prints_it_and_counts_a_loops_names(w: Workdir) {
        w.run(&["init"]).expect(0);
        w.write("nightshift.toml", CONFIG);
        let ns = ns();
        let agent = w.script(
            "loop.sh",
            &format!(
                "set -e
{ns} step fetch -- sh -c 'echo ran >> fetch.ran; echo page; echo \"{{\\\"cost_usd\\\": 0.5}}\"'
for i in 1 2 3; do {ns} step turn -- echo \"turn $i\"; done
[ \"$NIGHTSHIFT_ATTEMPT\" -gt 1 ] || exit 1"
            ),
        );
        w.run(&["enqueue", "loop", "{}"]).expect(0);
        w.run(&["run", "--once", "--wait", "5s", "--", agent.to_str().unwrap()]).expect(0);
        assert_eq!(lines(&w, "fetch.ran"), 1, "the second attempt printed the recorded output");
        let job = json(&w, &["jobs", "show", "loop", "--json"]);
        assert_eq!(job["result"], "page\nturn 1\nturn 2\nturn 3\n", "no cost line printed");
        let steps: Vec<(String, String)> = w
            .rows("SELECT name, output FROM steps WHERE job_key = 'loop' ORDER BY name")
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect();
        let expected = [("fetch", "page\n"), ("turn", "turn 1\n"), ("turn:2", "turn 2\n"),
                        ("turn:3", "turn 3\n")];
        assert_eq!(steps, expected.map(|(n, o)| (n.to_owned(), o.to_owned())));
        let spend = json(&w, &["spend", "--json"]);
        assert_eq!(spend["days"][0]["micros"], 500_000, "charged once: {spend}");
        let text = w.run(&["jobs", "show", "loop"]).expect(0).stdout;
        assert!(text.contains("steps         4 recorded"), "{text}");
        assert!(text.lines().any(|l| l.contains("fetch") && l.contains("$0.5")), "{text}");
    }
}

crate::both_stores! {
    #[test]
    fn dlq_replay_keeps_the_steps_fresh_drops_them_and_a_purge_deletes_them(w: Workdir) {
        w.run(&["init"]).expect(0);
        w.write("nightshift.toml", CONFIG);
        let agent = w.script(
            "fails.sh",
            &format!("{} step fetch -- sh -c 'echo ran >> fetch.ran; echo page'\nexit 1", ns()),
        );
        let agent = agent.to_str().unwrap();
        let steps = || w.count("SELECT count(*) FROM steps WHERE job_key = 'k'");
        w.run(&["enqueue", "k", "{}", "--max-attempts", "1"]).expect(0);
        w.run(&["run", "--once", "--", agent]).expect(0);
        assert_eq!((w.count("SELECT count(*) FROM dead_letter"), steps()), (1, 1));
        w.run(&["dlq", "replay", "k"]).expect(0);
        assert_eq!(steps(), 1, "a replay keeps them");
        w.run(&["run", "--once", "--", agent]).expect(0);
        assert_eq!(lines(&w, "fetch.ran"), 1, "the replayed job resumed after its step");
        w.run(&["dlq", "replay", "--fresh", "k"]).expect(0);
        assert_eq!(steps(), 0, "--fresh drops them");
        w.run(&["run", "--once", "--", agent]).expect(0);
        assert_eq!((lines(&w, "fetch.ran"), steps()), (2, 1), "the fresh job ran its step again");
        w.run(&["dlq", "purge", "k"]).expect(0);
        assert_eq!(steps(), 0, "dlq purge deletes them");

        let done = w.script("done.sh", &format!("{} step fetch -- echo page", ns()));
        w.run(&["enqueue", "d", "{}"]).expect(0);
        w.run(&["run", "--once", "--", done.to_str().unwrap()]).expect(0);
        assert_eq!(w.count("SELECT count(*) FROM steps WHERE job_key = 'd'"), 1);
        w.run(&["jobs", "purge", "d"]).expect(0);
        assert_eq!(w.count("SELECT count(*) FROM steps"), 0, "jobs purge deletes them");
    }
}

#[test]
fn nightshift_step_outside_a_handler_exits_2_and_runs_nothing() {
    let w = Workdir::new();
    let out = w.run(&["step", "fetch", "--", "sh", "-c", "echo ran > ran.txt"]).expect(2);
    assert!(out.stderr.contains("run inside a nightshift handler"), "{}", out.stderr);
    assert!(out.stderr.contains("NIGHTSHIFT_SOCKET"), "{}", out.stderr);
    assert!(!w.path().join("ran.txt").exists(), "CMD was not run");
}

#[test]
fn nightshift_step_passes_a_failing_commands_exit_code_on_and_records_nothing() {
    let w = Workdir::new();
    w.run(&["init"]).expect(0);
    let agent = w.script(
        "fails.sh",
        &format!(
            "{} step s -- sh -c 'echo partial; exit 7'\necho \"step exited $?\" >&2\nexit 7",
            ns()
        ),
    );
    w.run(&["enqueue", "k", "{}", "--max-attempts", "1"]).expect(0);
    w.run(&["run", "--once", "--", agent.to_str().unwrap()]).expect(0);
    let dead = json(&w, &["dlq", "show", "k", "--json"]);
    assert!(dead["error"].as_str().unwrap().contains("step exited 7"), "{dead}");
    assert_eq!(w.count("SELECT count(*) FROM steps"), 0);
}
