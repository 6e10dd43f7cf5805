//! Finding the handler's program before the first claim, the way the spawn will: a name with a
//! slash is a path (relative to the runner's directory); a bare name is looked up in `PATH`.
//! A typo caught here costs nothing; caught by the spawn, it would be caught once per job.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where `program` resolves, or a sentence naming it, the `PATH` searched and the fix.
pub fn resolve(program: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    resolve_on(program, &path.to_string_lossy())
}

/// [`resolve`] against the directories of `path`, a PATH value.
pub fn resolve_on(program: &str, path: &str) -> Result<PathBuf, String> {
    let fix = "give its absolute path, or fix [handler] command / the command after `--`";
    if program.contains('/') {
        return executable(Path::new(program))
            .map(|()| PathBuf::from(program))
            .map_err(|why| format!("the handler program {program:?} {why}; {fix}"));
    }
    if program.is_empty() {
        return Err(format!("the handler program is empty; {fix}"));
    }
    let mut found_not_executable = None;
    for dir in path.split(':') {
        // An empty entry means the current directory, as for execvp.
        let candidate = Path::new(if dir.is_empty() { "." } else { dir }).join(program);
        match executable(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(why) if candidate.exists() => {
                found_not_executable.get_or_insert(format!("{} {why}", candidate.display()));
            }
            Err(_) => {}
        }
    }
    Err(match found_not_executable {
        Some(found) => format!("the handler program {program:?} was found as {found}; {fix}"),
        None => format!(
            "the handler program {program:?} was not found on PATH ({}); {fix}",
            if path.is_empty() { "PATH is empty" } else { path }
        ),
    })
}

/// Ok when `path` is a file this process may execute; otherwise why not, as a phrase.
pub fn executable(path: &Path) -> Result<(), &'static str> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err("cannot be reached (permission denied)");
        }
        Err(_) => return Err("does not exist"),
    };
    if meta.is_dir() {
        return Err("is a directory");
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err("is not executable (chmod +x it)");
    }
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| "has a NUL byte in its name")?;
    // SAFETY: access(2) on a NUL-terminated path we own.
    if unsafe { libc::access(c_path.as_ptr(), libc::X_OK) } != 0 {
        return Err("is not executable by this user");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, u32)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, mode) in files {
            let p = dir.path().join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        dir
    }

    #[test]
    fn a_bare_name_is_found_in_the_first_path_entry_that_has_it() {
        let (a, b) = (dir_with(&[]), dir_with(&[("agent", 0o755)]));
        let path = format!("{}:{}", a.path().display(), b.path().display());
        assert_eq!(resolve_on("agent", &path).unwrap(), b.path().join("agent"));
    }

    #[test]
    fn a_missing_program_names_itself_and_the_path_searched() {
        let a = dir_with(&[]);
        let path = format!("{}:/nonexistent", a.path().display());
        let e = resolve_on("nosuchprogram", &path).unwrap_err();
        assert!(e.contains("\"nosuchprogram\" was not found on PATH"), "{e}");
        assert!(e.contains(&path), "{e}");
    }

    #[test]
    fn a_file_without_execute_permission_is_named() {
        let a = dir_with(&[("agent", 0o644)]);
        let e = resolve_on("agent", &a.path().display().to_string()).unwrap_err();
        assert!(e.contains("is not executable"), "{e}");
        let full = a.path().join("agent").display().to_string();
        let e = resolve_on(&full, "").unwrap_err();
        assert!(e.contains("is not executable"), "{e}");
    }

    #[test]
    fn a_path_with_a_slash_is_not_searched() {
        let a = dir_with(&[("agent", 0o755)]);
        let full = a.path().join("agent");
        assert_eq!(resolve_on(full.to_str().unwrap(), "").unwrap(), full);
        assert!(resolve_on("./no-such-agent", &a.path().display().to_string()).is_err());
        assert!(resolve_on(a.path().to_str().unwrap(), "").unwrap_err().contains("directory"));
    }
}
