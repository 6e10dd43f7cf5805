//! What `enqueue` says about a key that exists with another payload: where the two payloads
//! differ, escaped so that invisible characters show (a trailing newline, a tab, a zero-width
//! space) and cut to a window around the difference, and the command that really frees the key.

use nightshift_actors::JobStatus;

use crate::commands::deploy::quote;

/// Characters shown before the first difference, and from it on.
const BEFORE: usize = 24;
const AFTER: usize = 40;
/// Conflicts shown in full; the rest are counted (each has its line on stdout).
const SHOWN: usize = 5;

/// One job whose key exists with another payload.
pub struct Conflict<'a> {
    pub key: &'a str,
    pub status: JobStatus,
    /// The `--jsonl` line, if the job came from one.
    pub line: Option<usize>,
    pub given: &'a str,
    /// The payload in `jobs`; `None` if the row went away since (purged meanwhile).
    pub stored: Option<String>,
}

impl Conflict<'_> {
    /// The byte where the payloads start to differ.
    pub fn differs_at(&self) -> Option<usize> {
        self.stored.as_deref().map(|stored| first_difference(stored, self.given))
    }

    /// The conflict, where the payloads differ, and what frees the key; `then` ends the
    /// first line.
    fn describe(&self, then: &str) -> String {
        let line = self.line.map(|n| format!(" (line {n})")).unwrap_or_default();
        let mut out = format!(
            "conflict: {} ({}) already exists with a different payload{line}{then}",
            self.key, self.status
        );
        if let Some(stored) = &self.stored {
            let at = first_difference(stored, self.given);
            out.push_str(&format!(
                "\n  the payloads differ from byte {at}: stored {}, given {}\n    stored: {}\n    \
                 given:  {}",
                char_at(stored, at),
                char_at(self.given, at),
                window(stored, at),
                window(self.given, at)
            ));
        }
        out.push_str(&format!("\n  use another key, or {}", what_frees(self.key, self.status)));
        out
    }
}

/// The message for one job that conflicted.
pub fn single(conflict: &Conflict<'_>) -> String {
    conflict.describe("; nothing changed")
}

/// The message for `--jsonl` lines that conflicted (the first few in full), then `outcome`:
/// what the other lines did.
pub fn bulk(conflicts: &[Conflict<'_>], outcome: &str) -> String {
    let mut parts: Vec<String> = conflicts.iter().take(SHOWN).map(|c| c.describe("")).collect();
    if conflicts.len() > SHOWN {
        let more = conflicts.len() - SHOWN;
        parts.push(format!("and {more} more conflicts (their lines are on stdout)"));
    }
    parts.push(outcome.to_owned());
    parts.join("\n")
}

/// The command that frees a key held by a job in `status`, or what to wait for first.
pub fn what_frees(key: &str, status: JobStatus) -> String {
    let purge = command("purge", key);
    match status {
        JobStatus::Pending => {
            format!("`{purge}` deletes the job (it has not run yet) to free the key")
        }
        JobStatus::Done | JobStatus::Cancelled => {
            format!("`{purge}` deletes the finished job to free the key")
        }
        JobStatus::Waiting => format!(
            "the job waits for a signal (`{}`); `nightshift cancel {key}`, then `{purge}` frees \
             the key",
            command("show", key)
        ),
        JobStatus::Running => format!(
            "wait: the job is running (`{}`); once it is done, `{purge}` frees the key",
            command("show", key)
        ),
    }
}

/// `nightshift jobs VERB KEY` as a shell line.
fn command(verb: &str, key: &str) -> String {
    let end_of_flags = if key.starts_with('-') { "-- " } else { "" };
    format!("nightshift jobs {verb} {end_of_flags}{}", quote::shell(key))
}

/// The length in bytes of the longest common prefix, on a character boundary of both.
pub fn first_difference(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((i, _), _)| i)
}

/// The character at byte `at`, escaped in single quotes (payloads are full of double ones),
/// or "the end".
fn char_at(s: &str, at: usize) -> String {
    match s[at..].chars().next() {
        Some('\'') => r"'\''".to_owned(),
        Some(c) => format!("'{}'", visible(&c.to_string())),
        None => "the end".to_owned(),
    }
}

/// `s` around byte `at`, escaped, with `…` where it was cut.
fn window(s: &str, at: usize) -> String {
    let (head, tail) = s.split_at(at);
    let start = head.char_indices().rev().nth(BEFORE - 1).map_or(0, |(i, _)| i);
    let end = at + tail.char_indices().nth(AFTER).map_or(tail.len(), |(i, _)| i);
    let cut_start = if start > 0 { "…" } else { "" };
    let cut_end = if end < s.len() { "…" } else { "" };
    format!("{cut_start}{}{cut_end}", visible(&s[start..end]))
}

/// Escapes what a terminal would not show: control characters, whitespace other than the
/// space, zero-width and direction marks, byte-order marks; and the backslash, so an escape
/// in the text stays distinguishable from one added here.
fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' ' => out.push(' '),
            c if c.is_control() || c.is_whitespace() || invisible(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Format characters that print as nothing.
fn invisible(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict<'a>(stored: &str, given: &'a str) -> Conflict<'a> {
        Conflict {
            key: "k",
            status: JobStatus::Pending,
            line: None,
            given,
            stored: Some(stored.to_owned()),
        }
    }

    #[test]
    fn a_trailing_newline_is_shown_escaped() {
        let text = conflict("{\"a\":1}\n", "{\"a\":1}").describe("");
        assert!(text.contains("differ from byte 7: stored '\\n', given the end"), "{text}");
        assert!(text.contains("stored: {\"a\":1}\\n\n"), "{text}");
    }

    #[test]
    fn invisible_characters_are_escaped() {
        assert_eq!(visible("a\u{200b}b\u{a0}c\td\\n"), "a\\u{200b}b\\u{a0}c\\td\\\\n");
    }

    #[test]
    fn long_payloads_are_cut_around_the_difference() {
        let stored = format!("{}x{}", "a".repeat(1 << 20), "b".repeat(1 << 20));
        let given = format!("{}y{}", "a".repeat(1 << 20), "b".repeat(1 << 20));
        let text = conflict(&stored, &given).describe("");
        assert!(text.len() < 600, "{} bytes", text.len());
        assert!(text.contains(&format!("byte {}", 1 << 20)), "{text}");
        assert!(text.contains(&format!("…{}x{}…", "a".repeat(BEFORE), "b".repeat(AFTER - 1))));
    }

    #[test]
    fn differences_inside_multibyte_characters_stay_on_boundaries() {
        assert_eq!(first_difference("ключ-а", "ключ-б"), "ключ-".len());
        assert_eq!(first_difference("ab", "abc"), 2);
    }

    #[test]
    fn the_advice_is_a_command_that_frees_the_key() {
        assert!(
            what_frees("-odd key", JobStatus::Done).contains("nightshift jobs purge -- '-odd key'")
        );
        assert!(what_frees("k", JobStatus::Running).starts_with("wait"));
    }
}
