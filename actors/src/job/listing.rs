//! What a listing asks for beyond a limit: filters, and where the previous page ended (keyset
//! paging, so a page never repeats or skips a row however many are inserted meanwhile).

use super::{DeadJob, DeadReason, JobRecord, JobStatus};
use crate::clock::Timestamp;

/// Which dead letters a listing, replay or purge takes by their columns; `None` is any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadFilter {
    /// Only this queue's.
    pub queue: Option<String>,
    /// Only those dead-lettered for this reason.
    pub reason: Option<DeadReason>,
}

/// A page of jobs: which, and after which.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobQuery {
    /// Only jobs in this status.
    pub status: Option<JobStatus>,
    /// Only this queue's.
    pub queue: Option<String>,
    /// Only keys that start with this (compared byte by byte, so `%` and `_` are themselves).
    pub prefix: Option<String>,
    /// Where the previous page ended ([`JobPage::next`]); `None` is the newest job.
    pub after: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// Jobs, the newest first, and where the next page starts when this one is full.
#[derive(Debug, Clone, Default)]
pub struct JobPage {
    /// The page's jobs.
    pub jobs: Vec<JobRecord>,
    /// The last job's place in the listing order (insertion order), when the page is full;
    /// give it back as [`JobQuery::after`].
    pub next: Option<i64>,
}

/// A page of dead letters: which, and after which.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadQuery {
    /// Which rows.
    pub filter: DeadFilter,
    /// The last row of the previous page, `(died, key)`; `None` is the newest.
    pub after: Option<(Timestamp, String)>,
    /// At most this many.
    pub limit: u32,
}

impl DeadQuery {
    /// Where the page after `page` starts, when `page` is full.
    pub fn next(&self, page: &[DeadJob]) -> Option<(Timestamp, String)> {
        let last = page.last().filter(|_| page.len() >= self.limit as usize)?;
        Some((last.died, last.key.clone()))
    }
}

/// The smallest string above every string that starts with `prefix`, for a range scan along
/// the key's index (`key >= prefix AND key < upper`); `None` when there is none (every
/// character of `prefix` is the last one Unicode has). UTF-8 orders byte by byte as code
/// points do, which is how both stores compare keys (SQLite's BINARY, PostgreSQL's "C").
pub(crate) fn prefix_upper(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upper_bound_is_the_next_string_past_the_prefix() {
        assert_eq!(prefix_upper("a%b").as_deref(), Some("a%c"));
        assert_eq!(prefix_upper("x_").as_deref(), Some("x`"));
        assert_eq!(prefix_upper("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_upper("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper("\u{10FFFF}"), None);
    }
}
