//! A PostgreSQL server of a test's own, for the faults no test may inflict on the shared one
//! (a restart, a crash): a fresh cluster in a temp directory, listening on a free port of
//! 127.0.0.1 and on a socket inside that directory, stopped and removed when it drops (a
//! panicking test included). Where it cannot be made (no PostgreSQL binaries, no `runuser` to
//! leave root with) the test says in one line that it was not run, and passes; with
//! NIGHTSHIFT_TEST_PG set (CI) it fails instead, as the scratch databases do.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nightshift_actors::testing::TEST_URL_VAR;

/// Where the binaries are when `pg_config` does not say (Debian's PostgreSQL 15).
const BINDIR: &str = "/usr/lib/postgresql/15/bin";

/// A running cluster of the test's own.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// Running as root: initdb and pg_ctl refuse root, so they run as `postgres`.
    root: bool,
}

/// How the server goes down for a restart (`pg_ctl -m`).
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// Every session told to end, a checkpoint, then down: a planned restart.
    Fast,
    /// Every process killed at once, recovered from the WAL at the next start: a crash.
    Immediate,
}

impl Stop {
    fn mode(self) -> &'static str {
        match self {
            Stop::Fast => "fast",
            Stop::Immediate => "immediate",
        }
    }
}

impl PgCluster {
    /// Makes and starts a cluster, or `None` (said on stderr) when it cannot be made here.
    /// Panics instead when NIGHTSHIFT_TEST_PG is set: there the test must run.
    pub fn start(test: &str) -> Option<Self> {
        match Self::try_start() {
            Ok(cluster) => Some(cluster),
            Err(why) if std::env::var_os(TEST_URL_VAR).is_some_and(|v| !v.is_empty()) => {
                panic!(
                    "{test}: cannot start a private PostgreSQL cluster ({TEST_URL_VAR} is set): {why}"
                )
            }
            Err(why) => {
                eprintln!("{test}: not run (no private PostgreSQL cluster: {why})");
                None
            }
        }
    }

    fn try_start() -> Result<Self, String> {
        let bin = bindir();
        if !bin.join("initdb").is_file() || !bin.join("pg_ctl").is_file() {
            return Err(format!("no initdb and pg_ctl in {}", bin.display()));
        }
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        let root = unsafe { geteuid() } == 0;
        let mut cluster = PgCluster { dir, bin, port: 0, root };
        if root {
            let chown = Command::new("chown").arg("postgres:").arg(cluster.path()).output();
            match chown {
                Ok(out) if out.status.success() => {}
                Ok(out) => return Err(format!("chown postgres: {}", lossy(&out.stderr))),
                Err(e) => return Err(format!("chown: {e}")),
            }
        }
        let data = cluster.data();
        cluster.pg("initdb", &["-A", "trust", "-U", "postgres", "--no-sync", "-D", &data])?;
        cluster.port = free_port()?;
        if cluster.start_server().is_err() {
            // The free port was taken between its release and the server's bind: bad luck,
            // not a fault. Once more on another.
            cluster.port = free_port()?;
            cluster.start_server()?;
        }
        Ok(cluster)
    }

    fn start_server(&self) -> Result<(), String> {
        let (log, options) = (self.log(), self.options());
        self.pg_ctl(&["start", "-w", "-t", "30", "-l", &log, "-o", &options])
    }

    /// The URL of database `db` on this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let admin = PathBuf::from(self.url("postgres"));
        super::store::execute(&admin, &format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    /// Takes the server down as `stop` says and starts it again on the same port; returns
    /// once it accepts connections.
    pub fn restart(&self, stop: Stop) {
        let args = ["restart", "-w", "-t", "30", "-m", stop.mode(), "-l", &self.log()];
        if let Err(e) = self.pg_ctl(&args) {
            panic!("restarting the private cluster: {e}\nits log:\n{}", self.server_log());
        }
    }

    /// The server's log, for a failing test's message.
    fn server_log(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn data(&self) -> String {
        self.path().join("data").display().to_string()
    }

    fn log(&self) -> String {
        self.path().join("server.log").display().to_string()
    }

    /// The server's settings: loopback and a socket in the temp directory (never the shared
    /// server's), small memory, and durable commits (a crash must not lose one).
    fn options(&self) -> String {
        format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c shared_buffers=16MB \
             -c max_connections=30 -c fsync=on",
            self.port,
            self.path().display()
        )
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let data = self.data();
        let mut all = vec!["-D", data.as_str()];
        all.extend_from_slice(args);
        self.pg("pg_ctl", &all)
    }

    /// Runs one of the cluster's binaries, as `postgres` when we are root.
    fn pg(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let program = self.bin.join(program);
        let mut cmd = if self.root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        // A directory `postgres` may enter; the server's output goes to its log, not to pipes
        // this process would wait on.
        cmd.args(args).current_dir(self.path()).stdin(Stdio::null());
        let out = cmd.output().map_err(|e| format!("{}: {e}", cmd.get_program().display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {args:?}: {}{}",
                program.display(),
                lossy(&out.stdout),
                lossy(&out.stderr)
            ))
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Immediate: nothing of this cluster is kept. The directory goes with `dir`.
        let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
    }
}

/// `pg_config --bindir`, or Debian's PostgreSQL 15 directory.
fn bindir() -> PathBuf {
    Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(lossy(&out.stdout).trim()))
        .unwrap_or_else(|| PathBuf::from(BINDIR))
}

/// A port no one listens on now: bound on 127.0.0.1:0 and released.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("a free port: {e}"))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

unsafe extern "C" {
    fn geteuid() -> u32;
}
