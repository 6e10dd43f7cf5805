//! `nightshift jobs`: the queue as a table, the newest first, or one job in full.

mod purge;

use nightshift_actors::{JobRecord, JobStatus, JobWait, OnTimeout, StepRecord};
use serde::Serialize;

use crate::Failure;
use crate::cli::{JobsArgs, JobsCommand};
use crate::config::Settings;
use crate::output::{self, outln};

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
        let steps = admin.steps(key)?;
        if *json {
            return output::print_json(&shown_json(&job, &steps));
        }
        outln!("key           {}", job.key)?;
        outln!("queue         {}", job.queue)?;
        outln!("status        {}", job.status)?;
        outln!(
            "attempts      {} made of {} allowed ({} failed)",
            job.attempts_made(),
            job.max_attempts,
            job.attempts
        )?;
        outln!("snoozes       {}", job.snoozes)?;
        outln!("priority      {}", job.priority)?;
        outln!("run at        {}", output::time(job.run_at))?;
        outln!("last error    {}", job.last_error.as_deref().unwrap_or("-"))?;
        outln!("result        {}", job.result.as_deref().unwrap_or("-"))?;
        outln!("payload       {}", job.payload)?;
        if let Some(limit) = &job.limit {
            outln!("limit         {limit}")?;
        }
        if let Some(wait) = &job.wait {
            outln!("waits for     {}", wait.name)?;
            outln!("deadline      {}", deadline(wait))?;
            outln!("continue with {}", wait.command(&job.key))?;
        }
        if !steps.is_empty() {
            outln!("steps         {} recorded, the oldest first", steps.len())?;
            for step in &steps {
                let cost = step.cost_micros as f64 / 1e6;
                let output = output::one_line(&step.output, 60);
                outln!("  {:<24} ${cost:<10.6} {output}", step.name)?;
            }
        }
        return Ok(());
    }
    let status = args.status.as_deref().map(|s| match s {
        "pending" => JobStatus::Pending,
        "running" => JobStatus::Running,
        "waiting" => JobStatus::Waiting,
        "cancelled" => JobStatus::Cancelled,
        _ => JobStatus::Done,
    });
    let jobs = admin.jobs(status, args.queue.as_deref(), args.limit)?;
    // A full page may have cut the list: say so on stderr, so stdout stays the table (or, with
    // --json, one JSON array a script can parse as before).
    if jobs.len() as u64 == u64::from(args.limit) {
        let total = admin.count_jobs(status, args.queue.as_deref())?;
        if total > jobs.len() as u64 {
            eprintln!(
                "nightshift: showing {} of {total} jobs, the newest first; --limit {total} shows \
                 them all",
                jobs.len()
            );
        }
    }
    if args.json {
        return output::print_json(&jobs.iter().map(job_json).collect::<Vec<_>>());
    }
    // ATTEMPTS counts attempts made, the running one included (NIGHTSHIFT_ATTEMPT's numbering),
    // out of those allowed.
    outln!("{:<32} {:<8} {:>8} {:<24} LAST ERROR", "KEY", "STATUS", "ATTEMPTS", "RUN AT")?;
    for j in &jobs {
        outln!(
            "{:<32} {:<8} {:>8} {:<24} {}",
            j.key,
            j.status,
            format!("{}/{}", j.attempts_made(), j.max_attempts),
            output::time(j.run_at),
            output::one_line(j.last_error.as_deref().unwrap_or(""), 60)
        )?;
    }
    Ok(())
}

/// A wait's deadline and what it does then, in words (`jobs show` and the job's page).
pub fn deadline(wait: &JobWait) -> String {
    let then = match wait.on_timeout {
        OnTimeout::Retry => "then retry (a failed attempt)",
        OnTimeout::Dead => "then dead (dead-lettered at once)",
    };
    format!("{}, {then}", output::time(wait.until))
}

/// One job as `jobs show --json` (and `GET /api/jobs/KEY`) show it: [`job_json`] and its
/// recorded steps.
pub fn shown_json(job: &JobRecord, steps: &[StepRecord]) -> JobJson {
    JobJson { steps: Some(steps.to_vec()), ..job_json(job) }
}

/// A job as JSON: the row's fields, `attempts` as the column counts them (failed or
/// interrupted), plus `attempts_made`, what the text shows.
pub fn job_json(job: &JobRecord) -> JobJson {
    JobJson { job: job.clone(), attempts_made: job.attempts_made(), steps: None }
}

/// A job as `jobs --json` and `jobs show --json` print it (and `/api/jobs` answers): its row,
/// and the attempts started so far.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobJson {
    #[serde(flatten)]
    pub job: JobRecord,
    /// Attempts started, the one running included (`attempts` counts the failed ones).
    pub attempts_made: u32,
    /// One job (`jobs show`, `/api/jobs/{key}`) only: its recorded steps, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepRecord>>,
}
