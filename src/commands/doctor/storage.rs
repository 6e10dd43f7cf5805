//! The storage under the database: persistent (not /tmp, not a tmpfs or ramfs, and inside a
//! container not the container's own root file system), with room to grow.

use std::path::{Path, PathBuf};

use super::{Check, Status};

const MIB: u64 = 1024 * 1024;
/// Below this, FAIL: a few MiB of WAL and a checkpoint can fill it.
const FAIL_BELOW: u64 = 100 * MIB;
/// Below this, warn.
const WARN_BELOW: u64 = 1024 * MIB;

pub fn checks(db: &Path) -> Vec<Check> {
    // Through symlinks: what matters is where the bytes are.
    let db = db.canonicalize().unwrap_or_else(|_| db.to_path_buf());
    let parent = db.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = match parent.canonicalize() {
        Ok(dir) => dir,
        Err(e) => {
            let msg = format!(
                "the database's directory {} cannot be read ({e}); create it, or mount the \
                 volume there",
                parent.display()
            );
            return vec![
                Check::new("storage", Status::Fail, msg),
                Check::new("disk", Status::Skip, "needs the database's directory"),
            ];
        }
    };
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let container = std::env::var_os("FLY_APP_NAME").is_some_and(|v| !v.is_empty())
        || Path::new("/.dockerenv").exists();
    vec![persistence(&dir, &mounts, container), disk(&dir)]
}

fn persistence(dir: &Path, mounts: &str, container: bool) -> Check {
    let shown = dir.display();
    let move_it = "move the database to a disk that survives a reboot (e.g. \
                   /var/lib/nightshift/nightshift.db) and point --db / NIGHTSHIFT_DB / db = at it";
    if dir.starts_with("/tmp") || dir.starts_with("/var/tmp") {
        return Check::new(
            "storage",
            Status::Fail,
            format!("the database is under {shown}, which is emptied at reboot; {move_it}"),
        );
    }
    let (mount_point, fstype) = mount_of(mounts, dir).unwrap_or_else(|| ("/".into(), "?".into()));
    if fstype == "tmpfs" || fstype == "ramfs" {
        return Check::new(
            "storage",
            Status::Fail,
            format!(
                "the database is on a {fstype} ({}), held in memory and lost at reboot; {move_it}",
                mount_point.display()
            ),
        );
    }
    if container && same_device(dir, Path::new("/")) {
        let root_type = mount_of(mounts, Path::new("/")).map(|(_, t)| t).unwrap_or_default();
        let fix = format!(
            "the database's directory {shown} is on the container's root file system, which is \
             replaced when the container or machine is; mount a volume there (Fly: [[mounts]] \
             destination = \"/data\"; Docker: -v nightshift_data:/data)"
        );
        // Fly machines and overlay roots (Docker, Podman) are known to be thrown away. Another
        // root (a VM-like sandbox with a /.dockerenv) may be a persistent disk: only warn.
        let ephemeral = std::env::var_os("FLY_APP_NAME").is_some_and(|v| !v.is_empty())
            || root_type == "overlay";
        return if ephemeral {
            Check::new("storage", Status::Fail, fix)
        } else {
            Check::new(
                "storage",
                Status::Warn,
                format!("{fix}, unless this root ({root_type}) is known to persist"),
            )
        };
    }
    Check::new(
        "storage",
        Status::Ok,
        format!("{shown} is on {fstype} (mounted at {}), which persists", mount_point.display()),
    )
}

/// The mount point and file system type holding `dir`: the longest mount point that is a
/// prefix of it, the later line winning a tie (a later mount hides an earlier one).
pub fn mount_of(mounts: &str, dir: &Path) -> Option<(PathBuf, String)> {
    let mut best: Option<(PathBuf, String)> = None;
    for line in mounts.lines() {
        let mut fields = line.split_whitespace();
        let (Some(_device), Some(point), Some(fstype)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let point = PathBuf::from(unescape(point));
        if !dir.starts_with(&point) {
            continue;
        }
        let longer =
            best.as_ref().is_none_or(|(b, _)| point.as_os_str().len() >= b.as_os_str().len());
        if longer {
            best = Some((point, fstype.to_owned()));
        }
    }
    best
}

/// /proc/self/mounts writes space, tab, newline and backslash in paths as octal escapes.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn same_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    }
}

fn disk(dir: &Path) -> Check {
    let free = match free_bytes(dir) {
        Ok(free) => free,
        Err(e) => {
            return Check::new(
                "disk",
                Status::Warn,
                format!("cannot read the free space of {}: {e}", dir.display()),
            );
        }
    };
    let shown =
        format!("{:.1} GiB free under {}", free as f64 / (1024.0 * MIB as f64), dir.display());
    let grow = "free some space or grow the volume (fly volumes extend)";
    if free < FAIL_BELOW {
        Check::new(
            "disk",
            Status::Fail,
            format!("only {shown}; under 100 MiB the database can fill it: {grow}"),
        )
    } else if free < WARN_BELOW {
        Check::new("disk", Status::Warn, format!("{shown}, under 1 GiB; {grow}"))
    } else {
        Check::new("disk", Status::Ok, shown)
    }
}

/// Bytes an unprivileged writer may still use on the file system holding `dir`.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: statvfs(3) fills the zeroed struct we own from a NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast, reason = "the field types differ between targets")]
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
/dev/vda / ext4 rw,relatime 0 0
tmpfs /dev/shm tmpfs rw 0 0
/dev/vdb /data ext4 rw 0 0
tmpfs /data/scratch\\040dir tmpfs rw 0 0
overlay /srv overlay rw 0 0
tmpfs /srv tmpfs rw 0 0
";

    #[test]
    fn the_longest_mount_point_holds_a_directory() {
        let of =
            |d: &str| mount_of(MOUNTS, Path::new(d)).map(|(p, t)| (p.display().to_string(), t));
        assert_eq!(of("/var/lib/nightshift"), Some(("/".into(), "ext4".into())));
        assert_eq!(of("/data"), Some(("/data".into(), "ext4".into())));
        assert_eq!(of("/data/scratch dir/x"), Some(("/data/scratch dir".into(), "tmpfs".into())));
        assert_eq!(of("/dataset"), Some(("/".into(), "ext4".into())));
        assert_eq!(of("/srv/a"), Some(("/srv".into(), "tmpfs".into())), "the later mount wins");
    }

    #[test]
    fn tmp_and_tmpfs_fail_and_a_disk_passes() {
        assert_eq!(persistence(Path::new("/tmp/x"), MOUNTS, false).status, Status::Fail);
        assert_eq!(persistence(Path::new("/var/tmp"), MOUNTS, false).status, Status::Fail);
        assert_eq!(persistence(Path::new("/dev/shm/q"), MOUNTS, false).status, Status::Fail);
        assert_eq!(persistence(Path::new("/data"), MOUNTS, false).status, Status::Ok);
        assert_eq!(persistence(Path::new("/tmpdata"), MOUNTS, false).status, Status::Ok);
    }
}
