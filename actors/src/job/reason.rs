//! Why a job ended in the dead letter: the words the `reason` column holds.

use serde::Serialize;

/// Why a job ended in the dead letter.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadReason {
    /// Every allowed attempt failed.
    Exhausted,
    /// The handler said retrying cannot help.
    Permanent,
    /// The last attempt was cut short by a crash (worker, process or host).
    Crashed,
}

impl DeadReason {
    /// Every reason, for parsing and listing.
    pub const ALL: [DeadReason; 3] =
        [DeadReason::Exhausted, DeadReason::Permanent, DeadReason::Crashed];

    /// The word stored in the `reason` column (and shown by `dlq`).
    pub fn as_str(self) -> &'static str {
        match self {
            DeadReason::Exhausted => "exhausted",
            DeadReason::Permanent => "permanent",
            DeadReason::Crashed => "crashed",
        }
    }

    /// The reason a stored word names; `None` for a word no version of nightshift writes.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == word)
    }
}

impl std::fmt::Display for DeadReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so a column width (`{:<10}` in `dlq`'s table) applies.
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for DeadReason {
    type Err = String;

    fn from_str(word: &str) -> Result<Self, String> {
        DeadReason::parse(word).ok_or_else(|| {
            let known = DeadReason::ALL.map(DeadReason::as_str).join(", ");
            format!("unknown dead-letter reason {word:?} (known: {known})")
        })
    }
}

impl rusqlite::ToSql for DeadReason {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for DeadReason {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let word = value.as_str()?;
        DeadReason::parse(word).ok_or_else(|| {
            let known = DeadReason::ALL.map(DeadReason::as_str).join(", ");
            rusqlite::types::FromSqlError::Other(
                format!("unknown dead-letter reason {word:?} (known: {known})").into(),
            )
        })
    }
}
