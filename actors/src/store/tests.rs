//! The Store's batch: events raised inside a transaction are logged only after its COMMIT, and
//! a batch that cannot begin or commit answers every caller with the kind it failed by.

use std::sync::{Arc, Mutex};

use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

use super::op::{Args, EnqueueArgs, ProbeArgs, Reply, SetPausedArgs};
use super::{EngineConfig, StoreCtx, StoreState, breaker, open, retry_transient};
use crate::clock::Timestamp;
use crate::config::Synchronous;
use crate::error::StoreError;
use crate::job::{Enqueued, NewJob};

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
        backend: super::Backend::Lite { conn, data_version: 0 },
        ctx: StoreCtx::from_config(&config),
        buf: Vec::new(),
        max_batch: 16,
        flush_queued: false,
        pace: super::pace::Pace::new(true),
        on_external_commit: None,
        _watch: None,
    }
}

/// Buffers an operation that opens the breaker, then does `then`.
fn open_breaker(
    st: &mut StoreState,
    then: impl Fn(&rusqlite::Connection) -> Result<(), StoreError> + Send + 'static,
) {
    let probe = ProbeArgs(Box::new(move |c, ctx| {
        let now = Timestamp::from_millis(1_000);
        breaker::failed(c.into(), ctx, "flaky", breaker::Trip::AfterThreshold, now)?;
        then(c)
    }));
    let (reply, _answer) = ractor::concurrency::oneshot();
    st.buf.push(probe.into_op(Reply::Port(reply.into())));
}

/// Buffers `args`; the receiver gets its answer once the buffer is flushed.
fn buffer<A: Args>(
    st: &mut StoreState,
    args: A,
) -> ractor::concurrency::OneshotReceiver<Result<A::Out, StoreError>> {
    let (reply, answer) = ractor::concurrency::oneshot();
    st.buf.push(args.into_op(Reply::Port(reply.into())));
    answer
}

/// The SQLite code in `e`'s source chain.
fn sqlite_code(e: &StoreError) -> Option<rusqlite::ErrorCode> {
    let source = std::error::Error::source(e)?;
    source.downcast_ref::<rusqlite::Error>()?.sqlite_error_code()
}

fn breaker_failures(st: &StoreState) -> u32 {
    st.lite().query_row("SELECT breaker_failures FROM control", [], |r| r.get(0)).unwrap()
}

#[test]
fn breaker_opened_is_logged_after_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = state(&dir);
    open_breaker(&mut st, |_| Ok(()));
    let names = logged(|| st.commit_here());
    assert_eq!(names, ["breaker_opened"]);
    assert_eq!(breaker_failures(&st), 1);
}

#[test]
fn an_operation_rolled_back_to_its_savepoint_logs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = state(&dir);
    open_breaker(&mut st, |_| Err(StoreError::InvalidValue("refused after the update".into())));
    let names = logged(|| st.commit_here());
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
    let names = logged(|| st.commit_here());
    assert!(names.is_empty(), "logged {names:?} for a batch that did not commit");
    assert_eq!(breaker_failures(&st), 0);
    assert!(st.ctx.notices.owed().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_busy_database_is_answered_as_transient_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = state(&dir);
    // Refuse at once rather than wait out busy_timeout: the test is about the answer's kind.
    st.lite().busy_timeout(std::time::Duration::ZERO).unwrap();
    // Another process (a CLI write) holds the write lock until the first refusal.
    let other = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut other = Some(other);
    let mut refusals = Vec::new();
    let enqueued = retry_transient(|| {
        let mut answer = buffer(
            &mut st,
            EnqueueArgs { job: NewJob::new("k", "{}"), now: Timestamp::from_millis(1) },
        );
        st.commit_here();
        let answer = answer.try_recv().expect("answered once the batch's fate is known");
        if let Err(e) = &answer {
            refusals.push(e.clone());
            other.take();
        }
        std::future::ready(answer)
    })
    .await;
    assert!(matches!(enqueued, Ok(Enqueued::Enqueued)), "{enqueued:?}");
    let [busy] = refusals.as_slice() else { panic!("refused {refusals:?}") };
    assert!(matches!(busy, StoreError::Commit(_)) && busy.is_transient(), "{busy:?}");
    assert_eq!(sqlite_code(busy), Some(rusqlite::ErrorCode::DatabaseBusy));
}

#[test]
fn a_full_disk_is_answered_as_disk_full_and_fails_only_its_operation() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = state(&dir);
    // The database may not grow: SQLite answers a write that needs a new page with SQLITE_FULL,
    // exactly as it does when the file system is full.
    let pages: i64 = st.lite().query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
    st.lite().pragma_update(None, "max_page_count", pages).unwrap();
    let big = "x".repeat(200_000);
    let mut full = buffer(
        &mut st,
        EnqueueArgs { job: NewJob::new("big", big), now: Timestamp::from_millis(1) },
    );
    let pause = SetPausedArgs { paused: true, reason: None, now: Timestamp::from_millis(1) };
    let mut paused = buffer(&mut st, pause);
    st.commit_here();
    let full = full.try_recv().unwrap().unwrap_err();
    assert!(matches!(full, StoreError::DiskFull { .. }), "{full:?}");
    assert_eq!(sqlite_code(&full), Some(rusqlite::ErrorCode::DiskFull));
    assert!(full.to_string().contains("free space there"), "{full}");
    assert!(paused.try_recv().unwrap().unwrap(), "the rest of the batch committed");
    let jobs: i64 = st.lite().query_row("SELECT count(*) FROM jobs", [], |r| r.get(0)).unwrap();
    assert_eq!(jobs, 0);
}

/// A batch is first applied whole with no savepoints; a round with one failing item is applied
/// again guarded, so that item fails alone and everything else in the batch commits once.
#[test]
fn a_round_with_one_failing_item_commits_the_rest_once() {
    use super::op::RoundArgs;
    use super::round::Round;
    let dir = tempfile::tempdir().unwrap();
    let mut st = state(&dir);
    let mut first = buffer(
        &mut st,
        EnqueueArgs { job: NewJob::new("before", "{}"), now: Timestamp::from_millis(1) },
    );
    let inserts = vec![NewJob::new("good", "{}"), NewJob::new("", "{}"), NewJob::new("too", "{}")];
    let mut round = buffer(
        &mut st,
        RoundArgs { round: Round { inserts, ..Round::default() }, now: Timestamp::from_millis(1) },
    );
    st.commit_here();
    assert!(matches!(first.try_recv().unwrap(), Ok(Enqueued::Enqueued)));
    let out = round.try_recv().unwrap().expect("the round commits");
    assert!(matches!(out.inserted[0], Ok(Enqueued::Enqueued)), "{:?}", out.inserted);
    assert!(matches!(out.inserted[1], Err(StoreError::InvalidKey(_))), "{:?}", out.inserted);
    assert!(matches!(out.inserted[2], Ok(Enqueued::Enqueued)), "{:?}", out.inserted);
    let count = |sql: &str| st.lite().query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM jobs"), 3);
    assert_eq!(count("SELECT jobs FROM row_counts"), 3, "no write applied twice");
}

impl StoreState {
    fn lite(&self) -> &rusqlite::Connection {
        match &self.backend {
            super::Backend::Lite { conn, .. } => conn,
            super::Backend::Pg(_) => unreachable!("these tests run on SQLite"),
        }
    }
}
