//! A record of the handler process groups a runner has running, one empty file per group in
//! `<db>.handlers/`. A runner that was SIGKILLed cannot clean up after itself: its handlers die
//! with it (PDEATHSIG), but their children live on in the group. The next runner on the same
//! database, once it holds the runner lock, kills what the files name — only groups that still
//! carry a nightshift job's environment, so a recycled group id is never touched.

use std::path::{Path, PathBuf};

/// The registry directory of one database.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
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
        Self { dir: PathBuf::from(dir) }
    }

    /// Records a running group (best effort: a failure only weakens crash clean-up).
    pub(super) fn enter(&self, pgid: i32) -> Option<Entry> {
        std::fs::create_dir_all(&self.dir).ok()?;
        let file = self.dir.join(pgid.to_string());
        std::fs::write(&file, b"").ok()?;
        Some(Entry { file })
    }

    /// Kills the groups a dead runner left behind; returns how many were still alive. Call it
    /// only while holding the runner lock.
    pub fn reap_stale(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return 0 };
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
