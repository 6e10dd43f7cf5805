//! The step socket: a Unix domain socket a runner serves while its jobs run, through which a
//! handler program reads and records its job's memoized steps (`protocol` has the wire format).
//!
//! One socket per runner process, in a private directory (mode 0700) made at start and removed
//! at exit; its path reaches each handler as `NIGHTSHIFT_SOCKET`. The lease token of the attempt
//! (`NIGHTSHIFT_LEASE`) is the capability: a request names it and nothing else, and is served
//! only while that attempt runs here (the command handler enters the attempt's [`Steps`] while
//! its program runs and takes them out when it ends). A token this runner does not run, or no
//! longer runs, is refused; a token it runs whose lease the Store no longer holds is refused by
//! the Store. Every request goes through the Store's mailbox (the runner's one writer), which
//! extends the lease and answers after COMMIT.
//!
//! Bounds: at most [`MAX_CONNECTIONS`] connections at once (one more is answered with an error
//! and closed), lines of at most [`MAX_LINE`] bytes (a longer one is answered with an error and
//! its connection closed). A bad line is answered with an error; the connection and the server
//! go on.

pub(crate) mod protocol;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nightshift_actors::{StepError, Steps};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use self::protocol::{MAX_LINE, Request};

/// Connections served at once.
pub(crate) const MAX_CONNECTIONS: usize = 64;

/// The attempts running under this runner, by lease token.
type Attempts = Arc<Mutex<HashMap<String, Steps>>>;

/// A runner's step socket, served until it is dropped.
pub struct StepSocket {
    path: PathBuf,
    attempts: Attempts,
    task: tokio::task::JoinHandle<()>,
    /// Removed with the socket in it when the runner stops.
    _dir: tempfile::TempDir,
}

impl StepSocket {
    /// Creates the private directory and starts serving. Must be called inside a tokio runtime.
    pub fn bind() -> io::Result<Self> {
        // tempfile creates the directory with mode 0700: no other user can reach the socket.
        let dir = tempfile::Builder::new().prefix("nightshift-steps-").tempdir()?;
        let path = dir.path().join("steps.sock");
        let listener = UnixListener::bind(&path)?;
        let attempts = Attempts::default();
        let task = tokio::spawn(serve(listener, attempts.clone()));
        Ok(Self { path, attempts, task, _dir: dir })
    }

    /// The socket's path (`NIGHTSHIFT_SOCKET`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves the attempt's steps until the returned guard is dropped; `None` for detached
    /// steps (no lease to serve).
    pub(crate) fn enter(&self, steps: &Steps) -> Option<Entered> {
        let token = steps.lease_token()?.to_owned();
        lock(&self.attempts).insert(token.clone(), steps.clone());
        Some(Entered { attempts: self.attempts.clone(), token })
    }
}

impl Drop for StepSocket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for StepSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepSocket").field("path", &self.path).finish_non_exhaustive()
    }
}

/// An attempt served by the socket; dropping it ends that.
pub(crate) struct Entered {
    attempts: Attempts,
    token: String,
}

impl Drop for Entered {
    fn drop(&mut self) {
        lock(&self.attempts).remove(&self.token);
    }
}

fn lock(attempts: &Attempts) -> std::sync::MutexGuard<'_, HashMap<String, Steps>> {
    attempts.lock().unwrap_or_else(|e| e.into_inner())
}

async fn serve(listener: UnixListener, attempts: Attempts) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            // Out of descriptors, most likely: give the connections in flight a moment.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            let busy = format!("too many connections (at most {MAX_CONNECTIONS}); close one");
            tokio::spawn(async move { send(&mut stream, &protocol::refusal(&busy)).await });
            continue;
        };
        let attempts = attempts.clone();
        tokio::spawn(async move {
            connection(stream, &attempts).await;
            drop(slot);
        });
    }
}

/// Serves one connection until it closes, sends an overlong line, or cannot be written to.
async fn connection(stream: UnixStream, attempts: &Attempts) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        match next_line(&mut read, &mut line).await {
            Ok(Line::End) | Err(_) => return,
            Ok(Line::Overlong) => {
                let error = format!("request line longer than {MAX_LINE} bytes; closing");
                let _ = send(&mut write, &protocol::refusal(&error)).await;
                return;
            }
            Ok(Line::Read) => {}
        }
        let answer = match protocol::parse(line.trim_ascii()) {
            Ok(request) => handle(request, attempts).await,
            Err(error) => protocol::refusal(&error),
        };
        if send(&mut write, &answer).await.is_err() {
            return;
        }
    }
}

/// How reading one line went.
enum Line {
    Read,
    Overlong,
    End,
}

/// Reads one line into `line` (without its newline), at most [`MAX_LINE`] bytes of it.
async fn next_line(
    read: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    line: &mut Vec<u8>,
) -> io::Result<Line> {
    let n = read.take(MAX_LINE as u64 + 1).read_until(b'\n', line).await?;
    if n == 0 {
        return Ok(Line::End);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        return Ok(Line::Read);
    }
    if line.len() > MAX_LINE { Ok(Line::Overlong) } else { Ok(Line::Read) }
}

async fn handle(request: Request, attempts: &Attempts) -> Value {
    let Some(steps) = lock(attempts).get(request.lease()).cloned() else {
        return protocol::refusal(
            "refused: no attempt of this runner holds that lease (the attempt ended, or \
             NIGHTSHIFT_LEASE is not this one's)",
        );
    };
    let answered = match request {
        Request::Get { name, .. } => steps.get(&name).await,
        Request::Put { name, output, cost_usd, model, tokens_in, tokens_out, .. } => {
            let output = protocol::recorded(output, cost_usd, model, tokens_in, tokens_out);
            steps.put(&name, output).await
        }
    };
    match answered {
        Ok(step) => protocol::answer(&step),
        Err(error @ (StepError::LeaseLost | StepError::BadName(_))) => {
            protocol::refusal(&format!("refused: {error}"))
        }
        Err(error) => protocol::refusal(&error.to_string()),
    }
}

async fn send(write: &mut (impl tokio::io::AsyncWrite + Unpin), answer: &Value) -> io::Result<()> {
    let mut line = answer.to_string();
    line.push('\n');
    write.write_all(line.as_bytes()).await
}
