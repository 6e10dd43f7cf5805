//! `run --http ADDR`: the HTTP API (`crate::http`) inside a continuous runner. Reads go through
//! a read connection (`Admin`); the three writes (enqueue, replay, pause/resume) through the
//! engine's `Operator`, to the Store actor's mailbox, so the runner stays its database's one
//! writer and a job enqueued or replayed over HTTP is offered to a free worker at once.
//!
//! Lifetime: the address and token are checked before anything starts (exit 2, as `serve`);
//! the port is bound before the engine starts, so a port already taken fails the start instead
//! of a runner working without its API; requests are answered once the engine runs. The
//! listener stops when the runner begins to stop (the first SIGTERM or SIGINT, or the engine
//! giving up), alongside the engine's ordered shutdown: it answers the requests in flight (a
//! write then may be refused as 503, the runner stopping) and accepts no more, and `run`
//! returns once both are done.

use std::net::SocketAddr;
use std::sync::Arc;

use nightshift_actors::{EngineConfig, Operator};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Failure;
use crate::cli::RunArgs;
use crate::commands::serve;
use crate::config::Settings;
use crate::http::{Api, Database, Token};

/// What `--http` asks for, checked before the runner starts.
pub(super) struct Plan {
    addr: SocketAddr,
    token: Option<Token>,
}

impl Plan {
    /// `None` without `--http`; refuses it with `--once` and as `serve` refuses an address.
    pub(super) fn of(args: &RunArgs, settings: &Settings) -> Result<Option<Self>, Failure> {
        let Some(text) = &args.http else { return Ok(None) };
        if args.once {
            return Err(Failure::Usage(
                "--http needs a continuous runner, and `run --once` exits when the queue is \
                 drained: drop --once, or run `nightshift serve` beside the scheduled run"
                    .to_owned(),
            ));
        }
        let (addr, token) = serve::address("--http", text, settings)?;
        Ok(Some(Self { addr, token }))
    }

    /// Binds the port (before the engine starts).
    pub(super) async fn bind(self) -> Result<Bound, Failure> {
        Ok(Bound { listener: serve::bind(self.addr).await?, token: self.token })
    }
}

/// The port bound, not yet served.
pub(super) struct Bound {
    listener: TcpListener,
    token: Option<Token>,
}

impl Bound {
    /// Serves the API with `engine` taking its writes, until [`Serving::stop`].
    pub(super) async fn serve(
        self,
        settings: Arc<Settings>,
        config: EngineConfig,
        engine: Operator,
    ) -> Result<Serving, Failure> {
        let database = tokio::task::spawn_blocking(move || Database::beside(config, engine))
            .await
            .map_err(|e| Failure::Failed(format!("cannot open the database for --http: {e}")))??;
        let api =
            Api { database, settings, token: self.token.map(Arc::new), sessions: Arc::default() };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve::serve(self.listener, api, async {
            // A dropped sender stops it as well.
            let _ = stopped.await;
        }));
        Ok(Serving { stop, task })
    }
}

/// The API being served.
pub(super) struct Serving {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), Failure>>,
}

impl Serving {
    /// Stops accepting connections at once; resolves once the requests in flight are answered.
    pub(super) fn stop(self) -> impl Future<Output = Result<(), Failure>> {
        let _ = self.stop.send(());
        async move {
            self.task.await.map_err(|e| Failure::Failed(format!("the HTTP server failed: {e}")))?
        }
    }
}
