//! `GET /jobs?status=&queue=&prefix=&key=&cursor=`: the jobs list, the newest first, [`SHOWN`]
//! rows a page with a "Next page" link, and how many match the filters.
//!
//! The filters are the ones `jobs --status --queue` offers and a key prefix (a range along
//! the key's index, so `%` and `_` are plain characters), read through `Admin::jobs_page` and
//! `Admin::count_matching`; pages follow the API's cursors ([`super::cursor`]). The key search
//! is an exact key, read through `Admin::job` and `Admin::dead_letter`. Dead letters are not
//! in `jobs`; a key that was dead-lettered is said so, with a link to its page.

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use nightshift_actors::{JobQuery, JobRecord, JobStatus};
use serde::Deserialize;

use super::page::{self, escape, job_href};
use super::session::Viewer;
use super::{Api, ApiError};
use crate::output;

/// The most rows the list shows.
const SHOWN: u32 = 100;

/// The filter form's fields; an empty field is no filter.
#[derive(Deserialize, Default)]
pub struct Filter {
    #[serde(default)]
    status: String,
    #[serde(default)]
    queue: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    cursor: String,
}

/// What the list found.
struct Found {
    jobs: Vec<JobRecord>,
    /// How many jobs the filters match (the rows shown are the newest of them).
    total: u64,
    /// The searched key, when it is in the dead letter instead.
    dead_key: Option<String>,
    /// Where the next page starts, when this one is full.
    next: Option<i64>,
}

pub async fn list(
    State(api): State<Api>,
    Extension(viewer): Extension<Viewer>,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Ok(Query(filter)) = filter else {
        let text = "The filters could not be read; use the form on this page.";
        return Ok(page::message(StatusCode::BAD_REQUEST, "Jobs", &viewer, text));
    };
    let status = match filter.status.as_str() {
        "" => None,
        word => match JobStatus::parse(word) {
            Some(status) => Some(status),
            None => {
                let text = format!("Status {word:?} is not one of {}.", JobStatus::known());
                return Ok(page::message(StatusCode::BAD_REQUEST, "Jobs", &viewer, &text));
            }
        },
    };
    let queue = Some(filter.queue.trim().to_owned()).filter(|q| !q.is_empty());
    let key = Some(filter.key.clone()).filter(|k| !k.is_empty());
    let after = match filter.cursor.as_str() {
        "" => None,
        given => match super::cursor::parse_jobs(given) {
            Ok(after) => Some(after),
            Err(e) => {
                return Ok(page::message(StatusCode::BAD_REQUEST, "Jobs", &viewer, &e.message));
            }
        },
    };
    let prefix = Some(filter.prefix.clone()).filter(|p| !p.is_empty());
    let query = JobQuery { status, queue: queue.clone(), prefix, after, limit: SHOWN };
    let found = api
        .database
        .read(move |admin| match key {
            Some(key) => {
                let jobs: Vec<JobRecord> = admin
                    .job(&key)?
                    .into_iter()
                    .filter(|j| status.is_none_or(|s| j.status == s))
                    .filter(|j| queue.as_ref().is_none_or(|q| j.queue == *q))
                    .collect();
                let dead_key = admin.dead_letter(&key)?.map(|d| d.key);
                Ok(Found { total: jobs.len() as u64, jobs, dead_key, next: None })
            }
            None => {
                let page = admin.jobs_page(&query)?;
                let total = admin.count_matching(&query)?;
                Ok(Found { jobs: page.jobs, total, dead_key: None, next: page.next })
            }
        })
        .await?;
    let body =
        [filter_form(&filter), summary(&found), table(&found.jobs), next_link(&filter, &found)]
            .concat();
    Ok(page::render(StatusCode::OK, "Jobs", Some(&viewer), &body))
}

/// The filters as a GET form, holding what was asked.
fn filter_form(filter: &Filter) -> String {
    let options = page::options(&JobStatus::ALL.map(JobStatus::as_str), &filter.status);
    format!(
        "<form method=\"get\" action=\"/jobs\" role=\"search\">\
         <label for=\"status\">Status</label><select id=\"status\" name=\"status\">{options}</select>\
         <label for=\"queue\">Queue</label>\
         <input type=\"text\" id=\"queue\" name=\"queue\" value=\"{}\">\
         <label for=\"prefix\">Key starts with</label>\
         <input type=\"text\" id=\"prefix\" name=\"prefix\" value=\"{}\">\
         <label for=\"key\">Key (exact)</label>\
         <input type=\"text\" id=\"key\" name=\"key\" value=\"{}\">\
         <div><button type=\"submit\">Filter</button> <a href=\"/jobs\">Clear</a></div></form>\n",
        escape(&filter.queue),
        escape(&filter.prefix),
        escape(&filter.key)
    )
}

/// The "Next page" link, when the page is full.
fn next_link(filter: &Filter, found: &Found) -> String {
    let Some(at) = found.next else { return String::new() };
    let params = [
        ("status", filter.status.as_str()),
        ("queue", filter.queue.as_str()),
        ("prefix", filter.prefix.as_str()),
    ];
    let href = super::cursor::href("/jobs", &params, &super::cursor::jobs(at));
    format!("<p><a href=\"{}\" rel=\"next\">Next page</a></p>\n", escape(&href))
}

/// How many rows are shown of how many match, and a dead-lettered key's link.
fn summary(found: &Found) -> String {
    let shown = found.jobs.len();
    let mut out = format!(
        "<p data-count=\"jobs\">Showing {shown} of {} matching jobs, the newest first{}.</p>\n",
        found.total,
        if found.next.is_some() { " (more on the next page)" } else { "" }
    );
    if let Some(key) = &found.dead_key {
        out.push_str(&format!(
            "<p><strong>Dead letter</strong>: <a href=\"{}\">{}</a> is in the dead letter.</p>\n",
            escape(&job_href(key)),
            escape(key)
        ));
    }
    out
}

/// One row per job: its key (a link to its page), queue, status in words, attempts, when it may
/// run, and its last error's first line.
fn table(jobs: &[JobRecord]) -> String {
    if jobs.is_empty() {
        return String::new();
    }
    let rows: String = jobs
        .iter()
        .map(|j| {
            format!(
                "<tr><th scope=\"row\"><a href=\"{}\">{}</a></th><td>{}</td><td>{}</td>\
                 <td class=\"n\">{}/{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&job_href(&j.key)),
                escape(&j.key),
                escape(&j.queue),
                j.status,
                j.attempts_made(),
                j.max_attempts,
                output::time(j.run_at),
                escape(&output::one_line(j.last_error.as_deref().unwrap_or(""), 80))
            )
        })
        .collect();
    format!(
        "<div class=\"scroll\"><table>\n<thead><tr><th scope=\"col\">Key</th>\
         <th scope=\"col\">Queue</th><th scope=\"col\">Status</th>\
         <th scope=\"col\" class=\"n\">Attempts</th><th scope=\"col\">Run at</th>\
         <th scope=\"col\">Last error</th></tr></thead>\n<tbody>\n{rows}</tbody></table></div>\n"
    )
}
