//! Limits on both stores: the limit a job counts against when it names none.

use crate::job::NewJob;
use crate::limit::LimitConfig;
use crate::store::both::on_both;
use crate::store::lease::tests::at;
use crate::store::op::{self, EnqueueAllArgs, EnqueueArgs, JobArgs};

#[test]
fn a_job_of_a_queue_a_limit_lists_counts_against_it_unless_it_names_a_limit() {
    let setup = |c: &mut crate::config::EngineConfig| {
        let digest = LimitConfig { queues: vec!["digest".into()], ..LimitConfig::new("openai") };
        c.limits = vec![digest, LimitConfig::new("anthropic")];
    };
    on_both("limits::a_queues_limit", setup, |db, ctx| {
        let on =
            |key: &str, queue: &str| NewJob { queue: queue.to_owned(), ..NewJob::new(key, "{}") };
        let named = NewJob { limit: Some("anthropic".into()), ..on("named", "digest") };
        op::run(db, ctx, EnqueueArgs { job: on("one", "digest"), now: at(1) }).unwrap();
        let jobs = vec![on("batch", "digest"), on("mail", "mail"), named];
        op::run(db, ctx, EnqueueAllArgs { jobs, now: at(1) }).unwrap();
        let limit = |key: &str| {
            let job = op::run(db, ctx, JobArgs { key: key.to_owned() }).unwrap();
            job.unwrap().limit
        };
        assert_eq!(limit("one").as_deref(), Some("openai"));
        assert_eq!(limit("batch").as_deref(), Some("openai"), "a batch too");
        assert_eq!(limit("mail"), None, "a queue no limit lists");
        assert_eq!(limit("named").as_deref(), Some("anthropic"), "a job's own limit wins");
    });
}
