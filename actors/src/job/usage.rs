//! What a handler may say about an attempt beyond how it ended: the class of a failure (an LLM
//! provider's 429 is not its 401), and the model and tokens it used, for the spend ledger. Also
//! the [`Outcome`] builders that attach them.

use std::time::Duration;

use serde::Serialize;

use super::Outcome;

/// The kind of a failure, as the upstream (an LLM provider, usually) made it known. Each class
/// has one effect, whatever the attempt count:
///
/// | class | effect |
/// | --- | --- |
/// | `rate_limited`, `overloaded` | snoozed, as [`Outcome::Snooze`]: no attempt counted |
/// | `server` | a failed attempt, retried, counted toward the circuit breaker |
/// | `auth` | a failed attempt, retried, and the circuit breaker opens at once, with an alert: every job would fail the same way |
/// | `client`, `context_length` | dead-lettered at once (`reason` permanent, the error naming the class) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The upstream's rate limit (HTTP 429).
    RateLimited,
    /// The upstream is overloaded (HTTP 529, 503 with Retry-After).
    Overloaded,
    /// The upstream failed (HTTP 5xx).
    Server,
    /// The request was wrong (HTTP 400): sending it again cannot help.
    Client,
    /// The credentials were refused (HTTP 401, 403).
    Auth,
    /// The prompt does not fit the model's context.
    ContextLength,
}

/// What the engine does with a failure of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClassEffect {
    /// Not an attempt: due again later.
    Snooze,
    /// A failed attempt, retried after the backoff.
    Retry,
    /// A failed attempt, retried, and the breaker opens at once.
    OpenBreaker,
    /// Dead-lettered at once.
    DeadLetter,
}

impl ErrorClass {
    /// Every class, in the order the docs list them.
    pub const ALL: [ErrorClass; 6] = [
        ErrorClass::RateLimited,
        ErrorClass::Overloaded,
        ErrorClass::Server,
        ErrorClass::Client,
        ErrorClass::Auth,
        ErrorClass::ContextLength,
    ];

    /// The word a handler prints as `error_class`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Overloaded => "overloaded",
            ErrorClass::Server => "server",
            ErrorClass::Client => "client",
            ErrorClass::Auth => "auth",
            ErrorClass::ContextLength => "context_length",
        }
    }

    /// The class a word names; `None` for any other word.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == word)
    }

    /// Every word known, comma-separated, for messages about an unknown one.
    pub fn known() -> String {
        Self::ALL.map(ErrorClass::as_str).join(", ")
    }

    pub(crate) fn effect(self) -> ClassEffect {
        match self {
            ErrorClass::RateLimited | ErrorClass::Overloaded => ClassEffect::Snooze,
            ErrorClass::Server => ClassEffect::Retry,
            ErrorClass::Auth => ClassEffect::OpenBreaker,
            ErrorClass::Client | ErrorClass::ContextLength => ClassEffect::DeadLetter,
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorClass {
    type Err = String;

    fn from_str(word: &str) -> Result<Self, String> {
        ErrorClass::parse(word)
            .ok_or_else(|| format!("unknown error class {word:?} (known: {})", Self::known()))
    }
}

/// What an attempt used of a model, recorded in the spend ledger beside its cost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// The model's name, as the handler gives it.
    pub model: Option<String>,
    /// Prompt tokens.
    pub tokens_in: Option<u64>,
    /// Completion tokens.
    pub tokens_out: Option<u64>,
    /// The `[[limit]]` a `retry_after_s` holds whole (a 429 from its provider): not spend,
    /// so not recorded in the ledger.
    #[serde(skip)]
    pub limit: Option<String>,
}

impl Usage {
    /// Usage of `model`, tokens unknown.
    pub fn model(model: impl Into<String>) -> Self {
        Self { model: Some(model.into()), ..Self::default() }
    }

    /// With these token counts.
    pub fn tokens(self, tokens_in: u64, tokens_out: u64) -> Self {
        Self { tokens_in: Some(tokens_in), tokens_out: Some(tokens_out), ..self }
    }

    /// Whether it says nothing.
    pub fn is_empty(&self) -> bool {
        self.model.is_none() && self.tokens_in.is_none() && self.tokens_out.is_none()
    }
}

/// What `spend --by` groups the ledger by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpendBy {
    /// The model each attempt reported.
    Model,
    /// The job's queue.
    Queue,
    /// The job's provider limit (`[[limit]]`).
    Limit,
}

impl SpendBy {
    /// The word `--by` takes, and the column grouped by.
    pub const fn as_str(self) -> &'static str {
        match self {
            SpendBy::Model => "model",
            SpendBy::Queue => "queue",
            SpendBy::Limit => "limit",
        }
    }

    /// The `spend` column grouped by.
    pub const fn column(self) -> &'static str {
        match self {
            SpendBy::Limit => "limit_name",
            other => other.as_str(),
        }
    }
}

/// The spend of one group (a model, a queue) over the days asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupSpend {
    /// The model or queue; `None` for attempts that named none.
    pub name: Option<String>,
    /// Cost recorded, micro-dollars.
    pub micros: i64,
    /// Ledger rows: attempts that recorded a cost or a usage.
    pub attempts: u64,
    /// Prompt tokens reported.
    pub tokens_in: i64,
    /// Completion tokens reported.
    pub tokens_out: i64,
}

impl Outcome {
    /// Snoozed for `delay`: due again then, no attempt counted.
    pub fn snooze(delay: Duration) -> Self {
        Outcome::Snooze { delay: Some(delay), cost_usd: 0.0 }
    }

    /// This failure, classified as `class` (which then decides what happens next). A success,
    /// a snooze or a runner failure is returned as it is: a class qualifies a failure.
    pub fn class(self, class: ErrorClass) -> Self {
        match self {
            Outcome::Retry { error, cost_usd, delay }
            | Outcome::Failed { error, cost_usd, delay, .. } => {
                Outcome::Failed { class, error, cost_usd, delay }
            }
            Outcome::Permanent { error, cost_usd } => {
                Outcome::Failed { class, error, cost_usd, delay: None }
            }
            Outcome::Metered { outcome, usage } => {
                Outcome::Metered { outcome: Box::new(outcome.class(class)), usage }
            }
            other => other,
        }
    }

    /// This outcome, with what the attempt used of a model (recorded in the spend ledger with
    /// its cost). An empty `usage` changes nothing.
    pub fn usage(self, usage: Usage) -> Self {
        if usage.is_empty() && usage.limit.is_none() {
            return self;
        }
        match self {
            Outcome::Metered { outcome, .. } => Outcome::Metered { outcome, usage },
            outcome => Outcome::Metered { outcome: Box::new(outcome), usage },
        }
    }

    /// How the attempt ended, and its usage if any was attached.
    pub(crate) fn into_parts(self) -> (Outcome, Option<Usage>) {
        match self {
            Outcome::Metered { outcome, usage } => (outcome.into_parts().0, Some(usage)),
            outcome => (outcome, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_reads_back_from_its_word() {
        for class in ErrorClass::ALL {
            assert_eq!(class.as_str().parse::<ErrorClass>(), Ok(class));
        }
        let err = "teapot".parse::<ErrorClass>().unwrap_err();
        assert!(err.contains("rate_limited, overloaded, server, client, auth, context_length"));
    }

    #[test]
    fn a_class_qualifies_failures_only() {
        let failed = Outcome::retry("429").class(ErrorClass::RateLimited);
        assert!(matches!(failed, Outcome::Failed { class: ErrorClass::RateLimited, .. }));
        let failed = Outcome::permanent("400").class(ErrorClass::Client);
        assert!(matches!(failed, Outcome::Failed { class: ErrorClass::Client, delay: None, .. }));
        assert_eq!(Outcome::success().class(ErrorClass::Auth), Outcome::success());
    }

    #[test]
    fn usage_wraps_once_and_unwraps() {
        let usage = Usage::model("m").tokens(10, 2);
        let outcome = Outcome::success().usage(Usage::model("old")).usage(usage.clone());
        let outcome = outcome.class(ErrorClass::Server);
        assert_eq!(outcome.clone().into_parts(), (Outcome::success(), Some(usage)));
        assert_eq!(Outcome::success().usage(Usage::default()), Outcome::success());
    }
}
