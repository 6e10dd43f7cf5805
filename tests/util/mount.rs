//! A small tmpfs mounted for one test (the test machines run as root), unmounted on drop.
//! Where mounting is refused, the test says so and skips instead of failing.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tmpfs {
    pub dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "1m"); `None` (with a note) where that is not allowed.
    pub fn mount(size: &str) -> Option<Self> {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); this scenario did not run");
            return None;
        }
        Some(Self { dir, _parent: parent })
    }

    /// Remounts read-only (or read-write).
    pub fn remount(&self, read_only: bool) {
        let opt = if read_only { "remount,ro" } else { "remount,rw" };
        let ok = Command::new("mount").args(["-o", opt]).arg(&self.dir).status().unwrap().success();
        assert!(ok, "remount {opt}");
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}
