//! The counting rule and detached steps, without an engine (the engine's tests drive the rest).

use super::*;

#[tokio::test]
async fn detached_steps_just_run_and_record_nothing() {
    let steps = Steps::default();
    assert_eq!(steps.lease_token(), None);
    let read = steps.get("a").await.unwrap();
    assert_eq!(read, StepAnswer { name: "a".to_owned(), output: None });
    let put = steps.put("a", StepOutput::new("x", 0.5)).await.unwrap();
    assert_eq!(put.output.as_deref(), Some("x"));
}

#[test]
fn bad_names_are_refused() {
    let steps = Steps::default();
    for name in ["", "a\nb", &"x".repeat(MAX_STEP_NAME + 1)] {
        assert!(matches!(steps.count(name, Use::Read), Err(StepError::BadName(_))), "{name:?}");
    }
    assert!(steps.count(&"x".repeat(MAX_STEP_NAME), Use::Read).is_ok());
}

/// Counting needs an attempt; a lease with no engine behind it is enough for the names.
fn counting() -> Steps {
    let config = crate::config::EngineConfig::new("unused.db");
    let handler: Arc<dyn crate::job::Handler> = Arc::new(Noop);
    let store = crate::store::StoreHandle::empty();
    let shared = Arc::new(Shared::new(config, handler, store, "t".to_owned()));
    Steps::attached(shared, "k".to_owned(), "token".to_owned())
}

struct Noop;

#[async_trait::async_trait]
impl crate::job::Handler for Noop {
    async fn run(&self, _: Job) -> crate::job::Outcome {
        crate::job::Outcome::success()
    }
}

#[test]
fn a_name_used_again_in_an_attempt_gets_2_then_3() {
    let steps = counting();
    let read = |name| steps.count(name, Use::Read).unwrap();
    assert_eq!(
        [read("fetch"), read("fetch"), read("other"), read("fetch")],
        ["fetch", "fetch:2", "other", "fetch:3"]
    );
}

#[test]
fn a_record_takes_the_name_of_the_read_before_it_or_counts_its_own() {
    let steps = counting();
    let count = |name, how| steps.count(name, how).unwrap();
    assert_eq!(count("a", Use::Read), "a");
    assert_eq!(count("a", Use::Record), "a", "the read's use");
    assert_eq!(count("a", Use::Record), "a:2", "no read open: a use of its own");
    assert_eq!(count("a", Use::Read), "a:3");
    steps.close("a");
    assert_eq!(count("a", Use::Record), "a:4", "the read found its output: closed");
    let clone = steps.clone();
    assert_eq!(clone.count("a", Use::Read).unwrap(), "a:5", "clones count alike");
}
