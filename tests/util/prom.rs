//! A strict parser of the Prometheus text exposition format (version 0.0.4), for the tests of
//! `status --prom`: stricter than Prometheus itself, it refuses any line nightshift should never
//! print. Every family has one `# HELP` then one `# TYPE` before its samples, and its samples
//! follow together; every sample belongs to a declared family (a histogram's `_bucket` with an
//! `le`, `_sum`, `_count`); names and label names are well formed, label values quoted with
//! only `\\`, `\"` and `\n` escaped; no label or sample twice, no timestamp (node_exporter's
//! textfile collector refuses them), no blank line and no other comment (`# EOF` and
//! `# UNIT` are OpenMetrics, not this format).

use std::collections::{BTreeMap, BTreeSet};

/// A metric family's declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub help: String,
    pub kind: String,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition.
#[derive(Debug, Default)]
pub struct Exposition {
    pub families: BTreeMap<String, Family>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the one sample named `name` with exactly `labels`, if there is one.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> =
            labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples.iter().find(|s| s.name == name && s.labels == want).map(|s| s.value)
    }

    /// The value of the one sample named `name` with exactly `labels`; panics if absent.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
    }

    /// Every sample named `name` whose labels include `labels`.
    pub fn matching(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        let has = |s: &Sample| {
            labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        };
        self.samples.iter().filter(|s| s.name == name && has(s)).collect()
    }

    /// The sum of every sample named `name` whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).iter().map(|s| s.value).sum()
    }
}

/// Parses `text`, or says which line is wrong and why.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut out = Exposition::default();
    let mut help: Option<(String, String)> = None;
    let mut current: Option<String> = None;
    let mut closed = BTreeSet::new();
    let mut seen = BTreeSet::new();
    if !text.ends_with('\n') {
        return Err("the text does not end with a newline".to_owned());
    }
    for (n, line) in text.lines().enumerate() {
        let err = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').ok_or_else(|| err("HELP without text"))?;
            check_name(name).map_err(|e| err(&e))?;
            if out.families.contains_key(name) || closed.contains(name) || help.is_some() {
                return Err(err("a second HELP"));
            }
            help = Some((name.to_owned(), unescape(text, false).map_err(|e| err(&e))?));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or_else(|| err("TYPE without a type"))?;
            let Some((helped, text)) = help.take().filter(|(h, _)| h == name) else {
                return Err(err("TYPE not right after its family's HELP"));
            };
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(err("unknown type"));
            }
            if let Some(done) = current.replace(helped.clone()) {
                closed.insert(done);
            }
            out.families.insert(helped, Family { help: text, kind: kind.to_owned() });
        } else if line.starts_with('#') || line.trim().is_empty() {
            return Err(err("a comment or blank line this format never needs"));
        } else {
            if help.is_some() {
                return Err(err("a sample between HELP and TYPE"));
            }
            let sample = parse_sample(line).map_err(|e| err(&e))?;
            let family = family_of(&out, &sample).map_err(|e| err(&e))?;
            if current.as_deref() != Some(family.as_str()) {
                return Err(err("a sample away from its family's other lines"));
            }
            if !seen.insert((sample.name.clone(), format!("{:?}", sample.labels))) {
                return Err(err("the same sample twice"));
            }
            out.samples.push(sample);
        }
    }
    if help.is_some() {
        return Err("a HELP with no TYPE at the end".to_owned());
    }
    Ok(out)
}

/// The declared family `sample` belongs to.
fn family_of(out: &Exposition, sample: &Sample) -> Result<String, String> {
    if let Some(f) = out.families.get(&sample.name) {
        return match f.kind.as_str() {
            "histogram" | "summary" => Err("a histogram's sample needs a suffix".to_owned()),
            _ if sample.labels.contains_key("le") => Err("an le label outside a histogram".into()),
            _ => Ok(sample.name.clone()),
        };
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        let Some(base) = sample.name.strip_suffix(suffix) else { continue };
        if out.families.get(base).is_some_and(|f| f.kind == "histogram") {
            let le = sample.labels.get("le");
            return match (suffix, le) {
                ("_bucket", Some(le)) if parse_value(le).is_ok() => Ok(base.to_owned()),
                ("_bucket", _) => Err("a bucket without a numeric le".to_owned()),
                (_, Some(_)) => Err("an le label on _sum or _count".to_owned()),
                _ => Ok(base.to_owned()),
            };
        }
    }
    Err("a sample of no declared family (no HELP and TYPE)".to_owned())
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        rest = body;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find("=\"").ok_or("a label without =\"")?;
            let key = &rest[..eq];
            check_label_name(key)?;
            let (value, after) = quoted(&rest[eq + 2..])?;
            if labels.insert(key.to_owned(), value).is_some() {
                return Err(format!("label {key} twice"));
            }
            rest = match after.strip_prefix(',') {
                Some(next) if !next.starts_with('}') => next,
                Some(_) => return Err("a trailing comma".to_owned()),
                None if after.starts_with('}') => after,
                None => return Err("labels not separated by a comma".to_owned()),
            };
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    if value.contains(' ') {
        return Err("a timestamp or trailing text after the value".to_owned());
    }
    Ok(Sample { name: name.to_owned(), labels, value: parse_value(value)? })
}

/// A label value up to its closing quote, unescaped, and the text after the quote.
fn quoted(s: &str) -> Result<(String, &str), String> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return Ok((unescape(&s[..i], true)?, &s[i + 1..])),
            (false, '\n') => return Err("a raw newline in a label value".to_owned()),
            _ => {}
        }
    }
    Err("an unclosed label value".to_owned())
}

/// Undoes the format's escapes: `\\` and `\n` everywhere, `\"` in label values only.
fn unescape(s: &str, label: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if label => out.push('"'),
            other => return Err(format!("a bad escape \\{other:?}")),
        }
    }
    Ok(out)
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) => {
            s.parse().map_err(|_| format!("{s:?} is not a number"))
        }
        _ => Err(format!("{s:?} is not a number")),
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = name.chars().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
    });
    if ok && !name.is_empty() { Ok(()) } else { Err(format!("{name:?} is not a metric name")) }
}

fn check_label_name(name: &str) -> Result<(), String> {
    if name.contains(':') { Err(format!("{name:?} is not a label name")) } else { check_name(name) }
}
