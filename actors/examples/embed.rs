//! Embedding nightshift in a program that already runs a ractor actor system.
//!
//! A host actor starts the engine linked under itself, so it hears a supervision event if the
//! engine ever gives up (its restart budget ran out). It enqueues a few jobs, drains them the
//! way `run --once` does, prints what happened, and shuts the engine down in order.
//!
//! ```text
//! cargo run -p nightshift-actors --example embed
//! ```

use std::time::Duration;

use nightshift_actors::{Engine, EngineConfig, EngineHandle, Handler, Job, NewJob, Outcome};
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

/// The host's job handler: a pretend digest that fails once for one payload.
struct Digest;

#[async_trait::async_trait]
impl Handler for Digest {
    async fn run(&self, job: Job) -> Outcome {
        if job.payload.contains("flaky") && job.attempt == 1 {
            return Outcome::retry("upstream timed out");
        }
        Outcome::Success { result: Some(format!("digest of {}", job.key)), cost_usd: 0.001 }
    }
}

/// The host program's own actor.
struct Host;

struct HostState {
    engine: Option<EngineHandle>,
    _dir: tempfile::TempDir,
}

enum HostMsg {
    Work,
}

#[cfg(feature = "cluster")]
impl ractor::Message for HostMsg {}

#[cfg_attr(feature = "async-trait", ractor::async_trait)]
impl Actor for Host {
    type Msg = HostMsg;
    type State = HostState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<HostMsg>,
        _: (),
    ) -> Result<HostState, ActorProcessingErr> {
        let dir = tempfile::tempdir()?;
        let mut config = EngineConfig::new(dir.path().join("embedded.db"));
        config.workers = 2;
        config.retry.base = Duration::from_millis(100);
        let engine = Engine::start_linked(config, Digest, myself.get_cell()).await?;
        myself.cast(HostMsg::Work)?;
        Ok(HostState { engine: Some(engine), _dir: dir })
    }

    async fn handle(
        &self,
        myself: ActorRef<HostMsg>,
        msg: HostMsg,
        st: &mut HostState,
    ) -> Result<(), ActorProcessingErr> {
        let HostMsg::Work = msg;
        let engine = st.engine.take().ok_or("the engine is gone")?;
        for (key, payload) in
            [("digest-mon", "{}"), ("digest-tue", r#"{"flaky":true}"#), ("digest-wed", "{}")]
        {
            let outcome = engine.enqueue(NewJob::new(key, payload)).await?;
            println!("enqueue {key}: {outcome:?}");
        }
        let status = engine.drain(Duration::from_secs(5)).await?;
        println!("done {} pending {} dead {}", status.done, status.pending, status.dead);
        println!("spent today: ${:.6}", status.spend_today_micros as f64 / 1e6);
        let tuesday = engine.job("digest-tue").await?.ok_or("digest-tue is missing")?;
        println!("digest-tue: {} after {} failed attempt(s)", tuesday.status, tuesday.attempts);
        assert_eq!(status.done, 3, "every job completed");
        engine.shutdown(Duration::from_secs(5)).await?;
        myself.stop(None);
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<HostMsg>,
        evt: SupervisionEvent,
        _: &mut HostState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(_, why) = evt {
            eprintln!("the engine failed: {why}");
            myself.stop(Some("engine failed".to_owned()));
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_host, join) = Actor::spawn(None, Host, ()).await?;
    join.await?;
    Ok(())
}
