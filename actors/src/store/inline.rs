//! A Store stand-in for actor tests on paused tokio time: it applies each operation at once,
//! a write in a transaction of its own, on the test's own runtime (the real Store answers from its own thread, which
//! paused time cannot wait for), so advancing the clock is the only thing that makes an actor
//! under test act. It counts the writes it applies.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use rusqlite::Connection;

use super::{StoreCtx, StoreHandle, StoreMsg, op, open};
use crate::config::{EngineConfig, Synchronous};

/// The stand-in actor.
pub(crate) struct InlineStore;

pub(crate) struct InlineState {
    conn: Connection,
    ctx: StoreCtx,
    writes: Arc<AtomicUsize>,
}

impl InlineStore {
    /// Starts one over the database at `db` (migrated on open); returns a handle to it and the
    /// count of writes it applied.
    pub(crate) async fn start(db: &Path) -> (StoreHandle, Arc<AtomicUsize>) {
        let writes = Arc::new(AtomicUsize::new(0));
        let (store, _) =
            Actor::spawn(None, InlineStore, (db.to_owned(), writes.clone())).await.unwrap();
        let handle = StoreHandle::empty();
        handle.replace(store);
        (handle, writes)
    }
}

#[cfg_attr(feature = "async-trait", ractor::async_trait)]
impl Actor for InlineStore {
    type Msg = StoreMsg;
    type State = InlineState;
    type Arguments = (PathBuf, Arc<AtomicUsize>);

    async fn pre_start(
        &self,
        _: ActorRef<StoreMsg>,
        (db, writes): (PathBuf, Arc<AtomicUsize>),
    ) -> Result<InlineState, ActorProcessingErr> {
        let conn = open::open(&db, Synchronous::Normal, false)?;
        Ok(InlineState { conn, ctx: StoreCtx::from_config(&EngineConfig::new(&db)), writes })
    }

    async fn handle(
        &self,
        _: ActorRef<StoreMsg>,
        msg: StoreMsg,
        st: &mut InlineState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            StoreMsg::Op(op) if op.access() == op::Access::Read => {
                op::read(super::db::Db::Lite(&st.conn), &st.ctx, op)
            }
            StoreMsg::Op(op) => {
                st.writes.fetch_add(1, Ordering::SeqCst);
                op::commit(super::db::Db::Lite(&st.conn), &st.ctx, &mut vec![op]);
            }
            StoreMsg::Flush | StoreMsg::Watch | StoreMsg::Flushed | StoreMsg::Lost => {}
        }
        Ok(())
    }
}
