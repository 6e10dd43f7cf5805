//! `[store] payload`: whether a payload may be any text (`"text"`, the default) or must be JSON
//! (`"json"`), and the one check that enqueue, `--jsonl` lines and `[[schedule]]` entries share.
//!
//! Text stays the default because nightshift hands the payload to the handler as it is: JSON is
//! a convention, not a rule. What text mode still catches is the common accident of a shell
//! eating the quotes (`{topic:inbox}`): a payload that starts like JSON but does not parse draws
//! a warning, and is taken all the same.

use serde::de::IgnoredAny;

use super::{ConfigError, bad};

/// What a payload must be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PayloadFormat {
    /// Any UTF-8 text.
    #[default]
    Text,
    /// One JSON value (an object, array, string, number, boolean or null).
    Json,
}

/// What [`PayloadFormat::check`] decided about a payload that may be taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Nothing to say.
    Quietly,
    /// Taken as text, but it starts like JSON and does not parse: why not, with the position.
    WithWarning(String),
}

impl PayloadFormat {
    /// Reads `[store] payload`.
    pub fn parse(text: Option<&str>) -> Result<Self, ConfigError> {
        match text.unwrap_or("text") {
            "text" => Ok(PayloadFormat::Text),
            "json" => Ok(PayloadFormat::Json),
            other => Err(bad(format!(
                "[store] payload = {other:?}: use \"text\" (any text, the default) or \"json\" \
                 (refuse payloads that are not JSON)"
            ))),
        }
    }

    /// Takes or refuses `payload`. A refusal is serde_json's reason, naming the line and the
    /// column where the payload stops being JSON; the caller says whose payload it was.
    pub fn check(self, payload: &str) -> Result<Taken, String> {
        let Err(e) = serde_json::from_str::<IgnoredAny>(payload) else {
            return Ok(Taken::Quietly);
        };
        match self {
            PayloadFormat::Json => Err(e.to_string()),
            PayloadFormat::Text if payload.trim_start().starts_with(['{', '[']) => {
                Ok(Taken::WithWarning(e.to_string()))
            }
            PayloadFormat::Text => Ok(Taken::Quietly),
        }
    }
}

/// Parses a size: bytes, or a number with KB, KiB, MB or MiB.
pub(super) fn size(what: &str, text: Option<&str>, default: usize) -> Result<usize, ConfigError> {
    let Some(text) = text else { return Ok(default) };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit_bytes = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "KiB" => 1024,
        "MB" => 1_000_000,
        "MiB" => 1024 * 1024,
        _ => 0,
    };
    let n: usize = num.parse().unwrap_or(0);
    match n.checked_mul(unit_bytes) {
        Some(bytes) if bytes > 0 && bytes <= 256 * 1024 * 1024 => Ok(bytes),
        _ => Err(bad(format!(
            "{what} = {text:?} is not a size from 1 byte to 256MiB; write it like \"1MiB\" or \"65536\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_mode_refuses_text_naming_the_position() {
        let why = PayloadFormat::Json.check("{topic:inbox}").unwrap_err();
        assert!(why.contains("line 1 column 2"), "{why}");
        assert_eq!(PayloadFormat::Json.check("{\"topic\":\"inbox\"}"), Ok(Taken::Quietly));
        assert_eq!(PayloadFormat::Json.check("42"), Ok(Taken::Quietly));
        assert!(PayloadFormat::Json.check("hello").is_err());
    }

    #[test]
    fn text_mode_warns_only_about_payloads_that_start_like_json() {
        assert!(matches!(PayloadFormat::Text.check(" [1, 2"), Ok(Taken::WithWarning(_))));
        assert_eq!(PayloadFormat::Text.check("hello"), Ok(Taken::Quietly));
        assert_eq!(PayloadFormat::Text.check("[1, 2]"), Ok(Taken::Quietly));
    }

    #[test]
    fn unknown_formats_are_refused() {
        assert!(PayloadFormat::parse(Some("yaml")).unwrap_err().0.contains("[store] payload"));
        assert_eq!(PayloadFormat::parse(None).unwrap(), PayloadFormat::Text);
    }
}
