//! A record of the handler process groups a runner has running, one empty file per group in
//! `<db>.handlers/`. A runner that was SIGKILLed cannot clean up after itself: its handlers die
//! with it (PDEATHSIG), but their children live on in the group. The next runner on the same
//! database, once it holds the runner lock, kills what the files name — only groups that still
//! carry a nightshift job's environment, so a recycled group id is never touched.
//!
//! On PostgreSQL several runners of one host may share the database and no lock says which are
//! dead: each runner records its groups under a directory named by its own pid, in a directory
//! of this host's for that database, and a starting runner reaps only the directories whose
//! runner is no longer alive.

use std::path::{Path, PathBuf};

/// The registry directory of one database.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
    /// PostgreSQL: this runner's pid, which names its own directory inside `dir`.
    owner: Option<u32>,
}

/// One registered group; dropping it removes the record.
pub(super) struct Entry {
    file: PathBuf,
}

impl Drop for Entry {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

impl Registry {
    /// The registry beside `db`.
    pub fn beside(db: &Path) -> Self {
        let mut dir = db.as_os_str().to_owned();
        dir.push(".handlers");
        Self { dir: PathBuf::from(dir), owner: None }
    }

    /// The registry of this runner among the runners of this host that share a database (a
    /// PostgreSQL URL: `key` names it, without its password), under the system's temp dir.
    pub fn per_runner(key: &str) -> Self {
        use std::hash::{Hash, Hasher};
        let mut hash = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut hash);
        // SAFETY: getuid(2) cannot fail.
        let uid = unsafe { libc::getuid() };
        let dir = std::env::temp_dir()
            .join(format!("nightshift-{uid}-handlers"))
            .join(format!("{:016x}", hash.finish()));
        Self { dir, owner: Some(std::process::id()) }
    }

    fn own_dir(&self) -> PathBuf {
        match self.owner {
            Some(pid) => self.dir.join(pid.to_string()),
            None => self.dir.clone(),
        }
    }

    /// Records a running group (best effort: a failure only weakens crash clean-up).
    pub(super) fn enter(&self, pgid: i32) -> Option<Entry> {
        let dir = self.own_dir();
        std::fs::create_dir_all(&dir).ok()?;
        let file = dir.join(pgid.to_string());
        std::fs::write(&file, b"").ok()?;
        Some(Entry { file })
    }

    /// Kills the groups a dead runner left behind; returns how many were still alive. Call it
    /// only while holding the runner lock (SQLite), or before starting (PostgreSQL: only the
    /// directories of runners no longer alive are reaped).
    pub fn reap_stale(&self) -> usize {
        let Some(me) = self.owner else { return reap_dir(&self.dir) };
        let Ok(runners) = std::fs::read_dir(&self.dir) else { return 0 };
        let mut killed = 0;
        for runner in runners.flatten() {
            let Some(pid) = runner.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if pid != me && !alive(pid) {
                killed += reap_dir(&runner.path());
                let _ = std::fs::remove_dir(runner.path());
            }
        }
        killed
    }
}

/// Whether process `pid` exists.
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Kills the groups recorded in `dir` that still run a job, and forgets every record.
fn reap_dir(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut killed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if let Some(pgid) = name.to_str().and_then(|n| n.parse::<i32>().ok())
            && pgid > 1
            && members_with_job_env(pgid)
        {
            // SAFETY: kill(2) on a process group we verified is one of our handlers'.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            killed += 1;
        }
        let _ = std::fs::remove_file(entry.path());
    }
    killed
}

/// Whether any live process in group `pgid` has `NIGHTSHIFT_KEY` in its environment.
fn members_with_job_env(pgid: i32) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else { return false };
    procs.flatten().any(|p| {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
        // Fields after the command (which may hold spaces) start after the last ')'.
        let rest: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let in_group = rest.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid);
        in_group
            && std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v.starts_with(b"NIGHTSHIFT_KEY=")))
    })
}
