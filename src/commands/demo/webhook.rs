//! The demo's loopback webhook: a small HTTP/1.1 receiver on 127.0.0.1 that records every
//! request it gets and answers 200, so a new user sees the dead-letter alert arrive without
//! setting up Slack or ntfy first. It serves one connection at a time on its own thread (the
//! demo sends a handful of alerts), closes each connection after one answer, and stops when
//! dropped. It never listens beyond loopback.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The path alerts are posted to, shown to the user with the request.
const PATH: &str = "/demo-alerts";
/// Bodies above this are answered 413 and not recorded: an alert is a few hundred bytes.
const MAX_BODY: usize = 1024 * 1024;
/// A client that stops sending mid-request is dropped after this.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST /demo-alerts`.
    pub line: String,
    pub body: Vec<u8>,
}

/// The running receiver.
#[derive(Debug)]
pub struct Loopback {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Loopback {
    /// Binds 127.0.0.1 on a free port and starts answering.
    pub fn start() -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new().name("demo-webhook".into()).spawn({
            let (received, stop) = (received.clone(), stop.clone());
            move || serve(&listener, &received, &stop)
        })?;
        Ok(Self { addr, received, stop, thread: Some(thread) })
    }

    /// The URL to post alerts to.
    pub fn url(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn received(&self) -> Vec<Request> {
        self.received.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // `accept` blocks: one connection of our own wakes it to see the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: &TcpListener, received: &Mutex<Vec<Request>>, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        // A connection that fails mid-request is the client's problem: it retries, we go on.
        if let Ok(stream) = stream {
            let _ = answer(stream, received);
        }
    }
}

/// Reads one request, records it, answers and closes the connection.
fn answer(stream: TcpStream, received: &Mutex<Vec<Request>>) -> io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end().to_owned();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim_end().is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((&header, ""));
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "content-length" {
            length = value.parse().unwrap_or(usize::MAX);
        } else if name == "transfer-encoding" {
            chunked = true;
        }
    }
    let status = if chunked {
        "411 Length Required"
    } else if length > MAX_BODY {
        "413 Content Too Large"
    } else {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        received.lock().unwrap_or_else(|p| p.into_inner()).push(Request { line, body });
        "200 OK"
    };
    let mut stream = stream;
    write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_a_posted_body_and_answers_200() {
        let hook = Loopback::start().unwrap();
        let mut client = TcpStream::connect(hook.addr).unwrap();
        let body = r#"{"kind":"dead_letter"}"#;
        write!(
            client,
            "POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        let got = hook.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].line, format!("POST {PATH} HTTP/1.1"));
        assert_eq!(got[0].body, body.as_bytes());
    }
}
