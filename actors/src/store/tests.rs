//! The Store's batch: events raised inside a transaction are logged only after its COMMIT.

use std::sync::{Arc, Mutex};

use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

use super::operation::Op;
use super::{EngineConfig, StoreCtx, StoreState, gates, open};
use crate::clock::Timestamp;
use crate::config::Synchronous;
use crate::error::StoreError;

/// Names of the events emitted on this thread while `f` runs.
fn logged(f: impl FnOnce()) -> Vec<String> {
    #[derive(Clone, Default)]
    struct Names(Arc<Mutex<Vec<String>>>);
    impl<S: tracing::Subscriber> Layer<S> for Names {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let name = crate::fields::fields(event).remove("event");
            let name = name.and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            self.0.lock().unwrap().push(name);
        }
    }
    let names = Names::default();
    let subscriber = tracing_subscriber::registry().with(names.clone());
    tracing::subscriber::with_default(subscriber, f);
    names.0.lock().unwrap().clone()
}

/// A Store batch over a fresh database whose breaker opens on the first failure.
fn state(dir: &tempfile::TempDir) -> StoreState {
    let db = dir.path().join("t.db");
    let mut config = EngineConfig::new(&db);
    config.breaker.failures = 1;
    let conn = open::open(&db, Synchronous::Full, false).unwrap();
    StoreState {
        conn,
        ctx: StoreCtx::from_config(&config),
        buf: Vec::new(),
        max_batch: 16,
        flush_queued: false,
        data_version: 0,
        on_external_commit: None,
        _watch: None,
    }
}

/// Buffers an operation that opens the breaker, then does `then`.
fn open_breaker(
    st: &mut StoreState,
    then: impl FnOnce(&rusqlite::Connection) -> Result<(), StoreError> + Send + 'static,
) {
    let (reply, _answer) = ractor::concurrency::oneshot();
    let op = Op::new(
        move |c: &rusqlite::Connection, ctx: &StoreCtx| {
            gates::failed(c, ctx, "flaky", Timestamp::from_millis(1_000))?;
            then(c)
        },
        reply.into(),
    );
    st.buf.push(Box::new(op));
}

fn breaker_failures(st: &StoreState) -> u32 {
    st.conn.query_row("SELECT breaker_failures FROM control", [], |r| r.get(0)).unwrap()
}

#[test]
fn breaker_opened_is_logged_after_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = state(&dir);
    open_breaker(&mut st, |_| Ok(()));
    let names = logged(|| st.flush());
    assert_eq!(names, ["breaker_opened"]);
    assert_eq!(breaker_failures(&st), 1);
}

#[test]
fn an_operation_rolled_back_to_its_savepoint_logs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = state(&dir);
    open_breaker(&mut st, |_| Err(StoreError::InvalidValue("refused after the update".into())));
    let names = logged(|| st.flush());
    assert!(names.is_empty(), "logged {names:?} for a rolled-back savepoint");
    assert_eq!(breaker_failures(&st), 0, "the savepoint rolled back");
    assert!(st.ctx.notices.owed().is_empty());
}

#[test]
fn a_batch_that_rolls_back_logs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = state(&dir);
    // Succeeds, but ends the transaction under the batch, so the batch itself fails.
    open_breaker(&mut st, |c| Ok(c.execute_batch("ROLLBACK")?));
    let names = logged(|| st.flush());
    assert!(names.is_empty(), "logged {names:?} for a batch that did not commit");
    assert_eq!(breaker_failures(&st), 0);
    assert!(st.ctx.notices.owed().is_empty());
}
