//! `nightshift serve`: the HTTP API (`src/http`) as a process of its own, beside a runner.
//! Listens on loopback by default; any other address needs a token. Stops on SIGTERM or
//! SIGINT once the requests in flight are answered.
//!
//! `run --http` serves the same router from inside a continuous runner, through [`address`],
//! [`bind`] and [`serve`] here: the same address and token rules, the same listening line.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::Failure;
use crate::cli::ServeArgs;
use crate::config::Settings;
use crate::events;
use crate::http::{self, Api, Database, Token};

pub fn run(settings: Settings, args: &ServeArgs) -> Result<(), Failure> {
    let (addr, token) = address("--listen", &args.listen, &settings)?;
    events::install(args.log_format.unwrap_or_else(events::default_format));
    // Opened before listening: a missing database is refused as the other commands refuse it.
    let database = Database::open(settings.engine_config())?;
    let api = Api {
        database,
        settings: Arc::new(settings),
        token: token.map(Arc::new),
        sessions: Arc::default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let stop = stop_signal()?;
        serve(bind(addr).await?, api, stop).await
    })
}

/// The address given to `flag` and the token, if any; refuses (exit 2) an address that is not
/// one, and one beyond loopback without a token.
pub(crate) fn address(
    flag: &str,
    text: &str,
    settings: &Settings,
) -> Result<(SocketAddr, Option<Token>), Failure> {
    let addr: SocketAddr = text.trim().parse().map_err(|_| {
        Failure::Usage(format!(
            "{flag} {text:?} is not an IP:PORT address; give one like 127.0.0.1:8787"
        ))
    })?;
    let token =
        Token::load(std::env::var("NIGHTSHIFT_TOKEN").ok(), settings.http.token_file.as_deref())?;
    if token.is_none() && !addr.ip().is_loopback() {
        return Err(Failure::Usage(format!(
            "refusing to serve on {addr} without a token: anyone who reaches it could enqueue, \
             replay and pause. Set NIGHTSHIFT_TOKEN or [http] token_file (e.g. `openssl rand \
             -hex 32`), or listen on 127.0.0.1 and reach it through an SSH tunnel"
        )));
    }
    Ok((addr, token))
}

/// Listens on `addr`; connections wait in the kernel's backlog until [`serve`] takes them.
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, Failure> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::Failed(format!("cannot listen on {addr}: {e}")))
}

/// Serves the API on `listener` until `stop` resolves, then answers the requests in flight.
/// Logs `http_listening` (with the address, the one a port 0 picked) first, `http_stopped` last.
pub(crate) async fn serve(
    listener: TcpListener,
    api: Api,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Failure> {
    let local = listener
        .local_addr()
        .map_err(|e| Failure::Failed(format!("cannot read the listening address: {e}")))?;
    let auth = if api.token.is_some() { "bearer token" } else { "none (loopback only)" };
    tracing::info!(target: "nightshift", event = "http_listening", addr = %local, auth = auth);
    // The peer's address reaches the handlers: the login form limits wrong tokens by it.
    let app = http::router(api).into_make_service_with_connect_info::<http::ClientAddr>();
    axum::serve(http::Bounded::new(listener), app)
        .with_graceful_shutdown(stop)
        .await
        .map_err(|e| Failure::Failed(format!("the HTTP server stopped: {e}")))?;
    tracing::info!(target: "nightshift", event = "http_stopped");
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT; registered before listening, so none is lost.
fn stop_signal() -> Result<impl Future<Output = ()>, Failure> {
    let error = |e: std::io::Error| Failure::Failed(format!("cannot listen for signals: {e}"));
    let mut term = signal(SignalKind::terminate()).map_err(error)?;
    let mut int = signal(SignalKind::interrupt()).map_err(error)?;
    Ok(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(target: "nightshift", event = "shutdown_requested", signal = name,
            reason = "answering the requests in flight, then stopping");
    })
}
