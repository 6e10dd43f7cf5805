//! The step socket's protocol: one JSON object a line each way.
//!
//! Requests name the attempt by its lease token (`NIGHTSHIFT_LEASE`) and nothing else a
//! handler could forge:
//!
//! ```text
//! {"op": "step.get", "lease": "…", "name": "fetch"}
//! {"op": "step.put", "lease": "…", "name": "fetch", "output": "…", "cost_usd": 0.002,
//!  "model": "gpt-4o-mini", "tokens_in": 812, "tokens_out": 96}
//! ```
//!
//! Answers:
//!
//! ```text
//! {"ok": true, "name": "fetch", "output": "…"}   step.get found it; step.put recorded it (or
//!                                                  found it recorded: the first output stays)
//! {"ok": true, "name": "fetch", "none": true}    step.get: not recorded yet
//! {"ok": false, "error": "…"}                    refused (lease no longer held, bad request)
//! ```
//!
//! `name` in an answer is the name as counted in the attempt (`fetch:2` for the second use).
//! `output` is text (a client that keeps structured values encodes them, as JSON for one);
//! `cost_usd` is optional, a number of US dollars at least 0; so are `model` (its first 200
//! characters kept) and the token counts, recorded in the spend ledger with the cost.

use nightshift_actors::{StepAnswer, StepOutput, Usage};
use serde::Deserialize;
use serde_json::{Value, json};

/// The longest request line, in bytes: a step's output must fit in it, JSON-escaped.
pub(crate) const MAX_LINE: usize = 4 * 1024 * 1024;

/// One request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "op", deny_unknown_fields)]
pub(crate) enum Request {
    /// Read a step.
    #[serde(rename = "step.get")]
    Get { lease: String, name: String },
    /// Record a step.
    #[serde(rename = "step.put")]
    Put {
        lease: String,
        name: String,
        output: String,
        #[serde(default)]
        cost_usd: f64,
        /// The model the step's work used, for the spend ledger.
        #[serde(default)]
        model: Option<String>,
        #[serde(default)]
        tokens_in: Option<u64>,
        #[serde(default)]
        tokens_out: Option<u64>,
    },
}

impl Request {
    /// The lease token the request names.
    pub(crate) fn lease(&self) -> &str {
        match self {
            Request::Get { lease, .. } | Request::Put { lease, .. } => lease,
        }
    }
}

/// Parses one line (its newline already taken off).
pub(crate) fn parse(line: &[u8]) -> Result<Request, String> {
    let request: Request = serde_json::from_slice(line).map_err(|e| {
        format!(
            "bad request ({e}); send one JSON object a line: {{\"op\": \"step.get\", \"lease\": \
             …, \"name\": …}} or {{\"op\": \"step.put\", \"lease\": …, \"name\": …, \"output\": \
             \"text\", \"cost_usd\": 0.01}}"
        )
    })?;
    if let Request::Put { cost_usd, .. } = &request
        && !(cost_usd.is_finite() && *cost_usd >= 0.0)
    {
        return Err(format!(
            "bad request: cost_usd must be a number of dollars >= 0, not {cost_usd}"
        ));
    }
    Ok(request)
}

/// What a put records.
pub(crate) fn recorded(
    output: String,
    cost_usd: f64,
    model: Option<String>,
    tokens_in: Option<u64>,
    tokens_out: Option<u64>,
) -> StepOutput {
    let model = model.map(|m| m.chars().take(crate::handler::output::MODEL_MAX).collect());
    StepOutput::new(output, cost_usd).usage(Usage { model, tokens_in, tokens_out, limit: None })
}

/// The answer to a request that succeeded.
pub(crate) fn answer(step: &StepAnswer) -> Value {
    match &step.output {
        Some(output) => json!({"ok": true, "name": step.name, "output": output}),
        None => json!({"ok": true, "name": step.name, "none": true}),
    }
}

/// The answer to a request that was refused.
pub(crate) fn refusal(error: &str) -> Value {
    json!({"ok": false, "error": error})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_get_and_a_put_parse() {
        let get = parse(br#"{"op": "step.get", "lease": "t", "name": "fetch"}"#).unwrap();
        assert_eq!(get, Request::Get { lease: "t".into(), name: "fetch".into() });
        let put = br#"{"op":"step.put","lease":"t","name":"a","output":"x","cost_usd":0.5}"#;
        let put = parse(put).unwrap();
        assert_eq!(put.lease(), "t");
        let Request::Put { output, cost_usd, .. } = put else { panic!("{put:?}") };
        assert_eq!((output.as_str(), cost_usd), ("x", 0.5));
        let free = parse(br#"{"op":"step.put","lease":"t","name":"a","output":""}"#).unwrap();
        assert!(matches!(free, Request::Put { cost_usd: 0.0, .. }), "cost is optional");
    }

    #[test]
    fn bad_requests_are_refused_with_the_shape_expected() {
        for bad in [
            &b"not json"[..],
            br#"["step.get"]"#,
            br#"{"op": "step.delete", "lease": "t", "name": "a"}"#,
            br#"{"op": "step.get", "name": "a"}"#,
            br#"{"op": "step.get", "lease": "t", "name": "a", "job": "other"}"#,
            br#"{"op": "step.put", "lease": "t", "name": "a", "output": {"x": 1}}"#,
            br#"{"op": "step.put", "lease": "t", "name": "a", "output": "x", "cost_usd": "1"}"#,
        ] {
            let error = parse(bad).unwrap_err();
            assert!(error.starts_with("bad request"), "{error}");
            assert!(error.contains("step.get"), "names the shape: {error}");
        }
        let negative = br#"{"op":"step.put","lease":"t","name":"a","output":"x","cost_usd":-1}"#;
        assert!(parse(negative).unwrap_err().contains("cost_usd must be"));
    }

    #[test]
    fn answers_say_found_none_or_refused() {
        let found = StepAnswer { name: "a:2".into(), output: Some("x".into()) };
        assert_eq!(answer(&found), json!({"ok": true, "name": "a:2", "output": "x"}));
        let none = StepAnswer { name: "a".into(), output: None };
        assert_eq!(answer(&none), json!({"ok": true, "name": "a", "none": true}));
        assert_eq!(refusal("no"), json!({"ok": false, "error": "no"}));
    }
}
