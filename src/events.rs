//! Prints the engine's events on stdout, one JSON object per line (`--log-format json`) or one
//! readable line each (`text`): `ts`, `level`, `event`, then the event's own fields.

use std::io::Write;
use std::time::SystemTime;

use serde_json::{Map, Value};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

use crate::cli::LogFormat;

struct Lines {
    format: LogFormat,
}

impl<S: tracing::Subscriber> Layer<S> for Lines {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let ours = meta.target().starts_with("nightshift");
        // Other crates' chatter (ractor's actor lifecycle lines) only when it is a warning.
        if !ours && *meta.level() > tracing::Level::WARN {
            return;
        }
        let mut fields = nightshift_actors::fields::fields(event);
        let name = match fields.remove("event") {
            Some(Value::String(name)) => name,
            _ => "log".to_owned(),
        };
        let ts = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let level = meta.level().as_str().to_ascii_lowercase();
        let line = match self.format {
            LogFormat::Json => {
                let mut obj = Map::new();
                obj.insert("ts".into(), Value::String(ts));
                obj.insert("level".into(), Value::String(level));
                obj.insert("event".into(), Value::String(name));
                obj.extend(fields);
                Value::Object(obj).to_string()
            }
            LogFormat::Text => {
                let mut line = format!("{ts} {level:<5} {name}");
                for (k, v) in fields {
                    match v {
                        Value::String(s) => line.push_str(&format!(" {k}={s:?}")),
                        other => line.push_str(&format!(" {k}={other}")),
                    }
                }
                line
            }
        };
        // A write that fails (stdout closed: `run | head`, a log pipe that died) loses this line
        // and no more: the runner keeps working its jobs, whose outcomes are in the database.
        // Stopping a runner, or panicking inside the tracing call of whichever actor logged,
        // because nobody reads its log would trade the jobs for the log. Rust ignores SIGPIPE,
        // so the write returns the error instead of killing the process.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }
}

/// Installs the event printer for this process.
pub fn install(format: LogFormat) {
    let subscriber = tracing_subscriber::registry().with(Lines { format });
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// The format when none was asked for: JSON unless stdout is a terminal.
pub fn default_format() -> LogFormat {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() { LogFormat::Text } else { LogFormat::Json }
}
