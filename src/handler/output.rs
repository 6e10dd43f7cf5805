//! Bounded capture of the child's output, and what the handler reads out of it: the kept head of
//! stdout, the tail of stderr, and the `cost_usd` / `retry_after_s` lines.
//!
//! Capture never stops reading: bytes past a cap are read and thrown away, so a child that floods
//! a pipe never blocks on it and memory stays bounded.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How much of stdout is kept as the job's result and scanned for cost lines.
pub(super) const STDOUT_KEEP: usize = 64 * 1024;
/// How much of the end of stderr is kept for the error text.
pub(super) const STDERR_KEEP: usize = 2 * 1024;
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

    /// The complete lines kept: a last line cut by the cap is not a line.
    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let mut bytes = &self.buf[..];
        if self.truncated {
            let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            bytes = &bytes[..end];
        }
        bytes.split(|&b| b == b'\n')
    }

    /// The attempt's cost and retry hint, read from the kept stdout lines.
    pub(super) fn hints(&self) -> Hints {
        let mut hints = Hints::default();
        for line in self.lines() {
            let line = line.trim_ascii();
            if !line.starts_with(b"{") {
                continue;
            }
            let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(line) else { continue };
            if let Some(cost) = obj.get("cost_usd").and_then(Value::as_f64)
                && cost.is_finite()
                && cost >= 0.0
                && (hints.cost_usd + cost).is_finite()
            {
                hints.cost_usd += cost;
            }
            if let Some(secs) = obj.get("retry_after_s").and_then(Value::as_f64)
                && secs.is_finite()
                && secs >= 0.0
            {
                hints.retry_after =
                    Some(Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64())));
            }
        }
        hints
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
pub(super) struct Hints {
    /// The sum of every valid `cost_usd`.
    pub(super) cost_usd: f64,
    /// The last valid `retry_after_s`, capped at 24 h.
    pub(super) retry_after: Option<Duration>,
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

    #[test]
    fn hints_sum_costs_and_take_the_last_retry_after() {
        let head = head_of(
            "progress\n{\"cost_usd\": 0.25}\n{\"cost_usd\": 0.5, \"retry_after_s\": 3}\n \
             {\"retry_after_s\": 1.5}\r\n",
            STDOUT_KEEP,
        );
        let hints = head.hints();
        assert_eq!(hints.cost_usd, 0.75);
        assert_eq!(hints.retry_after, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn hints_ignore_strings_negatives_arrays_and_bad_json() {
        let head = head_of(
            "{\"cost_usd\": \"0.5\"}\n{\"cost_usd\": -1}\n[{\"cost_usd\": 1}]\n{\"cost_usd\": 1\n\
             {\"retry_after_s\": -5}\n{\"retry_after_s\": \"9\"}\n",
            STDOUT_KEEP,
        );
        assert_eq!(head.hints(), Hints::default());
    }

    #[test]
    fn hints_cap_retry_after_at_a_day() {
        let hints = head_of("{\"retry_after_s\": 1e12}", STDOUT_KEEP).hints();
        assert_eq!(hints.retry_after, Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn hints_skip_a_line_cut_by_the_cap() {
        let text = "{\"cost_usd\": 1}\n{\"cost_usd\": 2}";
        assert_eq!(head_of(text, text.len()).hints().cost_usd, 3.0);
        assert_eq!(head_of(text, text.len() - 1).hints().cost_usd, 1.0);
    }
}
