//! The metric families, each named, explained and encoded from a [`Snapshot`]: a
//! `prometheus_client` collector, asked for its families on every render.

use std::collections::HashMap;

use nightshift_actors::{DURATION_BUCKETS_MS, LimitStatus, QueueTally};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::exemplar::Exemplar;

use super::Snapshot;

/// The families of one snapshot.
#[derive(Debug)]
pub(super) struct Families(pub(super) Snapshot);

/// How a `Result` of the encoder reads.
type Encoded = Result<(), std::fmt::Error>;

const USD: f64 = 1_000_000.0;

impl Collector for Families {
    fn encode(&self, mut out: DescriptorEncoder<'_>) -> Encoded {
        let Snapshot { tallies, runners } = &self.0;
        let st = &tallies.status;
        let queues = &tallies.queues;
        let flag = |on: bool| i64::from(on);

        per_queue(&mut out, "jobs", JOBS, MetricType::Gauge, queues, &|q| {
            vec![
                ("pending", q.pending),
                ("running", q.running),
                ("done", q.done),
                ("waiting", q.waiting),
                ("cancelled", q.cancelled),
            ]
        })?;
        per_queue(&mut out, "dead_letters", DEAD, MetricType::Gauge, queues, &|q| {
            vec![("", q.dead)]
        })?;
        per_queue(&mut out, "attempts", ATTEMPTS, MetricType::Counter, queues, &|q| {
            vec![("", q.attempts())]
        })?;
        per_queue(&mut out, "failures", FAILURES, MetricType::Counter, queues, &|q| {
            vec![("", q.failed_attempts)]
        })?;
        durations(&mut out, queues)?;

        let oldest = st.oldest_pending_ms.unwrap_or(0) as f64 / 1000.0;
        gauge(&mut out, "oldest_pending_age_seconds", OLDEST, oldest)?;
        gauge(&mut out, "alerts_owed", ALERTS, st.alerts_undelivered)?;
        gauge(&mut out, "spend_today_usd", SPEND, st.spend_today_micros as f64 / USD)?;
        if let Some(cap) = st.cap_micros {
            gauge(&mut out, "daily_cap_usd", CAP, cap as f64 / USD)?;
        }
        gauge(&mut out, "paused", PAUSED, flag(st.paused))?;
        gauge(&mut out, "breaker_open", BREAKER, flag(tallies.breaker_open))?;
        gauge(&mut out, "breaker_failures", BREAKER_FAILURES, st.breaker_failures)?;
        gauge(&mut out, "runners_alive", RUNNERS, runners.alive.len() as u64)?;
        if let Some(at) = runners.last_heartbeat {
            let secs = at.as_millis() as f64 / 1000.0;
            gauge(&mut out, "runner_last_heartbeat_timestamp_seconds", HEARTBEAT, secs)?;
        }
        per_limit(&mut out, &st.limits)
    }
}

/// One gauge's value for a limit.
type LimitGauge = dyn Fn(&LimitStatus) -> i64;

/// The gauges of each `[[limit]]`, labelled `limit`.
fn per_limit(out: &mut DescriptorEncoder<'_>, limits: &[LimitStatus]) -> Encoded {
    if limits.is_empty() {
        return Ok(());
    }
    let held = |l: &LimitStatus| i64::from(l.held_until.is_some());
    let open =
        |l: &LimitStatus| i64::from(l.breaker_open_until.is_some() || l.breaker_probe.is_some());
    let families: [(&str, &str, &LimitGauge); 4] = [
        ("limit_running", LIMIT_RUNNING, &|l| l.running as i64),
        ("limit_rate_used", LIMIT_RATE, &|l| l.rate_used as i64),
        ("limit_held", LIMIT_HELD, &held),
        ("limit_breaker_open", LIMIT_BREAKER, &open),
    ];
    for (name, help, value) in families {
        let mut family = out.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for l in limits {
            family.encode_family(&[("limit", l.name.as_str())])?.encode_gauge(&value(l))?;
        }
    }
    Ok(())
}

const LIMIT_RUNNING: &str = "Jobs of each [[limit]] running now.";
const LIMIT_RATE: &str = "Claims of each [[limit]] in its current rate window.";
const LIMIT_HELD: &str = "1 while a handler's retry_after_s holds the [[limit]] (a 429), else 0.";
const LIMIT_BREAKER: &str = "1 while the [[limit]]'s own circuit breaker holds its jobs (open, or \
    half-open with its probe running), else 0.";

const JOBS: &str =
    "Jobs held in the database, by queue and status (pending, running, done, waiting, cancelled).";
const DEAD: &str = "Dead letters held, by queue.";
const ATTEMPTS: &str = "Attempts that ended (succeeded, failed or interrupted), counted over \
    the jobs and dead letters the database holds, by queue. Retention pruning, jobs purge, \
    dlq purge and dlq replay lower it.";
const FAILURES: &str = "Attempts that failed or were interrupted, counted over the jobs and \
    dead letters the database holds, by queue. Retention pruning, jobs purge, dlq purge and \
    dlq replay lower it.";
const DURATIONS: &str = "Done jobs held, by seconds from their last attempt's due time to its \
    finish (the wait for a free worker included: no attempt start time is recorded), by queue. \
    Retention pruning and jobs purge lower it.";
const OLDEST: &str = "Seconds since the oldest pending job fell due; 0 when none is due.";
const ALERTS: &str = "Alerts owed: in the outbox and not delivered (pending or given up).";
const SPEND: &str = "Cost recorded today (UTC), US dollars.";
const CAP: &str = "The daily cap in force, US dollars; absent when there is no cap.";
const PAUSED: &str = "1 while the kill switch is on (nightshift pause), else 0.";
const BREAKER: &str = "1 while the circuit breaker holds claims (open, or half-open with its \
    probe running), else 0.";
const BREAKER_FAILURES: &str = "Consecutive failed attempts the circuit breaker has counted.";
const RUNNERS: &str = "Runners working the database: on SQLite 1 while a runner holds its lock \
    file; on PostgreSQL the runners whose heartbeat is within the last lease.";
const HEARTBEAT: &str = "Unix time of the newest runner heartbeat recorded (PostgreSQL only).";

/// One gauge with no labels.
fn gauge<V>(out: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: V) -> Encoded
where
    V: prometheus_client::encoding::EncodeGaugeValue,
{
    out.encode_descriptor(name, help, None, MetricType::Gauge)?.encode_gauge(&value)
}

/// A family with a sample per queue, or per queue and status where `values` names statuses
/// (an empty status adds no `status` label).
fn per_queue(
    out: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    queues: &[QueueTally],
    values: &dyn Fn(&QueueTally) -> Vec<(&'static str, u64)>,
) -> Encoded {
    let mut family = out.encode_descriptor(name, help, None, kind)?;
    for q in queues {
        for (status, n) in values(q) {
            let mut labels = vec![("queue", q.queue.as_str())];
            if !status.is_empty() {
                labels.push(("status", status));
            }
            let mut sample = family.encode_family(&labels)?;
            match kind {
                MetricType::Counter => sample.encode_counter::<NoLabelSet, _, u64>(&n, None)?,
                _ => sample.encode_gauge(&n)?,
            }
        }
    }
    Ok(())
}

/// The job duration histogram, a series per queue.
fn durations(out: &mut DescriptorEncoder<'_>, queues: &[QueueTally]) -> Encoded {
    let mut family =
        out.encode_descriptor("job_duration_seconds", DURATIONS, None, MetricType::Histogram)?;
    let bounds = DURATION_BUCKETS_MS.iter().map(|ms| *ms as f64 / 1000.0).chain([f64::INFINITY]);
    for q in queues {
        // Per-bucket counts, which the encoder adds up into Prometheus' cumulative buckets.
        let buckets: Vec<(f64, u64)> = bounds.clone().zip(q.durations.iter().copied()).collect();
        let count = q.durations.iter().sum();
        let sum = q.duration_sum_ms as f64 / 1000.0;
        let no_exemplars = None::<&HashMap<usize, Exemplar<NoLabelSet, f64>>>;
        family.encode_family(&[("queue", q.queue.as_str())])?.encode_histogram(
            sum,
            count,
            &buckets,
            no_exemplars,
        )?;
    }
    Ok(())
}
