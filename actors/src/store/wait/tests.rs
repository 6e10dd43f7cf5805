use super::*;
use crate::store::both::on_both;
use crate::store::lease::tests::{at, claimed, job_row};

fn spec(dead: bool) -> WaitSpec {
    WaitSpec { name: "approval".to_owned(), timeout: Duration::from_secs(60), dead }
}

#[test]
fn a_wait_parks_the_job_and_a_signal_resumes_it_with_the_payload_as_a_step() {
    on_both(
        "wait::signal",
        |_| {},
        |db, ctx| {
            let token = claimed(db, ctx, &["a"], at(1_000)).remove(0);
            let charge = Charge::default();
            let stale = run(db, ctx, "a", "stale", &spec(false), &charge, at(1_500)).unwrap();
            assert!(matches!(stale, Waited::LeaseLost), "{stale:?}");
            let waited = run(db, ctx, "a", &token, &spec(false), &charge, at(2_000)).unwrap();
            assert!(matches!(waited, Waited::Waiting { until } if until == at(62_000)));
            let (status, attempts, _, lease) = job_row(db, "a");
            assert_eq!((status.as_str(), attempts, lease), ("waiting", 0, None));

            let other = signal(db, "a", "other", "x", at(3_000)).unwrap();
            let expect = Signalled::NotWaiting {
                status: Some(JobStatus::Waiting),
                waits_for: Some("approval".to_owned()),
            };
            assert_eq!(other, expect, "a signal it does not wait for changes nothing");
            assert_eq!(job_row(db, "a").0, "waiting");
            let none = signal(db, "nope", "approval", "x", at(3_000)).unwrap();
            assert_eq!(none, Signalled::NotWaiting { status: None, waits_for: None });

            assert_eq!(signal(db, "a", "approval", "yes", at(4_000)).unwrap(), Signalled::Resumed);
            let (status, _, run_at, _) = job_row(db, "a");
            assert_eq!((status.as_str(), run_at), ("pending", at(4_000)));
            let step = crate::store::steps::list(db, "a").unwrap();
            assert_eq!((step[0].name.as_str(), step[0].output.as_str()), ("approval", "yes"));
            let again = signal(db, "a", "approval", "no", at(5_000)).unwrap();
            assert!(matches!(again, Signalled::NotWaiting { .. }), "a second signal is refused");
        },
    );
}

#[test]
fn a_wait_past_its_deadline_fails_an_attempt_or_dead_letters() {
    on_both(
        "wait::expire",
        |_| {},
        |db, ctx| {
            // Tokens in key order.
            let tokens = claimed(db, ctx, &["d", "r"], at(1_000));
            let charge = Charge::default();
            run(db, ctx, "d", &tokens[0], &spec(true), &charge, at(1_000)).unwrap();
            run(db, ctx, "r", &tokens[1], &spec(false), &charge, at(1_000)).unwrap();
            assert!(expire(db, ctx, at(60_999)).unwrap().is_empty(), "not yet");
            let mut failed = expire(db, ctx, at(61_000)).unwrap();
            failed.sort_by(|a, b| a.0.cmp(&b.0));
            assert!(matches!(failed[0], (ref k, Failed::Dead { .. }) if k == "d"), "{failed:?}");
            assert!(matches!(failed[1], (ref k, Failed::Retry { attempts: 1, .. }) if k == "r"));
            assert_eq!(job_row(db, "r").0, "pending");
        },
    );
}

#[test]
fn a_cancel_takes_pending_waiting_and_running_jobs_and_fences_the_running_one() {
    on_both(
        "wait::cancel",
        |_| {},
        |db, ctx| {
            let tokens = claimed(db, ctx, &["run", "wait"], at(1_000));
            run(db, ctx, "wait", &tokens[1], &spec(false), &Charge::default(), at(1_000)).unwrap();
            let keys = ["run", "wait", "nope"].map(str::to_owned).to_vec();
            let out = cancel(db, &CancelWhich::Keys(keys), at(2_000)).unwrap();
            let was: Vec<_> = out.iter().map(|c| c.was).collect();
            assert_eq!(was, [Some(JobStatus::Running), Some(JobStatus::Waiting), None]);
            let (status, _, _, lease) = job_row(db, "run");
            assert_eq!((status.as_str(), lease), ("cancelled", None));
            let late = crate::store::lease::complete(
                db,
                ctx,
                "run",
                &tokens[0],
                None,
                &Charge::default(),
                at(3_000),
            )
            .unwrap();
            assert!(!late, "an outcome after the cancel is fenced out");
            assert_eq!(job_row(db, "run").0, "cancelled");
            let again = cancel(db, &CancelWhich::Keys(vec!["run".to_owned()]), at(4_000)).unwrap();
            assert!(!again[0].changed(), "a cancelled job stays as it is");
        },
    );
}
