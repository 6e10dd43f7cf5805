//! `nightshift deploy cron|systemd|fly` through the built binary, the root `fly.toml` against
//! the template, and the Dockerfile's build command against the one `.ci/run` runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::cli::Workdir;

/// A workdir with a database and a config that sets a handler.
pub(crate) fn installed() -> Workdir {
    let w = Workdir::new();
    w.run(&["init"]).expect(0);
    w.write("nightshift.toml", "[handler]\ncommand = [\"/usr/bin/python3\", \"agent.py\"]\n");
    w
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap()
}

/// The one line of a crontab block that is not a comment.
fn cron_line(text: &str) -> &str {
    let lines: Vec<&str> =
        text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one crontab line:\n{text}");
    lines[0]
}

// SQLite only: the lines name the database file (cli_postgres has PostgreSQL's).
#[test]
fn deploy_cron_prints_one_flock_line_with_absolute_paths() {
    let w = installed();
    let out = w.run(&["deploy", "cron"]).expect(0);
    let line = cron_line(&out.stdout);
    let tokens: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&tokens[..5], ["*/15", "*", "*", "*", "*"], "{line}");
    for t in &tokens[5..] {
        assert!(!t.contains('/') || t.starts_with('/'), "relative path {t:?} in: {line}");
    }
    let dir = canonical(w.path());
    let db = dir.join("nightshift.db");
    let exe = canonical(Path::new(env!("CARGO_BIN_EXE_nightshift")));
    let expected = format!(
        "cd {dir} && /usr/bin/flock -n {db}.cron.lock {exe} --db {db} --config {cfg} run --once \
         >> {dir}/nightshift.log 2>&1",
        dir = dir.display(),
        db = db.display(),
        exe = exe.display(),
        cfg = dir.join("nightshift.toml").display(),
    );
    assert_eq!(tokens[5..].join(" "), expected);
    assert!(line.contains("flock -n"));
    assert!(out.stdout.contains("exit code 3"), "says nightshift refuses a second runner");
    assert!(out.stdout.contains("PATH=/usr/bin:/bin"), "says what cron's PATH is");
    assert!(out.stdout.contains(r#"["/usr/bin/python3", "agent.py"]"#), "names the handler");
}

// SQLite only: the lines name the database file (cli_postgres has PostgreSQL's).
#[test]
fn deploy_without_a_handler_says_how_to_set_one() {
    let w = Workdir::new();
    w.run(&["init"]).expect(0);
    for target in ["cron", "systemd"] {
        let out = w.run(&["deploy", target]).expect(0);
        assert!(out.stdout.contains("NO HANDLER IS SET"), "{target}: {}", out.stdout);
        assert!(out.stdout.contains("[handler]"), "{target}");
    }
}

/// Splits `deploy systemd` output on its `# --- /etc/systemd/system/NAME ---` headers.
pub(crate) fn unit_files(text: &str) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(name) =
            line.strip_prefix("# --- /etc/systemd/system/").and_then(|r| r.strip_suffix(" ---"))
        {
            current = Some(name.to_owned());
            files.insert(name.to_owned(), String::new());
        } else if let Some(name) = &current {
            let file = files.get_mut(name).unwrap();
            file.push_str(line);
            file.push('\n');
        }
    }
    files
}

/// `(section, key) -> values` of a unit file, comments skipped.
pub(crate) fn sections(unit: &str) -> BTreeMap<(String, String), Vec<String>> {
    let mut keys: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut section = String::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("not key=value: {line}"));
        keys.entry((section.clone(), k.to_owned())).or_default().push(v.to_owned());
    }
    keys
}

// SQLite only: the lines name the database file (cli_postgres has PostgreSQL's).
#[test]
fn deploy_systemd_units_carry_the_required_keys_in_the_right_sections() {
    let w = installed();
    let files = unit_files(&w.run(&["deploy", "systemd"]).expect(0).stdout);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["nightshift-once.service", "nightshift.service", "nightshift.timer"]);
    let dir = canonical(w.path()).display().to_string();

    let service = sections(&files["nightshift.service"]);
    let one = |section: &str, key: &str| -> String {
        let values = service.get(&(section.to_owned(), key.to_owned()));
        values.unwrap_or_else(|| panic!("[{section}] {key} missing")).join(" ")
    };
    for (section, key, value) in [
        ("Service", "Type", "simple"),
        ("Service", "Restart", "always"),
        ("Service", "RestartSec", "5"),
        ("Service", "KillSignal", "SIGTERM"),
        ("Service", "KillMode", "mixed"),
        ("Service", "NoNewPrivileges", "yes"),
        ("Service", "ProtectSystem", "strict"),
        ("Service", "PrivateTmp", "yes"),
        ("Service", "ReadWritePaths", dir.as_str()),
        ("Install", "WantedBy", "multi-user.target"),
    ] {
        assert_eq!(one(section, key), value, "[{section}] {key}");
    }
    assert!(one("Unit", "StartLimitBurst").parse::<u32>().is_ok());
    assert!(one("Unit", "StartLimitIntervalSec").parse::<u32>().is_ok());
    assert!(!service.contains_key(&("Service".into(), "StartLimitBurst".into())));
    let exec = one("Service", "ExecStart");
    assert!(exec.starts_with('/') && exec.contains(&format!("--db {dir}/nightshift.db")), "{exec}");
    let grace = exec.split("--grace ").nth(1).expect("run --grace").split(' ').next().unwrap();
    let grace = humantime::parse_duration(grace).unwrap();
    let stop = humantime::parse_duration(&one("Service", "TimeoutStopSec")).unwrap();
    assert!(stop > grace, "TimeoutStopSec {stop:?} must exceed the grace {grace:?}");
    assert!(!files["nightshift.service"].lines().any(|l| l.starts_with("Environment")));

    let once = sections(&files["nightshift-once.service"]);
    assert_eq!(once[&("Service".into(), "Type".into())], ["oneshot"]);
    assert!(once[&("Service".into(), "ExecStart".into())][0].ends_with(" run --once"));
    let timer = sections(&files["nightshift.timer"]);
    assert_eq!(timer[&("Timer".into(), "OnCalendar".into())], ["*:0/15"]);
    assert_eq!(timer[&("Timer".into(), "Persistent".into())], ["true"]);
    assert_eq!(timer[&("Timer".into(), "Unit".into())], ["nightshift-once.service"]);
}

// SQLite only: the lines name the database file (cli_postgres has PostgreSQL's).
#[test]
fn deploy_systemd_units_pass_systemd_analyze_verify() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("note: systemd-analyze is not installed here; the key checks above still ran");
        return;
    }
    let w = installed();
    let units = w.path().join("units");
    std::fs::create_dir(&units).unwrap();
    let files = unit_files(&w.run(&["deploy", "systemd"]).expect(0).stdout);
    let paths: Vec<PathBuf> = files
        .iter()
        .map(|(name, text)| {
            let p = units.join(name);
            std::fs::write(&p, text).unwrap();
            p
        })
        .collect();
    let out = Command::new("systemd-analyze").arg("verify").args(&paths).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify failed:\n{stderr}");
    // verify reports unknown keys and bad values as warnings with exit code 0: none allowed.
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains(units.to_str().unwrap())).collect();
    assert!(ours.is_empty(), "systemd-analyze verify complained:\n{}", ours.join("\n"));
}

fn fly(w: &Workdir, db: &str) -> (String, toml::Value) {
    let text = w.run(&["--db", db, "deploy", "fly"]).expect(0).stdout;
    let value = toml::from_str::<toml::Value>(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (text, value)
}

// SQLite only: the lines name the database file (cli_postgres has PostgreSQL's).
#[test]
fn deploy_fly_mounts_the_volume_at_the_database_directory() {
    let w = Workdir::new();
    let (_, fly) = fly(&w, "/data/agent.db");
    let db = fly["env"]["NIGHTSHIFT_DB"].as_str().unwrap();
    assert_eq!(db, "/data/agent.db");
    let mounts = fly["mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0]["destination"].as_str().map(Path::new), Path::new(db).parent());
    assert_eq!(mounts[0]["source"].as_str(), Some("nightshift_data"));
    assert_eq!(fly["kill_signal"].as_str(), Some("SIGTERM"));
    assert!(fly["kill_timeout"].as_integer().unwrap() > 30, "above the 30s grace");
    assert_eq!(fly["processes"]["worker"].as_str(), Some("run --grace 30s"));
    for public in ["http_service", "services"] {
        assert!(fly.get(public).is_none(), "a worker has no {public}");
    }
}

// No store: the repository's fly.toml against the template.
#[test]
fn the_root_fly_toml_is_what_deploy_fly_prints_for_the_image_database() {
    let root = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fly.toml"))
        .expect("fly.toml at the repository root");
    let parsed: toml::Value = toml::from_str(&root).expect("the root fly.toml is TOML");
    assert_eq!(parsed["mounts"][0]["destination"].as_str(), Some("/data"));
    let (printed, _) = fly(&Workdir::new(), "/data/nightshift.db");
    assert_eq!(root, printed, "regenerate it: nightshift --db /data/nightshift.db deploy fly");
}

/// The `cargo build ...` commands in a file's shell lines (Dockerfile `RUN`s joined across
/// `\` line ends, split on `&&`).
fn cargo_builds(text: &str, prefix: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|l| l.trim().strip_prefix(prefix))
        .flat_map(|l| l.split("&&"))
        .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|c| c.starts_with("cargo build"))
        .collect()
}

// No store: the Dockerfile's build command.
#[test]
fn the_dockerfile_builds_with_the_command_ci_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let ci_builds = cargo_builds(&ci, "");
    assert_eq!(ci_builds.len(), 1, ".ci/run has one cargo build: {ci_builds:?}");
    let docker_builds = cargo_builds(&dockerfile, "RUN ");
    assert_eq!(docker_builds.len(), 2, "the dependency layer and the real build");
    for build in &docker_builds {
        assert_eq!(build, &ci_builds[0]);
    }
    assert!(dockerfile.contains("COPY --from=builder /src/target/release/nightshift "));
}
