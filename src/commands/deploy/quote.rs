//! Quoting paths for the places the templates put them: a shell command in a crontab, a
//! systemd command line or setting, a TOML string.

use std::path::Path;

/// Characters that need no quoting anywhere the templates put a path.
fn plain(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:@,=".contains(c))
}

/// A POSIX shell word.
pub fn shell(s: &str) -> String {
    if plain(s) { s.to_owned() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

/// A path inside a crontab command: a shell word in which `%` is escaped, since cron turns
/// an unescaped `%` into a newline.
pub fn cron(path: &Path) -> String {
    cron_word(&path.to_string_lossy())
}

/// One word of a crontab command (a handler's argument): a shell word with `%` escaped.
pub fn cron_word(s: &str) -> String {
    shell(s).replace('%', r"\%")
}

/// A path as one argument of a systemd `ExecStart=`: double-quoted when needed, with `%`
/// (specifiers) and `$` (variable expansion) doubled.
pub fn systemd_arg(path: &Path) -> String {
    systemd_word(&path.to_string_lossy())
}

/// One argument of a systemd `ExecStart=` (a handler's argument): double-quoted when needed,
/// `%` and `$` doubled.
pub fn systemd_word(s: &str) -> String {
    systemd_quoted(s).replace('$', "$$")
}

/// A path in a systemd setting such as `ReadWritePaths=`: double-quoted when needed, `%` doubled.
pub fn systemd_path(path: &Path) -> String {
    systemd_quoted(&path.to_string_lossy())
}

fn systemd_quoted(s: &str) -> String {
    let quoted = if plain(s) {
        s.to_owned()
    } else {
        format!("\"{}\"", s.replace('\\', r"\\").replace('"', "\\\""))
    };
    quoted.replace('%', "%%")
}

/// A TOML basic string.
pub fn toml(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_each_target() {
        assert_eq!(shell("/srv/agent/nightshift.db"), "/srv/agent/nightshift.db");
        assert_eq!(shell("/srv/my agent/it's.db"), r"'/srv/my agent/it'\''s.db'");
        assert_eq!(cron(Path::new("/srv/100%/db")), r"'/srv/100\%/db'");
        assert_eq!(systemd_arg(Path::new("/srv/a b/$x%")), "\"/srv/a b/$$x%%\"");
        assert_eq!(systemd_path(Path::new("/srv/data")), "/srv/data");
        assert_eq!(cron_word("50%"), r"'50\%'");
        assert_eq!(systemd_word("say \"hi\" $HOME"), r#""say \"hi\" $$HOME""#);
        let parsed: toml::Value =
            toml::from_str(&format!("x = {}", toml("/data/a\"b'c.db"))).unwrap();
        assert_eq!(parsed["x"].as_str(), Some("/data/a\"b'c.db"));
    }
}
