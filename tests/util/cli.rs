//! Runs the built `nightshift` binary in a temp directory with a clean environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A temp working directory for CLI runs; its `nightshift.db` is the default database, or on
/// PostgreSQL a scratch database every command is pointed at (`NIGHTSHIFT_DB`).
pub struct Workdir {
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database's URL, and the scratch database behind it when it is one.
    pg: Option<(Option<super::store::ScratchDb>, PathBuf)>,
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// What a finished process printed and how it exited.
    pub fn from(out: Output) -> Self {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// `sh -c script` as a new user would run README's commands: in `dir`, with `home` as HOME, the
/// built binary first on a minimal PATH, and none of nightshift's variables set.
pub fn user_shell(script: &str, dir: &Path, home: &Path) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_nightshift")).parent().unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script])
        .current_dir(dir)
        .env("HOME", home)
        .env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()))
        .env_remove("FLY_APP_NAME");
    for var in ["NIGHTSHIFT_DB", "NIGHTSHIFT_CONFIG", "ALERT_WEBHOOK", "DAILY_CAP_USD"] {
        cmd.env_remove(var);
    }
    cmd
}

impl Workdir {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir"), pg: None }
    }

    /// A workdir in `dir` (a place chosen for its file system).
    pub fn in_dir(dir: tempfile::TempDir) -> Self {
        Self { dir, pg: None }
    }

    /// A workdir whose commands use a scratch PostgreSQL database, or `None` (said on stderr)
    /// when no server is there.
    pub fn postgres(test: &str) -> Option<Self> {
        let (scratch, url) = super::store::postgres(test)?;
        Some(Self { dir: tempfile::tempdir().expect("temp dir"), pg: Some((Some(scratch), url)) })
    }

    /// A workdir whose commands use the PostgreSQL database at `url` (one the test made, on a
    /// server of its own); the database outlives it.
    pub fn postgres_at(url: &str) -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir"), pg: Some((None, PathBuf::from(url))) }
    }

    /// Makes the PostgreSQL database refuse connections and cuts the ones it has.
    pub fn refuse_connections(&self) {
        let scratch = self.pg.as_ref().and_then(|(s, _)| s.as_ref());
        scratch
            .expect("refuse_connections() is for a scratch PostgreSQL database")
            .refuse_connections();
    }

    /// Whether the commands use PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The database: the default file, or the scratch PostgreSQL database's URL.
    pub fn db(&self) -> PathBuf {
        match &self.pg {
            Some((_, url)) => url.clone(),
            None => self.path().join("nightshift.db"),
        }
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Writes an executable shell script (the handler under test; nightshift never uses a shell).
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.write(name, &format!("#!/bin/sh\n{body}\n"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// A command for the binary, run in this directory with nightshift's variables cleared.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nightshift"));
        c.args(args).current_dir(self.path());
        for var in [
            "NIGHTSHIFT_DB",
            "NIGHTSHIFT_CONFIG",
            "ALERT_WEBHOOK",
            "HEARTBEAT_URL",
            "DAILY_CAP_USD",
            "NIGHTSHIFT_TOKEN",
        ] {
            c.env_remove(var);
        }
        if let Some((_, url)) = &self.pg {
            c.env("NIGHTSHIFT_DB", url);
        }
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd(args).output().expect("run nightshift"))
    }

    /// Runs with `input` on stdin.
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        Run::from(child.wait_with_output().unwrap())
    }

    /// Starts the binary in the background with piped output.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nightshift")
    }

    /// Starts the binary in the background with its output going to `log` in the directory
    /// (a long-running runner would block on a pipe nobody reads).
    pub fn spawn_logged(&self, args: &[&str], log: &str) -> Child {
        let out = std::fs::File::create(self.path().join(log)).unwrap();
        let err = out.try_clone().unwrap();
        self.cmd(args).stdout(out).stderr(err).spawn().expect("spawn nightshift")
    }

    /// A SQLite connection to the database (SQLite only; `count` reads both).
    pub fn conn(&self) -> rusqlite::Connection {
        assert!(!self.is_postgres(), "conn() reads SQLite; use count() on both stores");
        let c = rusqlite::Connection::open(self.db()).unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c
    }

    /// One value from either store.
    pub fn count(&self, sql: &str) -> i64 {
        super::store::count(&self.db(), sql)
    }

    /// Every row of a query from either store, each value as text.
    pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        super::store::rows(&self.db(), sql)
    }

    /// The first value of a query from either store, as text.
    pub fn text(&self, sql: &str) -> String {
        super::store::text(&self.db(), sql)
    }

    /// Runs statements on either store (a test's own change to the database).
    pub fn execute(&self, sql: &str) {
        super::store::execute(&self.db(), sql)
    }

    /// Every file in the directory with its bytes, to prove a refused command changed nothing.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(self.path()).unwrap() {
            let p = entry.unwrap().path();
            if p.is_file() {
                files.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
        files
    }
}

/// Waits for a child to exit within `limit`; kills it and panics otherwise.
pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `cond` holds, polling every 20 ms; panics with `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends a signal to a child.
pub fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a pid we own.
    unsafe {
        libc_kill(child.id() as i32, sig);
    }
}

/// Sends a signal to the process group a child leads (one started with `process_group(0)`):
/// the child and what it started.
pub fn signal_group(child: &Child, sig: i32) {
    // SAFETY: kill(2) on the group of a pid we own.
    unsafe {
        libc_kill(-(child.id() as i32), sig);
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
