//! `nightshift jobs`: the queue as a table, or one job in full.

mod purge;

use nightshift_actors::JobStatus;

use crate::Failure;
use crate::cli::{JobsArgs, JobsCommand};
use crate::config::Settings;
use crate::output;

pub fn run(settings: &Settings, args: &JobsArgs) -> Result<(), Failure> {
    if let Some(JobsCommand::Purge(purge)) = &args.show {
        return purge::run(settings, purge);
    }
    let admin = super::admin(settings)?;
    if let Some(JobsCommand::Show { key, json }) = &args.show {
        let job = admin.job(key)?.ok_or_else(|| {
            Failure::Failed(format!(
                "no job {key:?} in jobs (see `nightshift dlq show` for dead letters)"
            ))
        })?;
        if *json {
            output::json(&job);
        } else {
            println!("key           {}", job.key);
            println!("queue         {}", job.queue);
            println!("status        {}", job.status);
            println!("attempts      {} of {}", job.attempts, job.max_attempts);
            println!("priority      {}", job.priority);
            println!("run at        {}", output::time(job.run_at));
            println!("last error    {}", job.last_error.as_deref().unwrap_or("-"));
            println!("result        {}", job.result.as_deref().unwrap_or("-"));
            println!("payload       {}", job.payload);
        }
        return Ok(());
    }
    let status = args.status.as_deref().map(|s| match s {
        "pending" => JobStatus::Pending,
        "running" => JobStatus::Running,
        _ => JobStatus::Done,
    });
    let jobs = admin.jobs(status, args.queue.as_deref(), args.limit)?;
    if args.json {
        output::json(&jobs);
        return Ok(());
    }
    println!("{:<32} {:<8} {:>8} {:<24} LAST ERROR", "KEY", "STATUS", "ATTEMPTS", "RUN AT");
    for j in &jobs {
        println!(
            "{:<32} {:<8} {:>8} {:<24} {}",
            j.key,
            j.status,
            format!("{}/{}", j.attempts, j.max_attempts),
            output::time(j.run_at),
            output::one_line(j.last_error.as_deref().unwrap_or(""), 60)
        );
    }
    Ok(())
}
