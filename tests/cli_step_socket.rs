//! The step socket under abuse and crashes: bad JSON and an overlong line are answered and the
//! socket goes on; a former attempt's lease token is refused; a runner SIGKILLed between two
//! steps resumes after the last recorded one. The handler's environment carries the socket but
//! none of the runner's secrets.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cli_steps::ns;
use crate::util::cli::{wait_exit, wait_until};

const CONFIG: &str = "[retry]\nmax_attempts = 4\nbase = \"10ms\"\ncap = \"50ms\"\n\
                      [breaker]\nfailures = 1000\n[store]\nlease = \"3s\"\n";

/// The step socket's longest request line (`handler::socket::protocol::MAX_LINE`).
const MAX_LINE: usize = 4 * 1024 * 1024;

/// One connection to a runner's step socket.
struct Client {
    stream: UnixStream,
    read: BufReader<UnixStream>,
}

impl Client {
    fn connect(path: &str) -> Self {
        let stream = UnixStream::connect(path).expect("connect to the step socket");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let read = BufReader::new(stream.try_clone().unwrap());
        Self { stream, read }
    }

    fn send_raw(&mut self, bytes: &[u8]) -> Value {
        self.stream.write_all(bytes).unwrap();
        let mut line = String::new();
        self.read.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("an answer in JSON: {line:?}"))
    }

    fn send(&mut self, request: &Value) -> Value {
        self.send_raw(format!("{request}\n").as_bytes())
    }
}

crate::both_stores! {
    #[test]
    fn the_socket_refuses_bad_lines_and_a_former_attempts_lease_and_goes_on(w: Workdir) {
        w.run(&["init"]).expect(0);
        w.write("nightshift.toml", CONFIG);
        // Attempt 1 notes its lease and fails; attempt 2 notes its own and waits for `go`.
        let agent = w.script(
            "agent.sh",
            "echo \"$NIGHTSHIFT_SOCKET $NIGHTSHIFT_LEASE\" >> leases.txt\n\
             env > \"env-$NIGHTSHIFT_ATTEMPT.txt\"\n\
             [ \"$NIGHTSHIFT_ATTEMPT\" -gt 1 ] || exit 1\n\
             while [ ! -f go ]; do sleep 0.02; done",
        );
        w.run(&["enqueue", "k", "{}"]).expect(0);
        let mut runner = w.cmd(&["run", "--once", "--wait", "5s", "--", agent.to_str().unwrap()]);
        runner.env("ALERT_WEBHOOK", "https://hooks.example/secret-hook");
        let mut runner = runner.spawn().unwrap();
        let leases = || std::fs::read_to_string(w.path().join("leases.txt")).unwrap_or_default();
        wait_until(Duration::from_secs(20), "attempt 2 running", || leases().lines().count() == 2);
        let text = leases();
        let seen: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
        let (socket, old, current) = (seen[1][0], seen[0][1], seen[1][1]);
        assert_ne!(old, current, "each attempt its own lease");

        let mut client = Client::connect(socket);
        let bad = client.send_raw(b"this is not json\n");
        assert_eq!(bad["ok"], false);
        assert!(bad["error"].as_str().unwrap().contains("bad request"), "{bad}");
        let stale = json!({"op": "step.put", "lease": old, "name": "late", "output": "x",
                           "cost_usd": 1.0});
        let refused = client.send(&stale);
        assert_eq!(refused["ok"], false, "{refused}");
        assert!(refused["error"].as_str().unwrap().contains("refused"), "{refused}");
        let overlong = client.send_raw(&vec![b'x'; MAX_LINE + 1]);
        assert!(overlong["error"].as_str().unwrap().contains("longer than"), "{overlong}");

        // The socket still serves, on a new connection.
        let mut again = Client::connect(socket);
        let none = again.send(&json!({"op": "step.get", "lease": current, "name": "fetch"}));
        assert_eq!(none, json!({"ok": true, "name": "fetch", "none": true}));
        let put = json!({"op": "step.put", "lease": current, "name": "fetch", "output": "page"});
        assert_eq!(again.send(&put), json!({"ok": true, "name": "fetch", "output": "page"}));

        w.write("go", "");
        assert!(wait_exit(&mut runner, Duration::from_secs(30)).success());
        assert_eq!(w.rows("SELECT name, output FROM steps"), [["fetch", "page"]]);
        assert_eq!(w.count("SELECT count(*) FROM spend"), 0, "the stale put charged nothing");
        let env = std::fs::read_to_string(w.path().join("env-2.txt")).unwrap();
        assert!(env.contains(&format!("NIGHTSHIFT_SOCKET={socket}")), "{env}");
        assert!(!env.contains("secret-hook"), "the webhook reached the handler:\n{env}");
        if w.is_postgres() {
            assert!(!env.contains(w.db().to_str().unwrap()), "the database URL leaked:\n{env}");
        }
    }
}

crate::both_stores! {
    #[test]
    fn a_runner_sigkilled_between_steps_resumes_after_the_last_recorded_step(w: Workdir) {
        w.run(&["init"]).expect(0);
        w.write("nightshift.toml", CONFIG);
        let ns = ns();
        // Step two stalls until `go` exists, on its first run only.
        let agent = w.script(
            "agent.sh",
            &format!(
                "set -e
{ns} step one -- sh -c 'echo ran >> one.ran; echo one'
{ns} step two -- sh -c 'echo ran >> two.ran; [ -f go ] || {{ touch in-two; sleep 600; }}; echo two'"
            ),
        );
        let agent = agent.to_str().unwrap();
        w.run(&["enqueue", "k", "{}"]).expect(0);
        let mut runner = w.spawn_logged(&["run", "--", agent], "runner.log");
        wait_until(Duration::from_secs(20), "step two running", || w.path().join("in-two").exists());
        assert_eq!(w.count("SELECT count(*) FROM steps WHERE name = 'one'"), 1);
        runner.kill().unwrap();
        runner.wait().unwrap();
        w.write("go", "");
        // On PostgreSQL the killed runner's claim comes back when its lease expires.
        wait_until(Duration::from_secs(60), "the job done", || {
            w.run(&["run", "--once", "--wait", "2s", "--", agent]).expect(0);
            w.count("SELECT count(*) FROM jobs WHERE status = 'done'") == 1
        });
        let ran = |file: &str| std::fs::read_to_string(w.path().join(file)).unwrap().lines().count();
        assert_eq!(ran("one.ran"), 1, "step one was not run again");
        assert_eq!(ran("two.ran"), 2, "step two ran again: it was never recorded");
        assert_eq!(w.text("SELECT result FROM jobs WHERE key = 'k'"), "one\ntwo\n");
    }
}
