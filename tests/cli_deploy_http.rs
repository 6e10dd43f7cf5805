//! `deploy systemd --http` and `deploy fly --http`: the continuous runner serves the HTTP API,
//! the token is named as a secret and never printed; cron and a loopback address on Fly are
//! refused.

use crate::cli_deploy::{installed, sections, unit_files};
use crate::util::cli::Workdir;

/// A token in the environment `deploy` runs with: it must never reach the output.
const TOKEN: &str = "tok-DEPLOY-SECRET-0123456789";

/// `deploy ARGS` with NIGHTSHIFT_TOKEN set; expects exit 0 and returns stdout.
fn deploy(w: &Workdir, args: &[&str]) -> String {
    let out = w.cmd(args).env("NIGHTSHIFT_TOKEN", TOKEN).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN), "the token is printed:\n{stdout}");
    stdout
}

// SQLite only: the lines name the database file.
#[test]
fn deploy_systemd_with_http_serves_the_api_from_the_continuous_service() {
    let w = installed();
    let files = unit_files(&deploy(&w, &["deploy", "systemd", "--http"]));
    let service = &files["nightshift.service"];
    let exec = &sections(service)[&("Service".into(), "ExecStart".into())];
    assert!(exec[0].ends_with(" run --grace 30s --http 127.0.0.1:8787"), "{exec:?}");
    assert!(service.contains("ssh -N -L 8787:127.0.0.1:8787"), "the tunnel:\n{service}");
    assert!(service.contains("NIGHTSHIFT_TOKEN=") && service.contains("EnvironmentFile"));
    assert!(!service.lines().any(|l| l.starts_with("Environment")), "no secret in the unit");
    let once =
        &sections(&files["nightshift-once.service"])[&("Service".into(), "ExecStart".into())];
    assert!(once[0].ends_with(" run --once"), "the scheduled run serves nothing: {once:?}");
}

// SQLite only: the lines name the database file.
#[test]
fn deploy_systemd_with_http_beyond_loopback_says_the_token_is_required() {
    let w = installed();
    let files = unit_files(&deploy(&w, &["deploy", "systemd", "--http", "0.0.0.0:9000"]));
    let service = &files["nightshift.service"];
    let exec = &sections(service)[&("Service".into(), "ExecStart".into())];
    assert!(exec[0].ends_with(" --http 0.0.0.0:9000"), "{exec:?}");
    assert!(service.contains("refuses to start (exit 2) without a"), "{service}");
}

// SQLite only: the volume's database.
#[test]
fn deploy_fly_with_http_puts_the_worker_behind_fly_https() {
    let w = Workdir::new();
    let text = deploy(&w, &["--db", "/data/nightshift.db", "deploy", "fly", "--http"]);
    let fly: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(fly["processes"]["worker"].as_str(), Some("run --grace 30s --http 0.0.0.0:8080"));
    let service = &fly["http_service"];
    assert_eq!(service["internal_port"].as_integer(), Some(8080));
    assert_eq!(service["force_https"].as_bool(), Some(true));
    assert_eq!(service["auto_stop_machines"].as_str(), Some("off"), "never stopped mid-job");
    assert_eq!(service["processes"].as_array().unwrap()[0].as_str(), Some("worker"));
    let check = &service["checks"].as_array().expect("a health check")[0];
    assert_eq!((check["method"].as_str(), check["path"].as_str()), (Some("GET"), Some("/healthz")));
    assert!(fly.get("services").is_none());
    assert!(text.contains("fly secrets set NIGHTSHIFT_TOKEN="), "the token as a secret:\n{text}");
    assert!(text.contains("refuses to start (exit 2) without a token"), "{text}");
    assert!(fly.get("env").and_then(|e| e.get("NIGHTSHIFT_TOKEN")).is_none());

    let text =
        deploy(&w, &["--db", "/data/nightshift.db", "deploy", "fly", "--http", "0.0.0.0:9000"]);
    let fly: toml::Value = toml::from_str(&text).unwrap();
    assert_eq!(fly["http_service"]["internal_port"].as_integer(), Some(9000));
}

// No store: refused before anything is read.
#[test]
fn deploy_http_is_refused_for_cron_and_for_loopback_on_fly() {
    let w = Workdir::new();
    let cron = w.run(&["deploy", "cron", "--http"]).expect(2);
    assert!(cron.stderr.contains("nightshift serve"), "names the fix: {}", cron.stderr);
    let fly = w.run(&["deploy", "fly", "--http", "127.0.0.1:8080"]).expect(2);
    assert!(fly.stderr.contains("0.0.0.0:8080"), "names the fix: {}", fly.stderr);
    let bad = w.run(&["deploy", "systemd", "--http", "localhost"]).expect(2);
    assert!(bad.stderr.contains("IP:PORT"), "{}", bad.stderr);
}
