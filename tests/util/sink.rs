//! A webhook sink on 127.0.0.1:0 that records every request and answers with a scripted
//! status, for alert tests.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;

/// One received request.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: std::time::Instant,
    /// The status the sink answered with.
    pub answered: u16,
    pub method: axum::http::Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    /// Statuses to answer with, in order; 200 once it is empty.
    script: VecDeque<u16>,
    /// A Retry-After header to send with 429 answers.
    retry_after: Option<String>,
}

/// The running sink; the server stops when the test's runtime ends.
#[derive(Clone)]
pub struct Sink {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl Sink {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0").await
    }

    /// Starts on a given address (to bring a webhook back on the port it was down on).
    pub async fn start_on(addr: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new().fallback(any(record)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind sink");
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inner }
    }

    /// The URL to configure, with a secret-looking path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn script(&self, statuses: &[u16]) {
        self.inner.lock().unwrap().script.extend(statuses.iter().copied());
    }

    /// Answers 429s with this Retry-After.
    pub fn retry_after(&self, seconds: &str) {
        self.inner.lock().unwrap().retry_after = Some(seconds.to_owned());
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }
}

async fn record(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: axum::http::Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap) {
    let mut inner = inner.lock().unwrap();
    let path_and_query = uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let status = inner.script.pop_front().unwrap_or(200);
    let at = std::time::Instant::now();
    let received = Received { at, answered: status, method, path_and_query, headers, body };
    inner.received.push(received);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut headers = HeaderMap::new();
    if status == StatusCode::TOO_MANY_REQUESTS
        && let Some(wait) = &inner.retry_after
    {
        headers.insert("retry-after", wait.parse().unwrap());
    }
    (status, headers)
}
