//! A handler program that cannot be started is the runner's failure, not the jobs': `run`
//! refuses a program it cannot find before the first claim, and a program that disappears
//! while running gives its job back uncounted and stops the runner with a non-zero exit.

use crate::util::cli::Workdir;

fn two_jobs(w: &Workdir) {
    w.run(&["init"]).expect(0);
    w.run(&["enqueue", "first", "{}", "--priority", "1"]).expect(0);
    w.run(&["enqueue", "second", "{}"]).expect(0);
}

crate::both_stores! {
    #[test]
    fn a_handler_program_that_does_not_exist_exits_2_and_changes_nothing(w: Workdir) {
    two_jobs(&w);
    let before = w.snapshot();
    let run = w.run(&["run", "--once", "--", "nosuchprogram", "agent.py"]).expect(2);
    assert!(run.stderr.contains("\"nosuchprogram\" was not found on PATH"), "{}", run.stderr);
    let path = std::env::var("PATH").unwrap();
    assert!(run.stderr.contains(&path), "the PATH searched is not named: {}", run.stderr);
    assert_eq!(w.snapshot(), before, "a refused run changed a file");
    // The same from the config file, and for a path that is not executable.
    w.write("nightshift.toml", "[handler]\ncommand = [\"nosuchprogram\"]\n");
    let run = w.run(&["run", "--once"]).expect(2);
    assert!(run.stderr.contains("nosuchprogram"), "{}", run.stderr);
    let plain = w.write("plain.sh", "#!/bin/sh\nexit 0\n");
    let run = w.run(&["run", "--once", "--", plain.to_str().unwrap()]).expect(2);
    assert!(run.stderr.contains("is not executable"), "{}", run.stderr);
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE status = 'pending' AND attempts = 0"), 2);
    assert_eq!(w.count("SELECT count(*) FROM dead_letter"), 0);
    }
}

/// The handler deletes itself while the first job runs: the second job cannot be started.
fn a_handler_removed_while_running(w: &Workdir, args: &[&str]) {
    two_jobs(w);
    let agent = w.script("agent.sh", "echo \"$NIGHTSHIFT_KEY\" >> effects.txt\nrm -- \"$0\"");
    let mut all = args.to_vec();
    all.extend(["--", agent.to_str().unwrap()]);
    let run = w.run(&all).expect(1);
    assert!(run.stderr.contains("agent.sh"), "the program is not named: {}", run.stderr);
    assert!(run.stdout.contains("\"runner_failed\""), "{}", run.stdout);
    assert_eq!(std::fs::read_to_string(w.path().join("effects.txt")).unwrap(), "first\n");
    assert_eq!(w.count("SELECT count(*) FROM jobs WHERE key = 'first' AND status = 'done'"), 1);
    let second = "SELECT count(*) FROM jobs WHERE key = 'second' AND status = 'pending' \
                  AND attempts = 0";
    assert_eq!(w.count(second), 1, "the job was charged an attempt for the runner's fault");
    assert_eq!(w.count("SELECT count(*) FROM dead_letter"), 0);
}

crate::both_stores! {
    #[test]
    fn a_handler_removed_during_run_once_gives_the_job_back_and_exits_1(w: Workdir) {
        a_handler_removed_while_running(&w, &["run", "--once"]);
    }
}

crate::both_stores! {
    #[test]
    fn a_handler_removed_under_a_continuous_runner_gives_the_job_back_and_exits_1(w: Workdir) {
        a_handler_removed_while_running(&w, &["run"]);
    }
}
