//! The gates on both stores: the breaker's half-open probe, the daily cap, and the alerts
//! each owes once.

use std::time::Duration;

use super::{Admission, Gate, admit, current, save, start_probe};
use crate::clock::Timestamp;
use crate::policy::breaker::BreakerState;
use crate::store::StoreCtx;
use crate::store::both::on_both;
use crate::store::breaker::{Trip, released, succeeded};
use crate::store::db::{Db, ps};
use crate::store::lease::tests::at;
use crate::store::ledger::{self, Charge};

fn failed(db: Db<'_>, ctx: &StoreCtx, key: &str, now: Timestamp) {
    crate::store::breaker::failed(db, ctx, key, Trip::AfterThreshold, now).unwrap();
}

fn breaker(db: Db<'_>) -> BreakerState {
    super::load_control(db).unwrap().breaker
}

fn gated(a: Admission) -> Option<Option<Timestamp>> {
    match a {
        Admission::Gated { until } => Some(until),
        Admission::Go { .. } => None,
    }
}

fn probe(a: Admission) -> Option<bool> {
    match a {
        Admission::Go { probe } => Some(probe),
        Admission::Gated { .. } => None,
    }
}

fn alerts(db: Db<'_>, kind: &str) -> i64 {
    db.value("SELECT count(*) FROM alerts WHERE kind = ?1", ps![kind]).unwrap()
}

fn breaker_config(c: &mut crate::config::EngineConfig) {
    c.breaker.failures = 2;
    c.breaker.cooldown = Duration::from_secs(10);
}

#[test]
fn consecutive_failures_open_the_breaker_and_owe_one_alert() {
    on_both("gates::breaker_opens", breaker_config, |db, ctx| {
        failed(db, ctx, "k1", at(1_000));
        assert_eq!(breaker(db).failures, 1);
        assert_eq!(probe(admit(db, ctx, at(1_000)).unwrap()), Some(false), "still closed");
        failed(db, ctx, "k2", at(2_000));
        assert_eq!(breaker(db).open_until, Some(at(12_000)));
        assert_eq!(gated(admit(db, ctx, at(5_000)).unwrap()), Some(Some(at(12_000))));
        assert_eq!(alerts(db, "breaker_opened"), 1);
    });
}

#[test]
fn an_open_breaker_lets_one_probe_through_and_its_success_closes_it() {
    on_both("gates::half_open_probe", breaker_config, |db, ctx| {
        let open = BreakerState {
            failures: 2,
            open_until: Some(at(12_000)),
            cooldown_ms: Some(10_000),
            probe: None,
        };
        save(db, &open).unwrap();
        assert_eq!(gated(admit(db, ctx, at(11_999)).unwrap()), Some(Some(at(12_000))));
        let until = Some(at(12_000));
        assert_eq!(current(db, ctx, at(11_999)).unwrap(), Some(Gate::Breaker { until }));

        assert_eq!(probe(admit(db, ctx, at(12_000)).unwrap()), Some(true), "half open");
        start_probe(db, "p").unwrap();
        assert_eq!(gated(admit(db, ctx, at(12_001)).unwrap()), Some(None), "one probe");
        let probing = Some(Gate::Breaker { until: None });
        assert_eq!(current(db, ctx, at(12_001)).unwrap(), probing);

        released(db, "other").unwrap();
        assert_eq!(breaker(db).probe.as_deref(), Some("p"), "not the probe");
        released(db, "p").unwrap();
        assert_eq!(breaker(db).probe, None, "a released probe frees the slot");
        assert_eq!(probe(admit(db, ctx, at(12_002)).unwrap()), Some(true));
        start_probe(db, "p2").unwrap();

        succeeded(db, ctx, "p2").unwrap();
        assert_eq!(breaker(db), BreakerState::default(), "the probe's success closes it");
        assert_eq!(probe(admit(db, ctx, at(12_003)).unwrap()), Some(false));
        assert_eq!(current(db, ctx, at(12_003)).unwrap(), None);
        succeeded(db, ctx, "p3").unwrap();
        assert_eq!(breaker(db), BreakerState::default(), "a closed breaker stays closed");
    });
}

/// Records `micros` spent on `day_ms`'s UTC day.
fn spend(db: Db<'_>, micros: i64, day_ms: i64) {
    ledger::record(db, "k", 1, &Charge::micros(micros), at(day_ms)).unwrap();
}

const DAY: i64 = 86_400_000;

fn cap_config(c: &mut crate::config::EngineConfig) {
    c.daily_cap_micros = Some(100);
}

#[test]
fn the_cap_holds_claims_until_the_next_utc_day() {
    on_both("gates::cap_holds_claims", cap_config, |db, ctx: &StoreCtx| {
        spend(db, 60, 1_000);
        assert_eq!(super::spent_today(db, at(2_000)).unwrap(), 60);
        assert_eq!(probe(admit(db, ctx, at(2_000)).unwrap()), Some(false), "under the cap");
        spend(db, 40, 3_000);
        // Alerted already today: admitting writes nothing, on either store.
        db.exec("UPDATE control SET cap_alerted_day = '1970-01-01' WHERE id = 1", ps![]).unwrap();
        assert_eq!(gated(admit(db, ctx, at(4_000)).unwrap()), Some(Some(at(DAY))));
        assert_eq!(current(db, ctx, at(4_000)).unwrap(), Some(Gate::Cap { until: at(DAY) }));
        assert_eq!(super::spent_today(db, at(DAY)).unwrap(), 0, "a new day");
        assert_eq!(probe(admit(db, ctx, at(DAY)).unwrap()), Some(false));
        // The clock fell back across midnight: the latest day in the ledger still counts.
        spend(db, 5, DAY + 1);
        assert_eq!(super::spent_today(db, at(4_000)).unwrap(), 5);
        spend(db, i64::MAX, DAY + 2);
        assert_eq!(super::spent_today(db, at(DAY + 3)).unwrap(), i64::MAX, "saturates");
    });
}

#[test]
fn the_cap_owes_its_alert_once_a_day() {
    on_both("gates::cap_alert_once", cap_config, |db, ctx| {
        spend(db, 100, 1_000);
        assert_eq!(gated(admit(db, ctx, at(2_000)).unwrap()), Some(Some(at(DAY))));
        assert_eq!(gated(admit(db, ctx, at(3_000)).unwrap()), Some(Some(at(DAY))));
        assert_eq!(alerts(db, "cap_hit"), 1);
        spend(db, 100, DAY + 1_000);
        assert_eq!(gated(admit(db, ctx, at(DAY + 2_000)).unwrap()), Some(Some(at(2 * DAY))));
        assert_eq!(alerts(db, "cap_hit"), 2, "and again the next day");
    });
}
