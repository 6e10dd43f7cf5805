//! Captures the engine's tracing events in memory, with the instant each was emitted, so tests
//! can assert on event names, fields and spacing.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use serde_json::Value;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// One captured event.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: Instant,
    pub fields: BTreeMap<String, Value>,
}

impl Event {
    pub fn name(&self) -> &str {
        self.fields.get("event").and_then(Value::as_str).unwrap_or("")
    }

    pub fn str(&self, field: &str) -> &str {
        self.fields.get(field).and_then(Value::as_str).unwrap_or("")
    }

    pub fn u64(&self, field: &str) -> Option<u64> {
        self.fields.get(field).and_then(Value::as_u64)
    }
}

static EVENTS: Mutex<Vec<Event>> = Mutex::new(Vec::new());

struct Capture;

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields: BTreeMap<String, Value> =
            nightshift_actors::fields::fields(event).into_iter().collect();
        fields.insert("level".to_owned(), event.metadata().level().as_str().into());
        let e = Event { at: Instant::now(), fields };
        EVENTS.lock().unwrap_or_else(|e| e.into_inner()).push(e);
    }
}

/// Starts capturing (once per test process).
pub fn capture() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Capture);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Every captured event about `key`, in order.
pub fn for_key(key: &str) -> Vec<Event> {
    all().into_iter().filter(|e| e.str("key") == key).collect()
}

/// Every captured event named `name`.
pub fn named(name: &str) -> Vec<Event> {
    all().into_iter().filter(|e| e.name() == name).collect()
}

pub fn all() -> Vec<Event> {
    EVENTS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}
