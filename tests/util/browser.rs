//! Headless Chromium driven through chromedriver (WebDriver), for the dashboard's browser
//! test. Debian's `chromium` and `chromium-driver` provide both programs; `.ci/run` installs
//! them when missing and sets `NIGHTSHIFT_TEST_BROWSER`, which makes a missing browser fail the
//! test. Elsewhere a test that finds no browser says in one line that it was not run, and
//! passes (as the PostgreSQL half of `both_stores!` does without a server).
//!
//! chromedriver is started on a port of its own choosing (`--port=0`; the port is read from
//! the line it prints), in a process group of its own so that dropping [`Browser`] ends it and
//! the Chromium it started, even when a test panics half way.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

use super::cli::{signal_group, wait_exit};

/// The variable that makes the browser tests mandatory; `.ci/run` sets it.
pub const REQUIRED_VAR: &str = "NIGHTSHIFT_TEST_BROWSER";

/// How long chromedriver may take to start and say it is ready.
const START: Duration = Duration::from_secs(30);

/// Chromium as root in a container without a network: no sandbox (root cannot have one), no
/// GPU, and none of the background connections (updates, sync, QUIC probes) the closed network
/// would refuse; a fresh profile; scale 1, so a screenshot's pixels are CSS pixels.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
];

/// A Chromium session through a chromedriver this process started.
pub struct Browser {
    pub client: Client,
    driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a window of `width` x `height`, or
    /// `None` (said in one line on stderr) when either program is missing and
    /// [`REQUIRED_VAR`] is not set. Panics when it is set and they are missing, or when they
    /// are there and fail to start.
    pub async fn start(test: &str, width: u32, height: u32) -> Option<Browser> {
        let (chromium, chromedriver) = match (on_path("chromium"), on_path("chromedriver")) {
            (Some(c), Some(d)) => (c, d),
            _ if std::env::var_os(REQUIRED_VAR).is_some_and(|v| !v.is_empty()) => panic!(
                "{REQUIRED_VAR} is set but chromium or chromedriver is not on PATH (Debian: \
                 apt-get install chromium chromium-driver)"
            ),
            _ => {
                eprintln!(
                    "{test}: browser test not run (no chromium or chromedriver on PATH; \
                     install Debian's chromium and chromium-driver, or set {REQUIRED_VAR} to \
                     require them)"
                );
                return None;
            }
        };
        let (driver, addr) = start_driver(&chromedriver).await;
        let profile = tempfile::tempdir().expect("a temp dir for Chromium's profile");
        let client = connect(addr, &chromium, profile.path(), width, height).await;
        client.set_window_size(width, height).await.expect("set the window's size");
        Some(Browser { client, driver, _profile: profile })
    }

    /// Ends the session (Chromium quits), then chromedriver.
    pub async fn close(mut self) {
        self.client.clone().close().await.expect("end the WebDriver session");
        signal_group(&self.driver.0, 15);
        wait_exit(&mut self.driver.0, Duration::from_secs(10));
    }
}

/// chromedriver's process, its whole group killed on drop (a test that panicked).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            signal_group(&self.0, 9);
            let _ = self.0.wait();
        }
    }
}

/// The first `name` in a directory of `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Starts chromedriver on a free loopback port and waits until `/status` says it is ready.
async fn start_driver(chromedriver: &Path) -> (Driver, SocketAddr) {
    use std::os::unix::process::CommandExt;
    // In its guard at once: a panic below ends it.
    let mut driver = Driver(
        Command::new(chromedriver)
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver"),
    );
    let (tx, rx) = mpsc::channel();
    let out = BufReader::new(driver.0.stdout.take().unwrap());
    // Reads every line (so chromedriver never blocks on a full pipe) and hands on the port.
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("ChromeDriver was started successfully on port ")
            {
                let _ = tx.send(port.trim_end_matches('.').parse::<u16>());
            }
        }
    });
    let port = match rx.recv_timeout(START) {
        Ok(Ok(port)) => port,
        other => panic!("chromedriver did not say which port it listens on: {other:?}"),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + START;
    let status = format!("http://{addr}/status");
    loop {
        let ready = match reqwest::get(&status).await {
            Ok(r) => r.json::<Value>().await.is_ok_and(|v| v["value"]["ready"] == true),
            Err(_) => false,
        };
        if ready {
            return (driver, addr);
        }
        assert!(Instant::now() < deadline, "chromedriver at {addr} was not ready within {START:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A WebDriver session with headless Chromium, over plain HTTP.
async fn connect(
    addr: SocketAddr,
    chromium: &Path,
    profile: &Path,
    width: u32,
    height: u32,
) -> Client {
    let mut args: Vec<String> = FLAGS.iter().map(|f| (*f).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push(format!("--window-size={width},{height}"));
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": chromium, "args": args },
    });
    let Value::Object(capabilities) = capabilities else { unreachable!() };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://{addr}"))
        .await
        .unwrap_or_else(|e| panic!("start headless Chromium through chromedriver at {addr}: {e}"))
}
