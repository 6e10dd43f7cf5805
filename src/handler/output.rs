//! Bounded capture of the child's output, and what the handler reads out of it: the kept head of
//! stdout, the tail of stderr, and the hint lines (`cost_usd`, `retry_after_s`, `error_class`,
//! `model`, `tokens_in`, `tokens_out`), read from every line of stdout as it streams.
//!
//! Capture never stops reading: bytes past a cap are read and thrown away, so a child that floods
//! a pipe never blocks on it and memory stays bounded.

use std::time::Duration;

use nightshift_actors::Usage;
use nightshift_actors::policy::budget::MAX_ATTEMPT_COST_USD;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How much of stdout is kept as the job's result.
pub(super) const STDOUT_KEEP: usize = 64 * 1024;
/// The longest stdout line read for hints; a longer one is skipped.
const LINE_MAX: usize = 64 * 1024;
/// How much of the end of stderr is kept for the error text.
pub(super) const STDERR_KEEP: usize = 2 * 1024;
/// The longest model name kept, in characters.
pub(crate) const MODEL_MAX: usize = 200;
/// The longest delay a `retry_after_s` line can ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Reads `reader` to EOF (or its first error), handing every chunk to `sink`.
pub(super) async fn drain(mut reader: impl AsyncRead + Unpin, mut sink: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 8 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => sink(&buf[..n]),
        }
    }
}

/// The first `cap` bytes of a stream.
#[derive(Debug)]
pub(super) struct Head {
    buf: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Head {
    pub(super) fn new(cap: usize) -> Self {
        Self { buf: Vec::new(), cap, truncated: false }
    }

    pub(super) fn push(&mut self, chunk: &[u8]) {
        let room = self.cap - self.buf.len();
        if chunk.len() > room {
            self.truncated = true;
        }
        self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    /// The kept bytes as text; a character cut in half by the cap is dropped, other invalid
    /// UTF-8 becomes U+FFFD.
    pub(super) fn text(&self) -> String {
        let mut bytes = &self.buf[..];
        if self.truncated
            && let Err(e) = std::str::from_utf8(bytes)
            && e.error_len().is_none()
        {
            bytes = &bytes[..e.valid_up_to()];
        }
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// Reads the `cost_usd` / `retry_after_s` lines out of stdout as it streams, so a cost line counts
/// wherever it comes, not only inside the kept head. Memory is bounded: only the line being
/// assembled is held, and a line longer than [`LINE_MAX`] is skipped, never buffered whole.
#[derive(Debug, Default)]
pub(crate) struct HintScanner {
    line: Vec<u8>,
    overlong: bool,
    reported_usd: f64,
    retry_after: Option<Duration>,
    error_class: Option<String>,
    wait: Option<Wait>,
    usage: Usage,
}

impl HintScanner {
    pub(crate) fn push(&mut self, mut chunk: &[u8]) {
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            self.extend(&chunk[..end]);
            self.end_line();
            chunk = &chunk[end + 1..];
        }
        self.extend(chunk);
    }

    /// The hints of every line, the last one included even without a final newline.
    pub(crate) fn finish(mut self) -> Hints {
        self.end_line();
        let cost_usd = self.reported_usd.min(MAX_ATTEMPT_COST_USD);
        let over_max = (self.reported_usd > MAX_ATTEMPT_COST_USD).then_some(self.reported_usd);
        Hints {
            cost_usd,
            over_max,
            retry_after: self.retry_after,
            error_class: self.error_class,
            wait: self.wait,
            usage: self.usage,
        }
    }

    fn extend(&mut self, bytes: &[u8]) {
        if self.overlong || bytes.is_empty() {
            return;
        }
        if self.line.len() + bytes.len() > LINE_MAX {
            self.overlong = true;
            self.line.clear();
        } else {
            self.line.extend_from_slice(bytes);
        }
    }

    fn end_line(&mut self) {
        if !self.overlong {
            self.scan_line();
        }
        self.line.clear();
        self.overlong = false;
    }

    fn scan_line(&mut self) {
        let line = self.line.trim_ascii();
        if !line.starts_with(b"{") {
            return;
        }
        let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(line) else { return };
        if let Some(cost) = obj.get("cost_usd").and_then(Value::as_f64)
            && cost.is_finite()
            && cost >= 0.0
        {
            // Saturates: past the maximum the exact sum no longer matters.
            self.reported_usd = (self.reported_usd + cost).min(f64::MAX);
        }
        if let Some(secs) = obj.get("retry_after_s").and_then(Value::as_f64)
            && secs.is_finite()
            && secs >= 0.0
        {
            self.retry_after =
                Some(Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64())));
        }
        if let Some(limit) = obj.get("limit").and_then(Value::as_str) {
            self.usage.limit = Some(limit.chars().take(64).collect());
        }
        if let Some(class) = obj.get("error_class").and_then(Value::as_str) {
            self.error_class = Some(class.to_owned());
        }
        if let Some(wait) = obj.get("wait") {
            self.wait = Wait::parse(wait);
        }
        if let Some(model) = obj.get("model").and_then(Value::as_str) {
            self.usage.model = Some(model.chars().take(MODEL_MAX).collect());
        }
        // Summed over the lines, as costs are: an agent may report each call it makes.
        let add = |sum: &mut Option<u64>, field: &str| {
            if let Some(n) = obj.get(field).and_then(Value::as_u64) {
                *sum = Some(sum.unwrap_or(0).saturating_add(n));
            }
        };
        add(&mut self.usage.tokens_in, "tokens_in");
        add(&mut self.usage.tokens_out, "tokens_out");
    }
}

/// The last `cap` bytes of a stream.
#[derive(Debug)]
pub(super) struct Tail {
    buf: Vec<u8>,
    cap: usize,
}

impl Tail {
    pub(super) fn new(cap: usize) -> Self {
        Self { buf: Vec::new(), cap }
    }

    pub(super) fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
        if self.buf.len() > self.cap {
            self.buf.drain(..self.buf.len() - self.cap);
        }
    }

    /// The kept bytes as trimmed text, without a character the cut left half of at the front.
    pub(super) fn text(&self) -> String {
        let start = self.buf.iter().take(3).take_while(|&&b| b & 0xC0 == 0x80).count();
        String::from_utf8_lossy(&self.buf[start..]).trim().to_owned()
    }
}

/// What the child's stdout told us about the attempt.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Hints {
    /// The sum of every valid `cost_usd`, at most [`MAX_ATTEMPT_COST_USD`].
    pub(crate) cost_usd: f64,
    /// The sum as reported when it went past [`MAX_ATTEMPT_COST_USD`]: a protocol error.
    pub(super) over_max: Option<f64>,
    /// The last valid `retry_after_s`, capped at 24 h.
    pub(super) retry_after: Option<Duration>,
    /// The last `error_class` word, known or not.
    pub(super) error_class: Option<String>,
    /// The last `model` named (its first 200 characters), and the sums of `tokens_in` and
    /// `tokens_out` (non-negative integers).
    pub(crate) usage: Usage,
    /// The last valid `wait` object.
    pub(super) wait: Option<Wait>,
}

/// The wait a `{"wait": {"name": N, "timeout": "24h", "on_timeout": "retry" | "dead"}}` line
/// asks for (with exit 75).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wait {
    pub(crate) name: String,
    pub(crate) timeout: Duration,
    pub(crate) dead_on_timeout: bool,
}

/// A wait with no `timeout` waits this long.
pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(24 * 3600);
/// The longest wait.
const MAX_WAIT: Duration = Duration::from_secs(366 * 24 * 3600);

impl Wait {
    /// A valid wait: a name of 1 to 200 characters with no control character; `timeout` a
    /// duration (`"24h"`) or seconds, above zero; `on_timeout` `retry` (the default) or `dead`.
    fn parse(v: &Value) -> Option<Wait> {
        let name = v.get("name")?.as_str()?;
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return None;
        }
        let timeout = match v.get("timeout") {
            None | Some(Value::Null) => DEFAULT_WAIT,
            Some(Value::String(s)) => humantime::parse_duration(s).ok()?,
            Some(n) => Duration::try_from_secs_f64(n.as_f64()?).ok()?,
        };
        if timeout.is_zero() {
            return None;
        }
        let dead_on_timeout = match v.get("on_timeout").and_then(Value::as_str) {
            None | Some("retry") => false,
            Some("dead") => true,
            Some(_) => return None,
        };
        Some(Wait { name: name.to_owned(), timeout: timeout.min(MAX_WAIT), dead_on_timeout })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_of(text: &str, cap: usize) -> Head {
        let mut head = Head::new(cap);
        head.push(text.as_bytes());
        head
    }

    #[test]
    fn head_keeps_only_the_first_bytes() {
        let mut head = Head::new(4);
        head.push(b"ab");
        head.push(b"cdef");
        head.push(b"gh");
        assert_eq!(head.text(), "abcd");
    }

    #[test]
    fn head_drops_a_character_cut_by_the_cap() {
        assert_eq!(head_of("aé", 2).text(), "a");
        let mut head = Head::new(8);
        head.push(b"a\xffb");
        assert_eq!(head.text(), "a\u{fffd}b", "invalid bytes inside the head are replaced");
    }

    #[test]
    fn tail_keeps_the_last_bytes_without_a_cut_character() {
        let mut tail = Tail::new(3);
        tail.push(b"hello ");
        tail.push("wé".as_bytes());
        assert_eq!(tail.text(), "wé");
        tail.push(b"xy");
        assert_eq!(tail.text(), "xy", "the cut left half of é at the front");
    }

    /// The hints of `text` fed in chunks of `chunk` bytes.
    fn scan(text: &str, chunk: usize) -> Hints {
        let mut scanner = HintScanner::default();
        text.as_bytes().chunks(chunk).for_each(|c| scanner.push(c));
        scanner.finish()
    }

    #[test]
    fn hints_sum_costs_and_take_the_last_retry_after() {
        let text = "progress\n{\"cost_usd\": 0.25}\n{\"cost_usd\": 0.5, \"retry_after_s\": 3}\n \
                    {\"retry_after_s\": 1.5}\r\n";
        for chunk in [1, 7, text.len()] {
            let hints = scan(text, chunk);
            assert_eq!(hints.cost_usd, 0.75, "chunks of {chunk}");
            assert_eq!(hints.retry_after, Some(Duration::from_millis(1500)), "chunks of {chunk}");
        }
    }

    #[test]
    fn hints_ignore_strings_negatives_arrays_and_bad_json() {
        let text = "{\"cost_usd\": \"0.5\"}\n{\"cost_usd\": -1}\n[{\"cost_usd\": 1}]\n{\"cost_usd\": 1\n\
                    {\"retry_after_s\": -5}\n{\"retry_after_s\": \"9\"}\n";
        assert_eq!(scan(text, 5), Hints::default());
    }

    #[test]
    fn hints_read_the_class_the_model_and_summed_tokens() {
        let text = "{\"error_class\": \"server\", \"model\": \"small\", \"tokens_in\": 10}\n\
                    {\"error_class\": \"rate_limited\", \"model\": \"big\", \"tokens_in\": 5, \
                    \"tokens_out\": 7}\n{\"tokens_out\": -1, \"tokens_in\": 1.5, \"model\": 3}\n";
        let hints = scan(text, 4);
        assert_eq!(hints.error_class.as_deref(), Some("rate_limited"), "the last one wins");
        assert_eq!(hints.usage, Usage::model("big").tokens(15, 7));
        assert_eq!(scan("{\"error_class\": 7}", 64).error_class, None);
    }

    #[test]
    fn hints_cap_retry_after_at_a_day() {
        let hints = scan("{\"retry_after_s\": 1e12}", 64);
        assert_eq!(hints.retry_after, Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn hints_read_a_last_line_without_a_newline() {
        assert_eq!(scan("{\"cost_usd\": 1}\n{\"cost_usd\": 2}", 3).cost_usd, 3.0);
    }

    #[test]
    fn a_cost_line_after_the_kept_head_counts() {
        let transcript = "transcript line\n".repeat(2 * STDOUT_KEEP / 16);
        let text = format!("{{\"cost_usd\": 0.1}}\n{transcript}{{\"cost_usd\": 0.4}}\n");
        assert!(text.len() > 2 * STDOUT_KEEP);
        assert_eq!(scan(&text, 8 * 1024).cost_usd, 0.5);
    }

    #[test]
    fn an_overlong_line_is_skipped_and_the_next_line_counts() {
        let long = format!("{{\"cost_usd\": 5, \"pad\": \"{}\"}}", "x".repeat(4 * 1024 * 1024));
        let text = format!("{long}\n{{\"cost_usd\": 0.4}}\n{long}");
        let mut scanner = HintScanner::default();
        text.as_bytes().chunks(8 * 1024).for_each(|c| scanner.push(c));
        assert!(scanner.line.capacity() <= 2 * LINE_MAX, "a 4 MiB line was buffered");
        assert_eq!(scanner.finish().cost_usd, 0.4);
    }

    #[test]
    fn a_line_of_exactly_the_bound_is_read() {
        let frame = "{\"cost_usd\": 1, \"pad\": \"\"}".len();
        let exact = format!("{{\"cost_usd\": 1, \"pad\": \"{}\"}}", "x".repeat(LINE_MAX - frame));
        assert_eq!(scan(&format!("{exact}\n"), 1000).cost_usd, 1.0);
    }

    #[test]
    fn a_total_above_the_maximum_is_charged_as_the_maximum() {
        let hints = scan("{\"cost_usd\": 1e308}\n{\"cost_usd\": 1e308}\n", 64);
        assert_eq!(hints.cost_usd, MAX_ATTEMPT_COST_USD);
        assert_eq!(hints.over_max, Some(f64::MAX), "the reported sum saturates, never infinite");
        let hints = scan("{\"cost_usd\": 600}\n{\"cost_usd\": 600}\n", 64);
        assert_eq!((hints.cost_usd, hints.over_max), (MAX_ATTEMPT_COST_USD, Some(1200.0)));
        let hints = scan(&format!("{{\"cost_usd\": {MAX_ATTEMPT_COST_USD}}}"), 64);
        assert_eq!((hints.cost_usd, hints.over_max), (MAX_ATTEMPT_COST_USD, None));
    }
}
