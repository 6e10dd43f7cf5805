//! `nightshift serve` (or `run --http`) under test: started on 127.0.0.1:0, its address read from the listening
//! line it prints, everything it prints kept; and a plain HTTP/1.1 client over a `TcpStream`
//! (one request per connection), so a test sees exactly the bytes the server sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use super::cli::{Workdir, signal, wait_exit};

/// A running `nightshift serve`, or a runner serving the API (`run --http`).
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    stdout: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    stderr: Arc<Mutex<String>>,
}

/// What the server printed, once it stopped.
pub struct Stopped {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Server {
    /// Starts `serve --listen 127.0.0.1:0` with `env` set, and waits for its listening line.
    pub fn start(w: &Workdir, env: &[(&str, &str)]) -> Self {
        Self::spawn(w, &["serve", "--listen", "127.0.0.1:0", "--log-format", "json"], env)
    }

    /// Starts nightshift with `args` (which must listen and log JSON) and `env` set, and waits
    /// for its listening line.
    pub fn spawn(w: &Workdir, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = w.cmd(args);
        cmd.envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn nightshift");
        let (stdout, stderr) =
            (Arc::new(Mutex::new(String::new())), Arc::new(Mutex::new(String::new())));
        let (tx, rx) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        let kept = stdout.clone();
        let mut readers = vec![std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if line.contains("\"http_listening\"") {
                    let _ = tx.send(line.clone());
                }
                kept.lock().unwrap().push_str(&(line + "\n"));
            }
        })];
        let mut err = child.stderr.take().unwrap();
        let kept = stderr.clone();
        readers.push(std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            kept.lock().unwrap().push_str(&text);
        }));
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("no listening line; stderr: {}", stderr.lock().unwrap());
            }
        };
        let v: serde_json::Value = serde_json::from_str(&line).expect(&line);
        let addr = v["addr"].as_str().expect(&line).parse().expect(&line);
        Self { child, addr, stdout, readers, stderr }
    }

    /// A request with the given headers and body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        request(self.addr, method, path, headers, body)
    }

    /// Sends SIGTERM and waits for the server to stop; returns all it printed.
    pub fn stop(mut self) -> Stopped {
        signal(&self.child, 15);
        let status = wait_exit(&mut self.child, Duration::from_secs(20));
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        let stdout = self.stdout.lock().unwrap().clone();
        let stderr = self.stderr.lock().unwrap().clone();
        Stopped { code: status.code(), stdout, stderr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// Asserts the status, showing the response when it differs.
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "{self:?}");
        self
    }
}

/// Sends one request (`Connection: close`; `Host` is the address unless given) and reads the
/// whole response. With an
/// `Expect: 100-continue` header the body is sent only if the server asks for it.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect to serve");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let expect =
        headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("expect") && *v == "100-continue");
    let mut reader = BufReader::new(stream);
    if expect {
        let first = read_head(&mut reader);
        if first.0 != 100 {
            return read_rest(reader, first);
        }
    }
    reader.get_mut().write_all(body).unwrap();
    let head = read_head(&mut reader);
    read_rest(reader, head)
}

fn read_head(reader: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            return (status, headers);
        }
        let (name, value) = line.split_once(':').expect(line);
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
}

fn read_rest(
    mut reader: BufReader<TcpStream>,
    (status, headers): (u16, Vec<(String, String)>),
) -> Response {
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw).expect("read the body");
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(&raw) } else { raw };
    Response { status, headers, body: String::from_utf8(body).expect("a UTF-8 body") }
}

/// The body of a chunked transfer.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let end = raw.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 4 + size..];
    }
}

// What the API tests share: secrets to look for, and the CLI's JSON to compare with.

pub const TOKEN: &str = "tok-SECRET-0123456789abcdef";
pub const WEBHOOK: &str = "https://hooks.example.com/services/WEBHOOK-SECRET-42";
pub const HEARTBEAT: &str = "https://hc-ping.example.com/HEARTBEAT-SECRET-77";
pub const DB_PASSWORD: &str = "DB-SECRET-pw";

/// `Authorization: Bearer TOKEN` (the token spelt out: consts do not concatenate).
pub const AUTH: (&str, &str) = ("Authorization", "Bearer tok-SECRET-0123456789abcdef");

/// What a command prints with `--json`, parsed.
pub fn cli_json(w: &Workdir, args: &[&str]) -> Value {
    let out = w.run(args).expect(0);
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// The server's environment: the token, a webhook and a heartbeat URL, and on PostgreSQL a
/// database URL holding a password (trust auth takes any).
pub fn secret_env(w: &Workdir) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("NIGHTSHIFT_TOKEN", TOKEN.to_owned()),
        ("ALERT_WEBHOOK", WEBHOOK.to_owned()),
        ("HEARTBEAT_URL", HEARTBEAT.to_owned()),
    ];
    if w.is_postgres() {
        let url = w.db().to_string_lossy().into_owned();
        let with = url.replacen("://postgres@", &format!("://postgres:{DB_PASSWORD}@"), 1);
        assert_ne!(with, url, "the scratch URL names the postgres user: {url}");
        env.push(("NIGHTSHIFT_DB", with));
    }
    env
}

/// Starts `serve` with `env` (as [`secret_env`] gives it).
pub fn start(w: &Workdir, env: &[(&'static str, String)]) -> Server {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(w, &env)
}

/// Asserts that `text` holds none of the secrets.
pub fn assert_no_secret(what: &str, text: &str) {
    for secret in [TOKEN, "WEBHOOK-SECRET-42", "HEARTBEAT-SECRET-77", DB_PASSWORD] {
        assert!(!text.contains(secret), "{what} shows a secret ({secret}):\n{text}");
    }
}

/// Records every response, to search them all for secrets at the end.
#[derive(Default)]
pub struct Seen(pub String);

impl Seen {
    pub fn keep(&mut self, r: Response) -> Response {
        self.0.push_str(&format!("{} {:?}\n{}\n", r.status, r.headers, r.body));
        r
    }
}
