//! `[[schedule]]`: cron entries that enqueue a job per tick, keyed `name@<tick, RFC 3339>`, so
//! a tick enqueues at most once whoever fires it (a continuous runner, a cron `run --once`, a
//! restart).
//!
//! Catch-up policy: when a runner starts (either mode) each schedule enqueues only its latest
//! tick at or before now; ticks missed during downtime before that one are skipped, never
//! replayed in a burst. A continuous runner then enqueues each tick as it comes.
//!
//! Ticks are enqueued through the runner's engine, like every write of a runner: the Store's
//! mailbox stays its one writer, and a tick due now is offered to a free worker in the commit
//! that inserts it.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use nightshift_actors::{Clock, Enqueued, Enqueuer, NewJob, Timestamp};

use crate::config::ConfigError;
use crate::config::payload::{PayloadFormat, Taken};

/// One `[[schedule]]` entry.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    /// The cron expression as written (trimmed).
    pub cron: String,
    parsed: Cron,
    pub payload: String,
    pub queue: String,
}

impl Schedule {
    pub fn new(
        name: &str,
        cron: &str,
        payload: String,
        queue: String,
    ) -> Result<Self, ConfigError> {
        let ok_name = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok_name {
            return Err(ConfigError(format!(
                "[[schedule]] name {name:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
            )));
        }
        let parsed = Cron::from_str(cron.trim()).map_err(|e| {
            ConfigError(format!(
                "[[schedule]] {name}: cron {cron:?} is not a cron expression ({e}); write five \
                 fields, minute hour day month weekday, like \"*/15 * * * *\""
            ))
        })?;
        Ok(Self { name: name.to_owned(), cron: cron.trim().to_owned(), parsed, payload, queue })
    }

    /// Refuses an entry whose jobs enqueue would refuse, by the engine's own rules (the tick
    /// key, the queue name, the payload against `[store] max_payload`), or whose payload is not
    /// JSON where `[store] payload = "json"` requires it. A text payload that starts like JSON
    /// but does not parse is kept, and the warning about it returned.
    pub fn check(
        &self,
        max_payload: usize,
        format: PayloadFormat,
    ) -> Result<Option<String>, ConfigError> {
        let name = &self.name;
        self.job(Timestamp::EPOCH).validate(max_payload).map_err(|e| {
            ConfigError(format!("[[schedule]] {name}: {e}; enqueue would refuse its jobs"))
        })?;
        let advice = "write it as a TOML literal string, like payload = '{\"kind\":\"digest\"}'";
        match format.check(&self.payload) {
            Ok(Taken::Quietly) => Ok(None),
            Ok(Taken::WithWarning(why)) => Ok(Some(format!(
                "[[schedule]] {name}: the payload starts like JSON but is not JSON ({why}); it is \
                 enqueued as text. To send JSON, {advice}; [store] payload = \"json\" refuses such \
                 payloads"
            ))),
            Err(why) => Err(ConfigError(format!(
                "[[schedule]] {name}: the payload is not JSON ({why}), and [store] payload = \
                 \"json\" requires JSON; {advice}"
            ))),
        }
    }

    /// The latest tick at or before `now`.
    pub fn latest(&self, now: Timestamp) -> Option<Timestamp> {
        let t = DateTime::<Utc>::from_timestamp_millis(now.as_millis())?;
        self.parsed
            .find_previous_occurrence(&t, true)
            .ok()
            .map(|d| Timestamp::from_millis(d.timestamp_millis()))
    }

    /// The first tick after `now`.
    pub fn next(&self, now: Timestamp) -> Option<Timestamp> {
        let t = DateTime::<Utc>::from_timestamp_millis(now.as_millis())?;
        self.parsed
            .find_next_occurrence(&t, false)
            .ok()
            .map(|d| Timestamp::from_millis(d.timestamp_millis()))
    }

    /// The job a tick enqueues.
    pub fn job(&self, tick: Timestamp) -> NewJob {
        let at = DateTime::<Utc>::from_timestamp_millis(tick.as_millis()).unwrap_or_default();
        let key = format!("{}@{}", self.name, at.format("%Y-%m-%dT%H:%M:%SZ"));
        NewJob { queue: self.queue.clone(), ..NewJob::new(key, self.payload.clone()) }
    }
}

/// Where ticks go: the engine of the runner (its one writer), or, in tests, anything that
/// enqueues idempotently on the key.
pub trait Ticks {
    /// Enqueues one tick's job.
    fn enqueue(&self, job: NewJob) -> impl Future<Output = Result<Enqueued, String>> + Send;
}

impl Ticks for Enqueuer {
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued, String> {
        Enqueuer::enqueue(self, job).await.map_err(|e| e.to_string())
    }
}

/// Enqueues the latest tick at or before now of every schedule (the catch-up policy).
pub async fn catch_up(
    sink: &impl Ticks,
    clock: &dyn Clock,
    schedules: &[Schedule],
) -> Result<(), String> {
    let now = clock.now();
    for s in schedules {
        if let Some(tick) = s.latest(now) {
            fire(sink, s, tick).await?;
        }
    }
    Ok(())
}

async fn fire(sink: &impl Ticks, s: &Schedule, tick: Timestamp) -> Result<(), String> {
    let job = s.job(tick);
    let (key, queue) = (job.key.clone(), job.queue.clone());
    if sink.enqueue(job).await? == Enqueued::Enqueued {
        tracing::info!(target: "nightshift", event = "tick_enqueued", key = %key, queue = %queue);
    }
    Ok(())
}

/// Enqueues each tick as it comes, for as long as it is polled (a continuous runner drops it
/// at shutdown). Sleeps until the next tick, at most a second at a time, so a clock that jumps
/// is noticed within a second. The ticks already caught up at start are not fired again.
pub async fn run(sink: &impl Ticks, clock: &dyn Clock, schedules: &[Schedule]) {
    let mut last: Vec<Option<Timestamp>> =
        schedules.iter().map(|s| s.latest(clock.now())).collect();
    loop {
        let now = clock.now();
        let mut wait = Duration::from_secs(1);
        for (s, last) in schedules.iter().zip(last.iter_mut()) {
            let Some(tick) = s.latest(now) else { continue };
            if Some(tick) != *last {
                if let Err(e) = fire(sink, s, tick).await {
                    tracing::warn!(target: "nightshift", event = "tick_failed", key = %s.job(tick).key, error = %e);
                    continue;
                }
                *last = Some(tick);
            }
            if let Some(next) = s.next(now) {
                wait = wait.min((next - now).max(Duration::from_millis(1)));
            }
        }
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use nightshift_actors::{Admin, EngineConfig, ManualClock};

    use super::*;

    /// Ticks into a database through `Admin`, idempotent on the key as the engine is.
    struct Direct(Mutex<Admin>);

    impl Ticks for Direct {
        async fn enqueue(&self, job: NewJob) -> Result<Enqueued, String> {
            self.0.lock().unwrap().enqueue(&job).map_err(|e| e.to_string())
        }
    }

    fn direct(cfg: &EngineConfig) -> Direct {
        Direct(Mutex::new(Admin::open(cfg).unwrap()))
    }

    /// 2026-11-23T22:28:37Z
    const NOW: Timestamp = Timestamp::from_millis(1_795_472_917_000);

    fn every_15() -> Schedule {
        Schedule::new("digest", "*/15 * * * *", "{}".into(), "default".into()).unwrap()
    }

    fn db(clock: &ManualClock) -> (tempfile::TempDir, EngineConfig) {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EngineConfig::new(dir.path().join("s.db"));
        cfg.clock = Arc::new(clock.clone());
        Admin::create(&cfg).unwrap();
        (dir, cfg)
    }

    fn keys(cfg: &EngineConfig) -> Vec<String> {
        let admin = Admin::open(cfg).unwrap();
        admin.jobs(None, None, 1000).unwrap().into_iter().map(|j| j.key).collect()
    }

    #[test]
    fn ticks_are_found_either_side_of_now() {
        let s = every_15();
        assert_eq!(s.job(s.latest(NOW).unwrap()).key, "digest@2026-11-23T22:15:00Z");
        assert_eq!(s.job(s.next(NOW).unwrap()).key, "digest@2026-11-23T22:30:00Z");
        let on_tick = s.latest(NOW).unwrap();
        assert_eq!(s.latest(on_tick), Some(on_tick), "a tick is its own latest");
    }

    #[test]
    fn bad_entries_name_the_fix() {
        let e = Schedule::new("digest", "every quarter hour", "{}".into(), "q".into()).unwrap_err();
        assert!(e.0.contains("five fields"), "{e}");
        assert!(Schedule::new("bad name", "* * * * *", "{}".into(), "q".into()).is_err());
    }

    #[test]
    fn entries_enqueue_would_refuse_are_refused_naming_the_schedule() {
        let empty_queue = Schedule::new("digest", "* * * * *", "{}".into(), String::new()).unwrap();
        let e = empty_queue.check(1024, PayloadFormat::Text).unwrap_err();
        assert!(e.0.contains("[[schedule]] digest") && e.0.contains("queue"), "{e}");
        let big = Schedule::new("big", "* * * * *", "x".repeat(20), "q".into()).unwrap();
        let e = big.check(10, PayloadFormat::Text).unwrap_err();
        assert!(e.0.contains("[[schedule]] big") && e.0.contains("10-byte limit"), "{e}");
        let mangled = Schedule::new("m", "* * * * *", "{kind:digest}".into(), "q".into()).unwrap();
        let e = mangled.check(1024, PayloadFormat::Json).unwrap_err();
        assert!(e.0.contains("[[schedule]] m") && e.0.contains("line 1 column 2"), "{e}");
        let warning = mangled.check(1024, PayloadFormat::Text).unwrap().unwrap();
        assert!(warning.contains("not JSON"), "{warning}");
        assert_eq!(every_15().check(1024, PayloadFormat::Json).unwrap(), None);
    }

    #[tokio::test]
    async fn after_downtime_only_the_latest_missed_tick_is_enqueued_and_a_restart_adds_nothing() {
        let clock = ManualClock::new();
        let (_dir, cfg) = db(&clock);
        let s = every_15();
        // Down for two hours: eight ticks passed; only the latest is enqueued.
        clock.set(NOW);
        catch_up(&direct(&cfg), &clock, std::slice::from_ref(&s)).await.unwrap();
        assert_eq!(keys(&cfg), vec!["digest@2026-11-23T22:15:00Z"]);
        catch_up(&direct(&cfg), &clock, std::slice::from_ref(&s)).await.unwrap();
        assert_eq!(keys(&cfg).len(), 1, "a restart does not re-enqueue the tick");
    }

    #[tokio::test]
    async fn a_tick_enqueues_once_across_a_continuous_runner_and_a_cron_run() {
        let clock = ManualClock::new();
        let (_dir, cfg) = db(&clock);
        clock.set(NOW);
        let runner = direct(&cfg);
        let schedules = [every_15()];
        let ticker = run(&runner, &clock, &schedules);
        let check = async {
            // The clock reaches the 22:30 tick; the continuous scheduler and a cron catch-up
            // both fire it.
            clock.advance(Duration::from_secs(2 * 60));
            catch_up(&direct(&cfg), &clock, &schedules).await.unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while keys(&cfg).iter().filter(|k| k.ends_with("22:30:00Z")).count() == 0 {
                assert!(std::time::Instant::now() < deadline, "the 22:30 tick was never enqueued");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            biased;
            () = ticker => unreachable!("the ticker runs until dropped"),
            () = check => {}
        }
        let ticks: Vec<String> =
            keys(&cfg).into_iter().filter(|k| k.ends_with("22:30:00Z")).collect();
        assert_eq!(ticks.len(), 1);
        assert!(
            !keys(&cfg).contains(&"digest@2026-11-23T22:15:00Z".to_owned()),
            "the runner started after 22:15 was caught up by nobody here"
        );
    }
}
