//! A `[[limit]]`'s own breaker on both stores, with the clock given: it opens for its jobs only,
//! then lets one probe through once its cooldown ends; the probe's success closes it, its
//! failure re-opens it for twice as long, and a probe given back frees the slot.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::config::EngineConfig;
use crate::job::NewJob;
use crate::limit::{LimitConfig, LimitStatus};
use crate::policy::breaker::BreakerState;
use crate::store::both::on_both;
use crate::store::claim::{self, Claim, ClaimArgs};
use crate::store::db::{Db, ps};
use crate::store::fail::{self, FailKind, Failed};
use crate::store::lease::tests::at;
use crate::store::lease::{complete, release};
use crate::store::op::{self, EnqueueArgs};
use crate::store::{Charge, StoreCtx, gates, limits};

/// `openai` has a breaker of its own: 2 failures in a row open it for 10 s.
fn openai(c: &mut EngineConfig) {
    c.breaker.failures = 2;
    c.breaker.cooldown = Duration::from_secs(10);
    c.limits = vec![LimitConfig { breaker: true, ..LimitConfig::new("openai") }];
}

fn enqueue(db: Db<'_>, ctx: &StoreCtx, key: &str, limit: Option<&str>, now: Timestamp) {
    let job = NewJob { limit: limit.map(str::to_owned), ..NewJob::new(key, "{}") };
    op::run(db, ctx, EnqueueArgs { job, now }).unwrap();
}

/// A claimed job: its key and lease token.
type Taken = (String, String);

/// Claims every job due at `now`, in claim order.
fn claim_all(db: Db<'_>, ctx: &StoreCtx, now: Timestamp) -> Vec<Taken> {
    let args = ClaimArgs {
        owner: "w1".to_owned(),
        lease: Duration::from_secs(300),
        timeout: Duration::from_secs(5),
    };
    let Claim::Jobs { jobs, .. } = claim::run(db, ctx, &args, 16, now).unwrap() else {
        panic!("claims gated")
    };
    jobs.into_iter().map(|c| (c.job.key, c.token)).collect()
}

fn keys(taken: &[Taken]) -> Vec<&str> {
    taken.iter().map(|(k, _)| k.as_str()).collect()
}

fn fail(db: Db<'_>, ctx: &StoreCtx, (key, token): &Taken, now: Timestamp) {
    let kind = FailKind::Retryable { delay: None };
    let failed = fail::run(db, ctx, key, token, "HTTP 500", kind, &Charge::default(), now);
    assert!(matches!(failed.unwrap(), Failed::Retry { .. }), "{key} retried");
}

fn succeed(db: Db<'_>, ctx: &StoreCtx, (key, token): &Taken, now: Timestamp) {
    assert!(complete(db, ctx, key, token, None, &Charge::default(), now).unwrap(), "{key}");
}

fn state(db: Db<'_>) -> BreakerState {
    limits::load_row(db, "openai").unwrap().breaker
}

fn status(db: Db<'_>, ctx: &StoreCtx, now: Timestamp) -> LimitStatus {
    limits::statuses(db, ctx, now).unwrap().remove(0)
}

fn opened_alerts(db: Db<'_>) -> Vec<String> {
    db.query("SELECT body FROM alerts WHERE kind = 'breaker_opened' ORDER BY id", ps![], |r| {
        r.get(0)
    })
    .unwrap()
}

/// o1 and o2 of `openai` fail at 2 s: its breaker opens until 12 s.
fn opened(db: Db<'_>, ctx: &StoreCtx) {
    for key in ["o1", "o2"] {
        enqueue(db, ctx, key, Some("openai"), at(1_000));
    }
    let taken = claim_all(db, ctx, at(1_000));
    assert_eq!(keys(&taken), ["o1", "o2"]);
    fail(db, ctx, &taken[0], at(2_000));
    fail(db, ctx, &taken[1], at(2_000));
    assert_eq!(state(db).open_until, Some(at(12_000)));
}

#[test]
fn a_limits_breaker_admits_one_probe_after_its_cooldown_and_the_probes_success_closes_it() {
    on_both("breaker::limit_probe_closes", openai, |db, ctx| {
        opened(db, ctx);
        let alerts = opened_alerts(db);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(alerts[0].contains("\"limit\":\"openai\""), "{alerts:?}");
        let global = gates::load_control(db).unwrap().breaker;
        assert_eq!(global, BreakerState::default(), "the global breaker is untouched");
        let open = status(db, ctx, at(5_000));
        assert_eq!((open.breaker.as_str(), open.breaker_open_until), ("open", Some(at(12_000))));

        enqueue(db, ctx, "free", None, at(5_000));
        assert_eq!(keys(&claim_all(db, ctx, at(5_000))), ["free"], "only openai is held");

        let probe = claim_all(db, ctx, at(12_000));
        assert_eq!(probe.len(), 1, "one probe: {probe:?}");
        let key = probe[0].0.clone();
        assert_eq!(state(db).probe.as_deref(), Some(key.as_str()));
        let half = status(db, ctx, at(12_001));
        assert_eq!((half.breaker.as_str(), half.breaker_probe), ("half_open", Some(key.clone())));
        assert!(claim_all(db, ctx, at(12_001)).is_empty(), "the other job waits for the probe");

        succeed(db, ctx, &probe[0], at(13_000));
        assert_eq!(state(db), BreakerState::default(), "the probe's success closes it");
        assert_eq!(status(db, ctx, at(13_000)).breaker, "closed");
        let rest = claim_all(db, ctx, at(13_000));
        assert_eq!(rest.len(), 1, "the other job runs: {rest:?}");
        assert_ne!(rest[0].0, key);
    });
}

#[test]
fn a_failed_probe_reopens_the_limits_breaker_for_twice_as_long_and_a_released_one_frees_the_slot() {
    on_both("breaker::limit_probe_fails", openai, |db, ctx| {
        opened(db, ctx);
        let first = claim_all(db, ctx, at(12_000));
        assert_eq!(first.len(), 1);
        assert!(release(db, &first[0].0, &first[0].1, at(12_100)).unwrap());
        assert_eq!(state(db).probe, None, "a probe given back frees the slot");
        assert_eq!(status(db, ctx, at(12_100)).breaker, "half_open");

        let probe = claim_all(db, ctx, at(12_200));
        assert_eq!(probe.len(), 1, "another probe: {probe:?}");
        fail(db, ctx, &probe[0], at(13_000));
        let reopened = state(db);
        assert_eq!((reopened.open_until, reopened.cooldown_ms), (Some(at(33_000)), Some(20_000)));
        assert_eq!(reopened.probe, None);
        assert_eq!(opened_alerts(db).len(), 1, "a re-opening is logged, not alerted");
        assert!(claim_all(db, ctx, at(32_999)).is_empty(), "held for the doubled cooldown");

        let probe = claim_all(db, ctx, at(33_000));
        assert_eq!(probe.len(), 1, "one probe again: {probe:?}");
        fail(db, ctx, &probe[0], at(34_000));
        assert_eq!(state(db).open_until, Some(at(74_000)), "doubled again");
    });
}

#[test]
fn a_limit_job_failing_as_the_global_probe_frees_the_global_probe_slot() {
    on_both("breaker::limit_job_global_probe", openai, |db, ctx| {
        let half_open = BreakerState { open_until: Some(at(0)), ..Default::default() };
        gates::save(db, &half_open).unwrap();
        enqueue(db, ctx, "o1", Some("openai"), at(1_000));
        let probe = claim_all(db, ctx, at(1_000));
        assert_eq!(keys(&probe), ["o1"]);
        assert_eq!(gates::load_control(db).unwrap().breaker.probe.as_deref(), Some("o1"));
        fail(db, ctx, &probe[0], at(2_000));
        assert_eq!(gates::load_control(db).unwrap().breaker, half_open, "another job may probe");
        assert_eq!(state(db).failures, 1, "the failure counts toward the limit's breaker");
    });
}
