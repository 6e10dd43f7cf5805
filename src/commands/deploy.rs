//! `nightshift deploy cron|systemd|fly`: prints a crontab block, systemd units or a fly.toml
//! filled in for this install. This file gathers the facts the templates need (absolute paths
//! to this binary, the database, the config and the working directory; the handler command,
//! given after `--` as `run` takes it, or configured);
//! the templates live in `deploy/`, one per target, and quoting in `deploy/quote.rs`.

mod cron;
mod fly;
pub(super) mod quote;
mod systemd;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::HandlerCommand;
use crate::Failure;
use crate::cli::{DeployArgs, DeployTarget};
use crate::config::Settings;
use crate::output::write_out;

/// `run --grace` in the continuous templates. The stop timeouts (systemd `TimeoutStopSec`, Fly
/// `kill_timeout`) are set above it plus the handler's 5 s kill grace plus a drain margin.
pub const GRACE_SECS: u64 = 30;
/// systemd `TimeoutStopSec` and Fly `kill_timeout`: grace + 5 s kill grace + 10 s margin.
pub const STOP_TIMEOUT_SECS: u64 = 45;

/// What the templates are filled in with. Every path is absolute.
pub struct Install {
    /// The running binary.
    pub exe: PathBuf,
    /// The current directory: relative paths in the config (a handler's `agent.py`) resolve
    /// against it, so scheduled and continuous runs start there too.
    pub workdir: PathBuf,
    pub db: PathBuf,
    /// The database's directory: WAL needs `-wal` and `-shm` files beside the database, and the
    /// runner lock lives there too, so this is what a sandbox must leave writable.
    pub db_dir: PathBuf,
    pub config: Option<PathBuf>,
    /// Given after `--` (then the run lines carry it) or `[handler] command`.
    pub handler: Option<HandlerCommand>,
    /// The owner of the database's directory when it is not root: the user to run as.
    pub owner: Option<String>,
    /// The database is PostgreSQL: `db` is empty (its URL is no path and may hold a password,
    /// so no line carries it) and `db_dir` is the working directory.
    pub postgres: bool,
}

pub fn run(settings: &Settings, args: &DeployArgs) -> Result<(), Failure> {
    let http = http_address(args)?;
    let install = Install::of(settings, &args.command)?;
    let text = match args.target {
        DeployTarget::Cron => cron::render(&install),
        DeployTarget::Systemd => systemd::render(&install, http),
        DeployTarget::Fly => fly::render(&install, http),
    };
    write_out(format_args!("{text}"))?;
    if args.target == DeployTarget::Fly {
        return Ok(());
    }
    if install.exe.ancestors().any(|a| a.ends_with("target/debug") || a.ends_with("target/release"))
    {
        eprintln!(
            "nightshift: note: these lines run {}, inside a build directory that `cargo clean` \
             empties; install the binary (sudo install -m 0755 {0} /usr/local/bin/nightshift) \
             and run `deploy` with that one",
            install.exe.display()
        );
    }
    if install.postgres {
        eprintln!(
            "nightshift: note: the lines leave out the PostgreSQL URL, which may hold a \
             password: give the runs NIGHTSHIFT_DB=... where the comments above put secrets, or \
             set db = in the config file"
        );
        return Ok(());
    }
    if install.db_dir.starts_with("/tmp") || install.db_dir.starts_with("/var/tmp") {
        // PrivateTmp is the systemd units' own setting; cron runs see the real /tmp.
        let hidden = match args.target {
            DeployTarget::Systemd => " (and hidden from the services by their PrivateTmp=yes)",
            DeployTarget::Cron | DeployTarget::Fly => "",
        };
        eprintln!(
            "nightshift: note: the database is under {}, which is emptied at reboot{hidden}; \
             move it to persistent storage first",
            install.db_dir.display()
        );
    }
    if !install.db.exists() {
        eprintln!(
            "nightshift: note: there is no database at {} yet; run `nightshift --db {} init` \
             before the first run",
            install.db.display(),
            install.db.display()
        );
    }
    Ok(())
}

/// `--http [ADDR]`, with the target's default address; refused (exit 2) for cron, whose runs
/// exit when the queue is drained, and on loopback for Fly, whose proxy could not reach it.
fn http_address(args: &DeployArgs) -> Result<Option<SocketAddr>, Failure> {
    let Some(given) = &args.http else { return Ok(None) };
    let default = match args.target {
        DeployTarget::Cron => {
            return Err(Failure::Usage(
                "--http needs a continuous runner, and cron starts `run --once`: use `deploy \
                 systemd --http` or `deploy fly --http`, or run `nightshift serve` beside cron"
                    .to_owned(),
            ));
        }
        DeployTarget::Systemd => "127.0.0.1:8787",
        DeployTarget::Fly => "0.0.0.0:8080",
    };
    let text = given.as_deref().unwrap_or(default);
    let addr: SocketAddr = text.trim().parse().map_err(|_| {
        Failure::Usage(format!(
            "--http {text:?} is not an IP:PORT address; give one like {default}"
        ))
    })?;
    if args.target == DeployTarget::Fly && addr.ip().is_loopback() {
        return Err(Failure::Usage(format!(
            "--http {addr}: Fly's proxy reaches the machine on its private network, never on \
             loopback; give --http 0.0.0.0:{} (it needs NIGHTSHIFT_TOKEN as a Fly secret)",
            addr.port()
        )));
    }
    Ok(Some(addr))
}

impl Install {
    /// The facts for `settings`, with the handler `given` after `--` (if any) winning.
    pub fn of(settings: &Settings, given: &[String]) -> Result<Self, Failure> {
        let cwd = std::env::current_dir().map_err(|e| {
            Failure::Failed(format!(
                "cannot read the current directory: {e}; cd to a folder that exists"
            ))
        })?;
        let workdir = cwd.canonicalize().unwrap_or_else(|_| cwd.clone());
        let exe = std::env::current_exe().map_err(|e| {
            Failure::Failed(format!(
                "cannot find the path of this nightshift binary: {e}; run it by its full path"
            ))
        })?;
        let postgres = settings.is_postgres();
        let (db, db_dir) = if postgres {
            (PathBuf::new(), workdir.clone())
        } else {
            let db = absolute(&workdir, &settings.db);
            let dir = db.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
            (db, dir)
        };
        let config = settings.config_file.as_deref().map(|c| absolute(&workdir, c));
        Ok(Install {
            exe,
            workdir,
            owner: owner_name(&db_dir),
            db,
            db_dir,
            config,
            handler: HandlerCommand::pick(given, settings),
            postgres,
        })
    }

    /// ` --db DB [--config CONFIG]` (no `--db` on PostgreSQL), each word after a space, quoted
    /// by `quote`, for a command line.
    fn global_flags(&self, quote: impl Fn(&Path) -> String) -> String {
        let mut flags = String::new();
        if !self.postgres {
            flags.push_str(&format!(" --db {}", quote(&self.db)));
        }
        if let Some(config) = &self.config {
            flags.push_str(&format!(" --config {}", quote(config)));
        }
        flags
    }

    /// ` -- PROGRAM ARGS...` for a `run` command line when the handler was given after `--`
    /// (a configured one is read from the config), each word quoted by `quote`.
    fn handler_args(&self, quote: impl Fn(&str) -> String) -> String {
        match &self.handler {
            Some(HandlerCommand::Given(argv)) => {
                argv.iter().fold(" --".to_owned(), |line, word| line + " " + &quote(word))
            }
            Some(HandlerCommand::Configured(_)) | None => String::new(),
        }
    }

    /// A comment bullet (lines starting with `# `) saying which handler the runs use, or
    /// telling the user to set one.
    fn handler_comment(&self) -> String {
        match (&self.handler, &self.config) {
            (Some(HandlerCommand::Given(argv)), _) => format!(
                "# - Handler: {argv:?}\n\
                 #   (given after `--`: it is on the run line below and wins over [handler] command).\n"
            ),
            (Some(HandlerCommand::Configured(argv)), Some(config)) => {
                format!("# - Handler: {argv:?} ([handler] command in {}).\n", config.display())
            }
            (Some(HandlerCommand::Configured(argv)), None) => {
                format!("# - Handler: {argv:?} ([handler] command).\n")
            }
            (None, config) => {
                let file = config.clone().unwrap_or_else(|| self.workdir.join("nightshift.toml"));
                format!(
                    "# - NO HANDLER IS SET: every run exits 2 (\"no handler command\") until you set\n\
                     #   one in {}, with absolute paths, e.g.\n\
                     #     [handler]\n\
                     #     command = [\"/usr/bin/python3\", \"{agent}\"]\n\
                     #   or give it after `--` as `run` takes it, and it goes on the run lines:\n\
                     #     nightshift deploy ... -- /usr/bin/python3 {agent}\n",
                    file.display(),
                    agent = self.workdir.join("agent.py").display()
                )
            }
        }
    }
}

/// `path` made absolute against `base`, with symlinks and `..` in its directory resolved when
/// the directory exists (the file itself may not exist yet).
fn absolute(base: &Path, path: &Path) -> PathBuf {
    let joined = base.join(path);
    match (joined.parent(), joined.file_name()) {
        (Some(dir), Some(name)) => match dir.canonicalize() {
            Ok(dir) => dir.join(name),
            Err(_) => joined,
        },
        _ => joined,
    }
}

/// The user name owning `dir`, unless that is root (a service should not run as root; the
/// templates then say how to pick a user instead).
fn owner_name(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(dir).ok()?.uid();
    if uid == 0 {
        return None;
    }
    let mut buf = vec![0u8; 4096];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes into `pwd` and `buf`, which outlive the call; `found` is
    // either null or points at `pwd`.
    let rc =
        unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() {
        return None;
    }
    // SAFETY: on success pw_name is a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}
