//! Reads an engine event's fields into a JSON map, for whatever prints or records the events
//! (the binary's JSON lines, a host's log pipeline, tests). The engine itself installs no
//! subscriber.

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};

/// The fields of `event` (including its `event` name field), as JSON values.
pub fn fields(event: &tracing::Event<'_>) -> Map<String, Value> {
    let mut visitor = Fields(Map::new());
    event.record(&mut visitor);
    visitor.0
}

struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
}
