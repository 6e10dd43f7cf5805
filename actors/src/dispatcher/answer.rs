//! What the Dispatcher does with a round's answer: hand out the jobs it claimed, log and
//! announce the outcomes it settled, answer the enqueuers it carried, or, when the round did
//! not commit, keep its outcomes for the next one.

use std::time::Duration;

use ractor::ActorRef;

use super::{Dispatcher, DispatcherMsg, DispatcherState, InRound, report};
use crate::error::StoreError;
use crate::events::{store_call_failed, warn_event};
use crate::job::Enqueued;
use crate::store::{Claim, RoundOut};

impl Dispatcher {
    /// Nothing of `round` committed. Outcomes are fenced by their lease token, so sending them
    /// again is safe; enqueuers are answered with the error and retry on their side.
    pub(super) fn round_failed(
        &self,
        myself: &ActorRef<DispatcherMsg>,
        st: &mut DispatcherState,
        round: InRound,
        e: &StoreError,
    ) {
        // A Store that is restarting is reported by the Supervisor once per try, not here on
        // every round until it is back.
        store_call_failed!(
            "round_failed",
            *e,
            reason = "the Store did not commit this round; its outcomes are sent again"
        );
        let mut ended = round.ended;
        ended.append(&mut st.ended);
        st.ended = ended;
        for reply in round.replies {
            let _ = reply.send(Err(e.clone()));
        }
        // The Round arrives after the pause; until then nothing else starts one.
        st.round_queued = true;
        ractor::time::send_after(Duration::from_millis(200), myself.get_cell(), || {
            DispatcherMsg::Round
        });
    }

    pub(super) fn round_done(
        &self,
        myself: &ActorRef<DispatcherMsg>,
        st: &mut DispatcherState,
        answer: Result<RoundOut, StoreError>,
    ) {
        let Some(round) = st.in_round.pop_front() else { return };
        let shared = &self.shared;
        st.ahead.round_took(round.started.elapsed());
        let out = match answer {
            Ok(out) => out,
            Err(e) => return self.round_failed(myself, st, round, &e),
        };
        let retried = report::settled(&self.notices, round.ended, out.settled);
        st.ended.extend(retried);
        for (reply, inserted) in round.replies.into_iter().zip(out.inserted) {
            if matches!(inserted, Ok(Enqueued::Enqueued)) {
                st.due = true;
            }
            let _ = reply.send(inserted);
        }
        match out.claimed {
            Some(Ok(Claim::Jobs { jobs, postponed_to })) => {
                // Jobs of a full limit wait for it to lift by itself: the Retry scheduler's
                // timer wakes for them then, not the next rescan.
                if let Some(at) = postponed_to {
                    self.notices.retry_due(at);
                }
                // The first claim let through after a gate: enqueuers that saw the gate closed
                // did not wake us, so claim once more before believing nothing is due.
                let reopened = std::mem::replace(&mut st.gated, false);
                if jobs.len() < round.wanted && st.wakes == round.wakes && !reopened {
                    st.due = false;
                }
                st.ready.extend(jobs);
            }
            Some(Ok(Claim::Gated { until })) => {
                // A gate closed (pause, cap, breaker): what was claimed ahead goes back unrun.
                // One that lifts by itself wakes the Retry scheduler's timer then, so the
                // breaker's probe runs when its cooldown ends, not at the next rescan.
                if let Some(at) = until {
                    self.notices.retry_due(at);
                }
                st.due = st.wakes != round.wakes;
                st.gated = true;
                st.give_back_ahead();
            }
            Some(Err(e)) => warn_event!("claim_failed", error = %e),
            None => {}
        }
        if st.stopping {
            st.give_back_ahead();
        }
        self.hand_out(st);
        shared.activity.notify_waiters();
    }
}
