//! The per-attempt cost bound in-process: an embedded handler reporting an absurd cost is
//! charged the documented maximum, so the ledger never overflows and the cap still holds.

use std::time::Duration;

use nightshift_actors::policy::budget::MAX_ATTEMPT_COST_USD;
use nightshift_actors::{Engine, NewJob, Outcome};

use crate::util::{config, events, handler, within};

crate::both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_embedded_handler_reporting_1e308_is_charged_the_maximum(db: TempDb) {
        events::capture();
        let mut cfg = config(&db.path);
        cfg.workers = 1;
        cfg.daily_cap_micros = Some(1_500_000_000); // $1500: the second attempt reaches it
        let h = handler(|_| async { Outcome::Success { result: None, cost_usd: 1e308 } });
        let engine = Engine::start(cfg, h).await.unwrap();
        for key in ["huge-1", "huge-2", "huge-3"] {
            engine.enqueue(NewJob::new(key, "{}")).await.unwrap();
        }
        let status = within(Duration::from_secs(20), "drain", engine.drain(Duration::from_secs(2)))
            .await
            .unwrap();
        engine.shutdown(Duration::from_secs(5)).await.unwrap();
        assert_eq!(status.spend_today_micros, 2_000_000_000, "two attempts at the $1000 maximum");
        assert_eq!((status.done, status.pending), (2, 1), "the cap holds the third");
        for key in ["huge-1", "huge-2"] {
            let bad: Vec<_> =
                events::for_key(key).into_iter().filter(|e| e.name() == "bad_cost").collect();
            assert_eq!(bad.len(), 1, "{key}: {bad:?}");
            assert_eq!(bad[0].fields["charged_usd"], MAX_ATTEMPT_COST_USD, "{key}");
        }
    }
}
