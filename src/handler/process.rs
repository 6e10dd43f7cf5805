//! The handler's process group: starting the program in a group of its own, waiting for it while
//! its pipes are served, and taking the whole group down when the attempt ends or its future is
//! dropped (timeout, shutdown).

use std::ffi::OsString;
use std::fs::File;
use std::future::Future;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

/// Once the direct child has exited, how long its pipes may stay open (held by a grandchild)
/// before we stop reading them.
const EOF_GRACE: Duration = Duration::from_millis(200);
/// How often the reaper thread looks at the group during the kill grace.
const POLL: Duration = Duration::from_millis(20);
/// How long the reaper thread waits for a SIGKILLed leader it must reap itself.
const REAP_LIMIT: Duration = Duration::from_secs(60);
/// The most the reaper thread reads from one pipe per poll, so a flood cannot starve the deadline.
const DRAIN_PER_POLL: usize = 16;
/// Spawn attempts that failed with ETXTBSY are retried this many times.
const ETXTBSY_RETRIES: u32 = 5;

/// A started handler program and its pipes.
pub(super) struct Spawned {
    pub(super) group: Group,
    pub(super) stdin: ChildStdin,
    pub(super) stdout: ChildStdout,
    pub(super) stderr: ChildStderr,
}

/// Starts `argv` directly (no shell) with exactly `env`, piped stdio, in a new process group.
pub(super) async fn spawn(
    argv: &[String],
    env: Vec<(OsString, OsString)>,
    kill_grace: Duration,
) -> io::Result<Spawned> {
    let Some((program, args)) = argv.split_first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "the command is empty"));
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false)
        .process_group(0);
    let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
    // SAFETY: runs in the forked child before exec and only makes async-signal-safe syscalls,
    // without allocating.
    // PR_SET_PDEATHSIG fires when the *thread* that forked exits, not the process: we spawn from
    // the async task itself, on a runtime worker thread, never from spawn_blocking.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(io::Error::last_os_error());
            }
            // The runner died between fork and prctl: the death signal will never come.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let mut retries = 0;
    let mut child = loop {
        match cmd.spawn() {
            // Transient: the file is open for writing somewhere (being installed, or a script's
            // write descriptor inherited by a sibling fork that has not exec'd yet).
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && retries < ETXTBSY_RETRIES => {
                retries += 1;
                tokio::time::sleep(Duration::from_millis(10 << retries)).await;
            }
            result => break result?,
        }
    };
    let pgid = child.id().and_then(|id| libc::pid_t::try_from(id).ok()).unwrap_or(0);
    let pipes = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    // From here on an early return drops the group, which kills the child.
    let mut group = Group { child: Some(child), pgid, reaped: false, kill_grace, pipes: vec![] };
    let (Some(stdin), Some(stdout), Some(stderr)) = pipes else {
        return Err(io::Error::other("the child's pipes were not set up"));
    };
    group.pipes = vec![nonblocking_dup(&stdout)?, nonblocking_dup(&stderr)?];
    Ok(Spawned { group, stdin, stdout, stderr })
}

/// Writes the payload to the child's stdin, then closes it. A child that exits without reading
/// makes the write fail (EPIPE); that is its business, not an error of ours.
pub(super) async fn feed(mut stdin: ChildStdin, payload: &[u8]) {
    let _ = stdin.write_all(payload).await;
    drop(stdin);
}

/// Owns the child and its process group (pgid = the child's pid). Dropping it signals whatever
/// is left of the group: SIGTERM, then SIGKILL after the kill grace, and makes sure the child is
/// reaped.
pub(super) struct Group {
    /// `None` only inside `drop`.
    child: Option<Child>,
    pgid: libc::pid_t,
    reaped: bool,
    kill_grace: Duration,
    /// Our own copies of the stdout and stderr read ends. They outlive the attempt's readers so
    /// that a child shutting down gracefully after SIGTERM can still write (a goodbye line, or
    /// dash's "Terminated") without dying of SIGPIPE first.
    pipes: Vec<File>,
}

impl Group {
    /// Waits for the child to exit while `io` (stdin feed and output drains) runs. After the exit,
    /// `io` gets [`EOF_GRACE`] more to finish; then it is dropped.
    /// The process group id (the child's pid).
    pub(super) fn pgid(&self) -> i32 {
        self.pgid
    }

    pub(super) async fn wait_with_io(
        &mut self,
        io: impl Future<Output = ()>,
    ) -> io::Result<ExitStatus> {
        let Some(child) = self.child.as_mut() else {
            return Err(io::Error::other("the child is gone"));
        };
        let mut io = std::pin::pin!(io);
        let mut io_done = false;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status?,
                () = &mut io, if !io_done => io_done = true,
            }
        };
        self.reaped = true;
        if !io_done {
            let _ = tokio::time::timeout(EOF_GRACE, io).await;
        }
        Ok(status)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let Some(child) = self.child.take() else { return };
        if self.pgid <= 1 || (self.reaped && !group_exists(self.pgid)) {
            return;
        }
        // After the leader was reaped its pid could in principle be reused, but not while the
        // group still has members, and we signal right after checking that it does.
        signal_group(self.pgid, libc::SIGTERM);
        let unreaped = if self.reaped {
            None
        } else if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut child = child;
            runtime.spawn(async move {
                let _ = child.wait().await;
            });
            None
        } else {
            Some(child)
        };
        let (pgid, grace, pipes) = (self.pgid, self.kill_grace, std::mem::take(&mut self.pipes));
        let spawned = std::thread::Builder::new()
            .name("nightshift-reaper".to_owned())
            .spawn(move || finish_group(pgid, grace, unreaped, pipes));
        if spawned.is_err() {
            signal_group(pgid, libc::SIGKILL);
        }
    }
}

/// Runs on a detached thread: gives the group `grace` to leave after SIGTERM, draining and
/// discarding its output meanwhile, then SIGKILLs what remains. Reaps the leader itself when
/// there was no runtime to do it.
fn finish_group(pgid: libc::pid_t, grace: Duration, mut unreaped: Option<Child>, pipes: Vec<File>) {
    let deadline = Instant::now() + grace;
    let mut buf = [0u8; 8 * 1024];
    loop {
        for mut pipe in &pipes {
            for _ in 0..DRAIN_PER_POLL {
                if !matches!(pipe.read(&mut buf), Ok(n) if n > 0) {
                    break;
                }
            }
        }
        // A zombie leader still counts as a group member, so reap before looking.
        if let Some(child) = unreaped.as_mut()
            && !matches!(child.try_wait(), Ok(None))
        {
            unreaped = None;
        }
        if !group_exists(pgid) {
            return;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
    signal_group(pgid, libc::SIGKILL);
    if let Some(mut child) = unreaped {
        let deadline = Instant::now() + REAP_LIMIT;
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
    }
}

/// A copy of a pipe's read end for the reaper thread, made non-blocking so a read can never hang
/// it (the flag is shared with tokio's copy, which is non-blocking already).
fn nonblocking_dup(pipe: &impl AsFd) -> io::Result<File> {
    let fd: OwnedFd = pipe.as_fd().try_clone_to_owned()?;
    // SAFETY: fcntl on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    // SAFETY: as above.
    if flags == -1
        || unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } == -1
    {
        return Err(io::Error::last_os_error());
    }
    Ok(File::from(fd))
}

/// Whether any process is left in the group (ESRCH means none; EPERM still means some).
fn group_exists(pgid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(-pgid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

fn signal_group(pgid: libc::pid_t, signal: libc::c_int) {
    // kill(0) or kill(-1) would hit our own group or every process we may signal.
    if pgid > 1 {
        // SAFETY: a plain syscall on a group we created; failure (ESRCH) is fine.
        unsafe { libc::kill(-pgid, signal) };
    }
}
